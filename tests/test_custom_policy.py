"""Custom networks through policy_kwargs: features extractors written with mlx.nn layers (MLX's __call__ or torch's
forward), custom mlp_extractors, activation and optimizer classes (MLX or torch by name), ortho_init, and a policy
class passed directly."""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from gymnasium import spaces
from mlx.utils import tree_flatten, tree_map

from mlx_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from mlx_baselines3.common.policies import ActorCriticPolicy
from mlx_baselines3.common.save_util import module_state_dict
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor, as_mlx_module_class, create_mlp


class LayerNormExtractor(BaseFeaturesExtractor):
    """A linear layer, LayerNorm and ReLU, written the MLX way (``__call__``)."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 16):
        super().__init__(observation_space, features_dim)
        self.net = nn.Sequential(nn.Linear(observation_space.shape[0], features_dim), nn.LayerNorm(features_dim), nn.ReLU())

    def __call__(self, observations: mx.array) -> mx.array:
        return self.net(observations)


class TorchStyleExtractor(BaseFeaturesExtractor):
    """The same idea written as for SB3 (``forward``), as ported code often is."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 8):
        super().__init__(observation_space, features_dim)
        self.linear = nn.Linear(observation_space.shape[0], features_dim)

    def forward(self, observations: mx.array) -> mx.array:
        return nn.relu(self.linear(observations))


class TwoHeads(nn.Module):
    """A custom mlp_extractor following SB3's contract: latent sizes, forward_actor and forward_critic."""

    def __init__(self, feature_dim: int, last_layer_dim_pi: int = 12, last_layer_dim_vf: int = 6):
        super().__init__()
        self.latent_dim_pi = last_layer_dim_pi
        self.latent_dim_vf = last_layer_dim_vf
        self.policy_net = nn.Sequential(nn.Linear(feature_dim, last_layer_dim_pi), nn.ReLU())
        self.value_net = nn.Sequential(nn.Linear(feature_dim, last_layer_dim_vf), nn.ReLU())

    def forward(self, features: mx.array) -> tuple[mx.array, mx.array]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: mx.array) -> mx.array:
        return self.policy_net(features)

    def forward_critic(self, features: mx.array) -> mx.array:
        return self.value_net(features)


class CustomActorCriticPolicy(ActorCriticPolicy):
    """SB3's documented way to replace the mlp_extractor: override _build_mlp_extractor."""

    def __init__(self, *args, **kwargs):
        kwargs["ortho_init"] = False
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = TwoHeads(self.features_dim)


def _weights(module) -> dict[str, np.ndarray]:
    return {name: np.array(value) for name, value in tree_flatten(module.parameters())}


@pytest.mark.parametrize("algo", [PPO, A2C])
@pytest.mark.parametrize("extractor", [LayerNormExtractor, TorchStyleExtractor])
def test_custom_features_extractor_is_trained(algo, extractor):
    kwargs = dict(n_steps=16, batch_size=16) if algo is PPO else dict(n_steps=8)
    policy_kwargs = dict(features_extractor_class=extractor, features_extractor_kwargs=dict(features_dim=10))
    model = algo("MlpPolicy", "CartPole-v1", seed=0, policy_kwargs=policy_kwargs, **kwargs)
    policy = model.policy
    assert isinstance(policy.features_extractor, extractor) and policy.features_dim == 10
    assert policy.mlp_extractor.policy_net.layers[0].weight.shape == (64, 10)
    before = _weights(policy.features_extractor)
    model.learn(32)
    after = _weights(policy.features_extractor)
    assert before.keys() == after.keys() and all(not np.allclose(before[k], after[k]) for k in before)
    assert model.predict(np.zeros(4, dtype=np.float32))[0] in (0, 1)


def test_extractor_without_call_or_forward_is_refused():
    class Empty(BaseFeaturesExtractor):
        pass

    extractor = Empty(spaces.Box(-1, 1, (3,)), features_dim=3)
    with pytest.raises(NotImplementedError, match=r"Empty must implement __call__\(observations\) or forward"):
        extractor(mx.zeros((1, 3)))
    with pytest.raises(ValueError, match="features_dim must be > 0, got 0"):
        LayerNormExtractor(spaces.Box(-1, 1, (3,)), features_dim=0)


