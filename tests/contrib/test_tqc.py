"""TQC: gradient steps against sb3-contrib from identical weights, batches and noise, zips both ways, bad input, a
learning check."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from contrib_helpers import assert_same_weights, copy_weights_to_torch, quiet_loggers

from mlx_baselines3.common.envs import IdentityEnv, IdentityEnvBox
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.type_aliases import ReplayBufferSamples
from mlx_baselines3.contrib import TQC
from mlx_baselines3.contrib.tqc import CnnPolicy, MlpPolicy, MultiInputPolicy

BATCH_SIZE = 16


def test_policy_aliases_and_shapes():
    assert TQC.policy_aliases == {"MlpPolicy": MlpPolicy, "CnnPolicy": CnnPolicy, "MultiInputPolicy": MultiInputPolicy}
    model = TQC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(n_quantiles=7, n_critics=3, net_arch=[8]))
    assert model.critic(mx.zeros((4, 3)), mx.zeros((4, 1))).shape == (4, 3, 7)
    assert model.critic.quantiles_total == 21 and model.top_quantiles_to_drop_per_net == 2
    assert [key for key in model.get_parameters()["policy"] if key.startswith("critic.")] == [
        f"critic.qf{i}.{layer}.{name}" for i in range(3) for layer in (0, 2) for name in ("weight", "bias")
    ]


def _batches(n_batches: int, n_step_discounts: bool) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(n_batches):
        batch = dict(
            observations=rng.normal(size=(BATCH_SIZE, 3)).astype(np.float32),
            actions=rng.uniform(-1, 1, size=(BATCH_SIZE, 1)).astype(np.float32),
            next_observations=rng.normal(size=(BATCH_SIZE, 3)).astype(np.float32),
            dones=(rng.uniform(size=(BATCH_SIZE, 1)) < 0.2).astype(np.float32),
            rewards=(3 * rng.normal(size=(BATCH_SIZE, 1))).astype(np.float32),
        )
        if n_step_discounts:
            batch["discounts"] = (0.99 ** rng.integers(1, 4, size=(BATCH_SIZE, 1))).astype(np.float32)
        batches.append(batch)
    return batches


@pytest.mark.parametrize("ent_coef, target_update_interval, n_step_discounts", [("auto", 1, False), (0.05, 2, True)])
def test_update_matches_sb3_contrib(monkeypatch, ent_coef, target_update_interval, n_step_discounts):
    th = pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from stable_baselines3.common.type_aliases import ReplayBufferSamples as TorchReplayBufferSamples

    gradient_steps = 3
    kwargs = dict(
        batch_size=BATCH_SIZE,
        ent_coef=ent_coef,
        target_update_interval=target_update_interval,
        learning_rate=1e-3,
        tau=0.05,
        top_quantiles_to_drop_per_net=1,
        policy_kwargs=dict(net_arch=[32, 32], n_quantiles=5, n_critics=2),
        seed=0,
    )
    ours = TQC("MlpPolicy", "Pendulum-v1", **kwargs)
    theirs = sb3_contrib.TQC("MlpPolicy", "Pendulum-v1", device="cpu", **kwargs)
    copy_weights_to_torch(ours, theirs)
    quiet_loggers(ours, theirs)

    batches = _batches(gradient_steps, n_step_discounts)
    mlx_batches = [ReplayBufferSamples(**{k: mx.array(v) for k, v in batch.items()}) for batch in batches]
    ours._replay_batches = lambda gradient_steps, batch_size: iter(mlx_batches[:gradient_steps])
    torch_batches = iter([TorchReplayBufferSamples(**{k: th.tensor(v) for k, v in batch.items()}) for batch in batches])
    theirs.replay_buffer.sample = lambda batch_size, env=None: next(torch_batches)

    # The same reparameterization noise: per step, for the observations, then the next observations (sb3-contrib's
    # order of sampling).
    noise = np.random.default_rng(1).normal(size=(gradient_steps, 2, BATCH_SIZE, 1)).astype(np.float32)
    torch_noise = iter(th.tensor(noise.reshape(-1, BATCH_SIZE, 1)))
    monkeypatch.setattr(
        th.distributions.Normal, "rsample", lambda self, sample_shape=(): self.loc + self.scale * next(torch_noise)
    )
    monkeypatch.setattr(mx.random, "normal", lambda shape, *args, **kwargs: mx.array(noise).reshape(shape))

    ours.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)
    theirs.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)

    assert_same_weights(ours, theirs)
    keys = ["train/critic_loss", "train/actor_loss", "train/ent_coef"]
    if ent_coef == "auto":
        np.testing.assert_allclose(np.array(ours.log_ent_coef), theirs.log_ent_coef.detach().numpy(), atol=1e-5)
        keys.append("train/ent_coef_loss")
    for key in keys:
        assert ours.logger.name_to_value[key] == pytest.approx(theirs.logger.name_to_value[key], rel=1e-5, abs=1e-6), key


def test_zips_both_ways(tmp_path):
    th = pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    obs = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32)
    kwargs = dict(learning_starts=32, batch_size=32, seed=0, policy_kwargs=dict(net_arch=[32], n_quantiles=5))

    theirs = sb3_contrib.TQC("MlpPolicy", "Pendulum-v1", **kwargs).learn(64)
    theirs.save(tmp_path / "theirs.zip")
    ours = TQC.load(tmp_path / "theirs.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], atol=1e-5)
    assert_same_weights(ours, theirs, atol=0)
    np.testing.assert_allclose(np.array(ours.log_ent_coef), theirs.log_ent_coef.detach().numpy(), atol=0)
    ours.learn(64, reset_num_timesteps=False)
    assert ours._n_updates == theirs._n_updates + 64

    ours.save(tmp_path / "ours.zip")
    reloaded = sb3_contrib.TQC.load(tmp_path / "ours.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(
        reloaded.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0], atol=1e-5
    )
    assert reloaded.critic.n_quantiles == 5 and isinstance(reloaded.log_ent_coef, th.Tensor)
    reloaded.learn(64, reset_num_timesteps=False)
    assert reloaded._n_updates == ours._n_updates + 64


def test_unsupported_action_space():
    with pytest.raises(ValueError, match="The algorithm only supports"):
        TQC("MlpPolicy", IdentityEnv(3))


def test_learns_identity():
    env = IdentityEnvBox(eps=0.5)
    model = TQC("MlpPolicy", env, learning_rate=1e-3, gamma=0.95, seed=0, policy_kwargs=dict(net_arch=[64, 64]))
    model.learn(400)
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=5, warn=False)
    assert mean_reward >= 90
