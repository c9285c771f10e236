"""
Gradient steps of SAC, TD3 and DDPG against Stable-Baselines3: from identical weights, minibatches and noise, the new
weights (actor, critics, targets, entropy coefficient) and the logged losses agree within 1e-5.
"""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from mlx_baselines3 import DDPG, SAC, TD3
from mlx_baselines3.common.logger import configure as mlx_configure
from mlx_baselines3.common.save_util import module_state_dict
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor
from mlx_baselines3.common.type_aliases import ReplayBufferSamples

th = pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.logger import configure as sb3_configure  # noqa: E402
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor as TorchBaseFeaturesExtractor  # noqa: E402
from stable_baselines3.common.type_aliases import ReplayBufferSamples as TorchReplayBufferSamples  # noqa: E402

BATCH_SIZE = 32
NET_ARCH = [32, 32]
ATOL = 1e-5


class LinearExtractor(BaseFeaturesExtractor):
    """A features extractor with parameters, so that sharing it between the actor and the critic matters."""

    def __init__(self, observation_space, features_dim: int = 8):
        super().__init__(observation_space, features_dim)
        self.linear = nn.Linear(observation_space.shape[0], features_dim)

    def __call__(self, observations):
        return nn.relu(self.linear(observations))


class TorchLinearExtractor(TorchBaseFeaturesExtractor):
    """The same extractor in torch, with the same parameter names."""

    def __init__(self, observation_space, features_dim: int = 8):
        super().__init__(observation_space, features_dim)
        self.linear = th.nn.Linear(observation_space.shape[0], features_dim)

    def forward(self, observations):
        return th.relu(self.linear(observations))


def make_pair(mlx_class, sb3_class, share_features_extractor: bool, **kwargs):
    """The same algorithm in both libraries (a shared extractor needs one with parameters, written for each)."""
    mlx_policy_kwargs, sb3_policy_kwargs = dict(net_arch=NET_ARCH), dict(net_arch=NET_ARCH)
    if share_features_extractor:
        mlx_policy_kwargs |= dict(features_extractor_class=LinearExtractor, share_features_extractor=True)
        sb3_policy_kwargs |= dict(features_extractor_class=TorchLinearExtractor, share_features_extractor=True)
    model = mlx_class("MlpPolicy", "Pendulum-v1", policy_kwargs=mlx_policy_kwargs, **kwargs)
    sb3_model = sb3_class("MlpPolicy", "Pendulum-v1", policy_kwargs=sb3_policy_kwargs, **kwargs)
    return model, sb3_model


def copy_weights_to_sb3(model, sb3_model) -> None:
    # Our parameters under SB3's names (nn.Sequential's ``layers``, the critics stacked in one ensemble): the mapping
    # save/load uses.
    state_dict = {name: th.tensor(np.array(value)) for name, value in module_state_dict(model.policy).items()}
    missing, unexpected = sb3_model.policy.load_state_dict(state_dict, strict=True)
    assert not missing and not unexpected


def assert_same_weights(model, sb3_model) -> None:
    sb3_state = sb3_model.policy.state_dict()
    ours = module_state_dict(model.policy)
    assert ours.keys() == sb3_state.keys()
    for name, value in ours.items():
        np.testing.assert_allclose(np.array(value), sb3_state[name].numpy(), atol=ATOL, rtol=0, err_msg=name)


def make_batches(n_batches: int, obs_dim: int, action_dim: int, n_step_discounts: bool = False) -> list[dict[str, np.ndarray]]:
    """Random minibatches; with ``n_step_discounts``, per-sample discounts gamma**n as an n-step buffer gives."""
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(n_batches):
        batch = dict(
            observations=rng.normal(size=(BATCH_SIZE, obs_dim)).astype(np.float32),
            actions=rng.uniform(-1, 1, size=(BATCH_SIZE, action_dim)).astype(np.float32),
            next_observations=rng.normal(size=(BATCH_SIZE, obs_dim)).astype(np.float32),
            dones=(rng.uniform(size=(BATCH_SIZE, 1)) < 0.2).astype(np.float32),
            rewards=rng.normal(size=(BATCH_SIZE, 1)).astype(np.float32),
        )
        if n_step_discounts:
            batch["discounts"] = (0.99 ** rng.integers(1, 4, size=(BATCH_SIZE, 1))).astype(np.float32)
        batches.append(batch)
    return batches


def feed_batches(model, sb3_model, batches: list[dict[str, np.ndarray]]) -> None:
    """Replace the replay sampling of both models by the given minibatches, in order."""
    mlx_batches = [ReplayBufferSamples(**{k: mx.array(v) for k, v in batch.items()}) for batch in batches]
    model._replay_batches = lambda gradient_steps, batch_size: iter(mlx_batches[:gradient_steps])
    torch_batches = iter([TorchReplayBufferSamples(**{k: th.tensor(v) for k, v in batch.items()}) for batch in batches])
    sb3_model.replay_buffer.sample = lambda batch_size, env=None: next(torch_batches)