def test_separate_extractors_are_trained_by_their_own_losses():
    policy_kwargs = dict(features_extractor_class=LayerNormExtractor, share_features_extractor=False, net_arch=[8])
    model = PPO("MlpPolicy", "CartPole-v1", seed=0, n_steps=16, batch_size=16, policy_kwargs=policy_kwargs)
    policy = model.policy
    assert policy.pi_features_extractor is policy.features_extractor
    assert policy.vf_features_extractor is not policy.features_extractor
    names = [name for name, _ in tree_flatten(policy.trainable_parameters())]
    assert sum(name.startswith("features_extractor.") for name in names) == 4
    assert sum(name.startswith("vf_features_extractor.") for name in names) == 4
    obs = mx.array(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    # The value only depends on the value function's extractor; the action distribution only on the policy's.
    value_grads = mx.grad(lambda params: (policy.update(params), policy.predict_values(obs).sum())[1])(
        policy.trainable_parameters()
    )
    value_grads = dict(tree_flatten(value_grads))
    assert all(np.all(np.array(g) == 0) for name, g in value_grads.items() if name.startswith("features_extractor."))
    assert any(np.any(np.array(g) != 0) for name, g in value_grads.items() if name.startswith("vf_features_extractor."))
    before = _weights(policy)
    model.learn(32)
    after = _weights(policy)
    for prefix in ("features_extractor.", "vf_features_extractor."):
        assert any(not np.allclose(before[k], after[k]) for k in before if k.startswith(prefix)), prefix


def test_custom_mlp_extractor_and_policy_class():
    model = A2C(CustomActorCriticPolicy, "Pendulum-v1", seed=0, n_steps=8)
    policy = model.policy
    assert isinstance(policy.mlp_extractor, TwoHeads) and not policy.ortho_init
    assert policy.action_net.weight.shape == (1, 12) and policy.value_net.weight.shape == (1, 6)
    # Without ortho_init the layers keep MLX's default (uniform) initialization, whose rows are not orthonormal.
    weight = np.array(policy.mlp_extractor.policy_net.layers[0].weight)
    assert not np.allclose(weight @ weight.T, np.eye(12) * 2, atol=1e-3)
    before = _weights(policy.mlp_extractor)
    model.learn(16)
    assert any(not np.allclose(before[k], v) for k, v in _weights(policy.mlp_extractor).items())
    action, _ = model.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,) and -2 <= action[0] <= 2


def test_ortho_init_gains():
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, policy_kwargs=dict(net_arch=[32, 16]))
    policy = model.policy
    # SB3's gains: sqrt(2) for hidden layers, 0.01 for the action head, 1 for the value head; zero biases.
    for weight, gain in (
        (policy.mlp_extractor.policy_net.layers[2].weight, np.sqrt(2)),
        (policy.action_net.weight, 0.01),
        (policy.value_net.weight, 1.0),
    ):
        weight = np.array(weight)
        np.testing.assert_allclose(weight @ weight.T, np.eye(weight.shape[0]) * gain**2, atol=1e-5)
    assert np.all(np.array(policy.mlp_extractor.value_net.layers[0].bias) == 0)


@pytest.mark.parametrize(
    "optimizer_class, optimizer_kwargs, expected_class, expected",
    [
        (optim.SGD, dict(momentum=0.9), optim.SGD, dict(momentum=0.9)),
        (optim.AdamW, dict(weight_decay=0.1), optim.AdamW, dict(weight_decay=0.1)),
        ("torch.optim.RMSprop", dict(alpha=0.9, eps=1e-4), optim.RMSprop, dict(alpha=0.9, eps=1e-4)),
        ("torch.optim.Adam", dict(betas=(0.5, 0.9)), optim.Adam, dict(betas=[0.5, 0.9], bias_correction=True)),
    ],
)
def test_optimizer_classes(optimizer_class, optimizer_kwargs, expected_class, expected):
    if isinstance(optimizer_class, str):
        th = pytest.importorskip("torch")
        optimizer_class = getattr(th.optim, optimizer_class.rsplit(".", 1)[1])
    policy_kwargs = dict(optimizer_class=optimizer_class, optimizer_kwargs=optimizer_kwargs)
    model = A2C("MlpPolicy", "CartPole-v1", n_steps=8, learning_rate=0.01, policy_kwargs=policy_kwargs)
    optimizer = model.policy.optimizer
    assert type(optimizer) is expected_class
    for name, value in expected.items():
        assert getattr(optimizer, name) == pytest.approx(value), name
    before = _weights(model.policy)
    model.learn(16)
    assert any(not np.allclose(before[k], v) for k, v in _weights(model.policy).items())
    assert optimizer.learning_rate.item() == pytest.approx(0.01)


def test_torch_layer_classes_map_to_mlx():
    th = pytest.importorskip("torch")
    assert as_mlx_module_class(th.nn.ELU) is nn.ELU
    # Different capitalization in MLX, and torch's BatchNorm1d is MLX's BatchNorm.
    assert as_mlx_module_class(th.nn.Hardtanh) is nn.HardTanh
    assert as_mlx_module_class(th.nn.BatchNorm1d) is nn.BatchNorm
    with pytest.raises(TypeError, match=r"RReLU.*is not an mlx\.nn\.Module class"):
        as_mlx_module_class(th.nn.RReLU)
    layers = create_mlp(4, 2, [8], activation_fn=th.nn.SiLU, post_linear_modules=[th.nn.LayerNorm])
    assert [type(layer) for layer in layers] == [nn.Linear, nn.LayerNorm, nn.SiLU, nn.Linear]
    model = PPO(
        "MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, policy_kwargs=dict(activation_fn=th.nn.LeakyReLU, net_arch=[8])
    )
    assert isinstance(model.policy.mlp_extractor.policy_net.layers[1], nn.LeakyReLU)


def test_dqn_policy_kwargs():
    model = DQN(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=0,
        train_freq=4,
        policy_kwargs=dict(net_arch=[16, 8], activation_fn=nn.ELU, features_extractor_class=LayerNormExtractor),
    )
    q_net = model.policy.q_net
    assert isinstance(q_net.features_extractor, LayerNormExtractor)
    assert [type(layer) for layer in q_net.q_net.layers] == [nn.Linear, nn.ELU, nn.Linear, nn.ELU, nn.Linear]
    assert q_net.q_net.layers[0].weight.shape == (16, 16)
    model.learn(32)
    assert model.predict(np.zeros(4, dtype=np.float32))[0] in (0, 1)


@pytest.mark.parametrize("algo", [SAC, TD3, DDPG])
def test_off_policy_net_arch_critics_and_activation(algo):
    policy_kwargs = dict(net_arch=dict(pi=[16], qf=[32, 8]), n_critics=3, activation_fn=nn.ELU)
    model = algo(
        "MlpPolicy", "Pendulum-v1", learning_starts=0, buffer_size=64, batch_size=8, train_freq=4, policy_kwargs=policy_kwargs
    )
    critic, actor = model.policy.critic, model.policy.actor
    assert critic.n_critics == 3 and len(critic.q_networks) == 3
    # The critic reads observation (3) and action (1); SAC's actor ends in separate mean/log-std heads, TD3's in mu.
    # The three critics are stacked per layer ([n_critics, in, out]) and saved as SB3's qf0..qf2.
    assert [layer.weight.shape for layer in critic.qf.layers if "weight" in layer] == [(3, 4, 32), (3, 32, 8), (3, 8, 1)]
    assert module_state_dict(critic)["qf2.2.weight"].shape == (8, 32)
    actor_net = actor.latent_pi if algo is SAC else actor.mu
    assert actor_net.layers[0].weight.shape == (16, 3) and isinstance(actor_net.layers[1], nn.ELU)
    assert isinstance(critic.qf.layers[1], nn.ELU)
    before = _weights(critic)
    model.learn(16)
    assert any(not np.allclose(before[k], v) for k, v in _weights(critic).items())


def test_sac_gsde_clip_mean():
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32) * 100
    for clip_mean in (1.5, 0.0):
        model = SAC("MlpPolicy", "Pendulum-v1", use_sde=True, policy_kwargs=dict(clip_mean=clip_mean, net_arch=[16]))
        # Large weights make the unclipped mean large too.
        model.policy.actor.update(tree_map(lambda w: w * 20, model.policy.actor.trainable_parameters()))
        mean, _, _ = model.policy.actor.get_action_dist_params(mx.array(obs))
        largest = np.abs(np.array(mean)).max()
        assert largest == pytest.approx(1.5) if clip_mean else largest > 1.5


class DropoutExtractor(BaseFeaturesExtractor):
    def __init__(self, observation_space: spaces.Box, features_dim: int = 16):
        super().__init__(observation_space, features_dim)
        self.net = nn.Sequential(nn.Linear(observation_space.shape[0], features_dim), nn.Dropout(0.5), nn.ReLU())

    def __call__(self, observations: mx.array) -> mx.array:
        return self.net(observations)


@pytest.mark.parametrize("algo", [PPO, A2C])
def test_dropout_draws_new_masks_in_compiled_updates(algo):
    kwargs = dict(n_steps=16, batch_size=16, n_epochs=1) if algo is PPO else dict(n_steps=16)
    model = algo("MlpPolicy", "CartPole-v1", seed=0, policy_kwargs=dict(features_extractor_class=DropoutExtractor), **kwargs)
    model.learn(16)
    # The compiled update draws its dropout masks from MLX's generator, so each call advances it.
    before = np.array(mx.random.state[0])
    model.train()
    middle = np.array(mx.random.state[0])
    model.train()
    assert not np.array_equal(before, middle) and not np.array_equal(middle, np.array(mx.random.state[0]))
    # Rollouts and predict() run the extractor in evaluation mode: no dropout.
    obs = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