def set_quiet_loggers(model, sb3_model) -> None:
    model.set_logger(mlx_configure(None, [""]))
    sb3_model.set_logger(sb3_configure(None, [""]))


def assert_same_logs(model, sb3_model, keys: list[str]) -> None:
    for key in keys:
        np.testing.assert_allclose(
            model.logger.name_to_value[key], sb3_model.logger.name_to_value[key], rtol=1e-5, atol=1e-6, err_msg=key
        )


@pytest.mark.parametrize(
    "ent_coef, target_update_interval, gradient_steps, use_sde, share",
    [
        ("auto", 1, 2, False, False),
        ("auto_0.1", 2, 3, False, False),
        (0.05, 1, 1, False, False),
        ("auto", 1, 2, True, False),
        ("auto", 1, 2, False, True),
    ],
)
def test_sac_update(monkeypatch, ent_coef, target_update_interval, gradient_steps, use_sde, share):
    kwargs = dict(
        use_sde=use_sde,
        batch_size=BATCH_SIZE,
        ent_coef=ent_coef,
        target_update_interval=target_update_interval,
        learning_rate=1e-3,
        tau=0.05,
        seed=0,
    )
    model, sb3_model = make_pair(SAC, sb3.SAC, share, **kwargs)
    copy_weights_to_sb3(model, sb3_model)
    if model.log_ent_coef is not None:
        np.testing.assert_allclose(np.array(model.log_ent_coef), sb3_model.log_ent_coef.detach().numpy(), atol=1e-7)
    set_quiet_loggers(model, sb3_model)
    # The fixed-coefficient case also checks per-sample n-step discounts.
    batches = make_batches(gradient_steps, obs_dim=3, action_dim=1, n_step_discounts=not isinstance(ent_coef, str))
    feed_batches(model, sb3_model, batches)

    if use_sde:
        # The weights of the exploration matrix drawn by SB3's reset_noise() at each step (its second draw, of the
        # per-environment matrices, is not used by the update).
        noise = np.random.default_rng(1).normal(size=(gradient_steps, NET_ARCH[-1], 1)).astype(np.float32)
        torch_noise = iter(th.tensor(noise))

        def rsample(self, sample_shape=()):
            eps = next(torch_noise) if len(sample_shape) == 0 else th.zeros(*sample_shape, *self.loc.shape)
            return self.loc + self.scale * eps
    else:
        # The same standard normal noise for the reparameterized actions: per step, first for the observations,
        # then for the next observations (SB3's order of sampling).
        noise = np.random.default_rng(1).normal(size=(gradient_steps, 2, BATCH_SIZE, 1)).astype(np.float32)
        torch_noise = iter(th.tensor(noise.reshape(-1, BATCH_SIZE, 1)))

        def rsample(self, sample_shape=()):
            return self.loc + self.scale * next(torch_noise)

    monkeypatch.setattr(th.distributions.Normal, "rsample", rsample)
    monkeypatch.setattr(mx.random, "normal", lambda shape, *args, **kwargs: mx.array(noise).reshape(shape))

    model.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)
    sb3_model.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)

    assert_same_weights(model, sb3_model)
    keys = ["train/critic_loss", "train/actor_loss", "train/ent_coef"]
    if isinstance(ent_coef, str):
        np.testing.assert_allclose(np.array(model.log_ent_coef), sb3_model.log_ent_coef.detach().numpy(), atol=ATOL)
        keys.append("train/ent_coef_loss")
    assert_same_logs(model, sb3_model, keys)
    assert model.logger.name_to_value["train/n_updates"] == gradient_steps


@pytest.mark.parametrize("algo, share", [("TD3", False), ("DDPG", False), ("TD3", True)])
def test_td3_ddpg_update(monkeypatch, algo, share):
    gradient_steps = 4
    kwargs = dict(batch_size=BATCH_SIZE, learning_rate=1e-3, tau=0.05, seed=0)
    model, sb3_model = make_pair({"TD3": TD3, "DDPG": DDPG}[algo], getattr(sb3, algo), share, **kwargs)
    copy_weights_to_sb3(model, sb3_model)
    set_quiet_loggers(model, sb3_model)
    feed_batches(model, sb3_model, make_batches(gradient_steps, obs_dim=3, action_dim=1, n_step_discounts=algo == "DDPG"))

    # The same target smoothing noise; SB3 draws it with Tensor.normal_(0, target_policy_noise).
    noise = np.random.default_rng(1).normal(size=(gradient_steps, BATCH_SIZE, 1)).astype(np.float32)
    torch_noise = iter(th.tensor(noise))

    def normal_(tensor, mean=0.0, std=1.0, generator=None):
        return tensor.copy_(mean + std * next(torch_noise))

    monkeypatch.setattr(th.Tensor, "normal_", normal_)
    monkeypatch.setattr(mx.random, "normal", lambda shape, *args, **kwargs: mx.array(noise).reshape(shape))

    model.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)
    sb3_model.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)

    assert_same_weights(model, sb3_model)
    assert_same_logs(model, sb3_model, ["train/critic_loss", "train/actor_loss"])
    assert model._n_updates == sb3_model._n_updates == gradient_steps
