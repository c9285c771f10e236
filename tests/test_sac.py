"""SAC: networks and parameter names, entropy coefficient options, shared extractors, gSDE, predict, logs, schedules,
supported spaces, determinism and a small learning check."""

import gymnasium as gym
import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gymnasium import spaces
from mlx.utils import tree_flatten

from mlx_baselines3 import DDPG, SAC, TD3
from mlx_baselines3.common.envs import FakeImageEnv, IdentityEnvBox
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.logger import configure
from mlx_baselines3.common.save_util import module_state_dict, optimizer_state_dict
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor
from mlx_baselines3.common.utils import LinearSchedule
from mlx_baselines3.sac.policies import Actor, SACPolicy


def make_sac(env="Pendulum-v1", **kwargs) -> SAC:
    kwargs.setdefault("policy_kwargs", dict(net_arch=[16]))
    kwargs.setdefault("learning_starts", 10)
    kwargs.setdefault("buffer_size", 1000)
    kwargs.setdefault("batch_size", 8)
    return SAC(kwargs.pop("policy", "MlpPolicy"), env, **kwargs)


def flat(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: np.array(value) for name, value in tree_flatten(module.parameters())}


class LinearExtractor(BaseFeaturesExtractor):
    """A features extractor with parameters, to see who trains it."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 8):
        super().__init__(observation_space, features_dim)
        self.linear = nn.Linear(int(np.prod(observation_space.shape)), features_dim)

    def __call__(self, observations: mx.array) -> mx.array:
        return nn.relu(self.linear(observations))


def test_networks_and_parameter_names():
    model = SAC("MlpPolicy", "Pendulum-v1")
    assert isinstance(model.policy, SACPolicy) and isinstance(model.actor, Actor)
    assert model.actor is model.policy.actor and model.critic_target is model.policy.critic_target
    # SB3's state-dict keys and shapes, as saved (the critics are stacked in one ensemble in MLX).
    shapes = {name: tuple(value.shape) for name, value in module_state_dict(model.policy).items()}
    # SB3's keys (``actor.latent_pi.0.weight``...) with MLX's ``layers`` list inside nn.Sequential.
    mlp = {
        "0.weight": (256, 4),
        "0.bias": (256,),
        "2.weight": (256, 256),
        "2.bias": (256,),
        "4.weight": (1, 256),
        "4.bias": (1,),
    }
    expected = {
        "actor.latent_pi.0.weight": (256, 3),
        "actor.latent_pi.0.bias": (256,),
        "actor.latent_pi.2.weight": (256, 256),
        "actor.latent_pi.2.bias": (256,),
        "actor.mu.weight": (1, 256),
        "actor.mu.bias": (1,),
        "actor.log_std.weight": (1, 256),
        "actor.log_std.bias": (1,),
    }
    expected |= {
        f"{net}.{q}.{key}": shape for net in ("critic", "critic_target") for q in ("qf0", "qf1") for key, shape in mlp.items()
    }
    assert shapes == expected
    # The target starts as a copy of the critic and stays in evaluation mode.
    critic, target = flat(model.critic), flat(model.critic_target)
    assert critic.keys() == target.keys() and all(np.array_equal(critic[k], target[k]) for k in critic)
    model.policy.set_training_mode(True)
    assert model.actor.training and model.critic.training and not model.critic_target.training
    # One optimizer per network: the actor's 8 parameters, the critic's 12, and log_ent_coef.
    assert len(tree_flatten(model.actor.optimizer.state)) == 2 + 2 * 8
    # The critic's 12 arrays of SB3 are 6 stacked ones here; saved as SB3's 12.
    assert len(tree_flatten(model.critic.optimizer.state)) == 2 + 2 * 6
    assert optimizer_state_dict(model.critic.optimizer, model.critic)["param_groups"][0]["params"] == list(range(12))
    assert set(model.ent_coef_optimizer.state) == {"step", "learning_rate", "log_ent_coef"}


def test_default_hyperparameters():
    model = SAC("MlpPolicy", "Pendulum-v1")
    assert (model.learning_rate, model.buffer_size, model.learning_starts, model.batch_size) == (3e-4, 1_000_000, 100, 256)
    assert (model.tau, model.gamma, model.train_freq.frequency, model.gradient_steps) == (0.005, 0.99, 1, 1)
    assert (model.ent_coef, model.target_update_interval, model.target_entropy) == ("auto", 1, -1.0)
    np.testing.assert_array_equal(np.array(model.log_ent_coef), [0.0])
    assert model.actor.optimizer.learning_rate.item() == pytest.approx(3e-4)
    assert model._get_torch_save_params() == (
        ["policy", "actor.optimizer", "critic.optimizer", "ent_coef_optimizer"],
        ["log_ent_coef"],
    )


@pytest.mark.parametrize(
    "ent_coef, target_entropy, log_ent_coef, fixed, entropy",
    [("auto_0.1", "auto", np.log(0.1), None, -1.0), (0.2, -0.5, None, 0.2, -0.5), ("0.3", 2, None, 0.3, 2.0)],
)
def test_entropy_coefficient_options(ent_coef, target_entropy, log_ent_coef, fixed, entropy):
    model = make_sac(ent_coef=ent_coef, target_entropy=target_entropy)
    assert model.target_entropy == entropy
    if log_ent_coef is not None:
        np.testing.assert_allclose(np.array(model.log_ent_coef), [log_ent_coef], rtol=1e-6)
    else:
        assert model.log_ent_coef is None and model.ent_coef_optimizer is None
        assert model.ent_coef_tensor.item() == pytest.approx(fixed)
        assert model._get_torch_save_params() == (["policy", "actor.optimizer", "critic.optimizer"], ["ent_coef_tensor"])
        # A fixed coefficient is logged unchanged and has no loss.
        model.set_logger(configure(None, [""]))
        model.learn(20)
        assert model.logger.name_to_value["train/ent_coef"] == pytest.approx(fixed)
        assert "train/ent_coef_loss" not in model.logger.name_to_value


@pytest.mark.parametrize("ent_coef, target_entropy", [("auto_0", "auto"), ("auto_-1", "auto"), ("big", "auto"), (0.1, "low")])
def test_bad_entropy_settings(ent_coef, target_entropy):
    with pytest.raises(ValueError):
        make_sac(ent_coef=ent_coef, target_entropy=target_entropy)


@pytest.mark.parametrize("algo", [SAC, TD3, DDPG])
def test_discrete_actions_are_rejected(algo):
    with pytest.raises(
        ValueError, match=r"only supports \(<class 'gymnasium.spaces.box.Box'>,\) as action spaces but Discrete\(2\)"
    ):
        algo("MlpPolicy", "CartPole-v1")


def test_train_logs_and_learning_rate_schedule():
    # Seeded: from some random initial policies (1 of seeds 0-19) the entropy starts below the target and the
    # coefficient rises above 1 instead of falling.
    model = make_sac(learning_rate=LinearSchedule(1e-3, 1e-4, 1.0), seed=0)
    model.set_logger(configure(None, [""]))
    model.learn(40)
    logs = model.logger.name_to_value
    # learn(40) with learning_starts=10 trains after each of the last 30 steps, one gradient step each.
    assert logs["train/n_updates"] == 30 == model._n_updates
    assert {"train/actor_loss", "train/critic_loss", "train/ent_coef", "train/ent_coef_loss"} <= set(logs)
    # ent_coef starts at 1 and the logged value is the coefficient used by the last step
    assert 0.9 < logs["train/ent_coef"] < 1.0
    np.testing.assert_allclose(logs["train/ent_coef"], np.exp(np.array(model.log_ent_coef)), rtol=2e-3)
    # All three optimizers follow the schedule: the last update comes after the 40th step, at progress 0.
    expected_lr = 1e-4
    assert logs["train/learning_rate"] == pytest.approx(expected_lr)
    for optimizer in (model.actor.optimizer, model.critic.optimizer, model.ent_coef_optimizer):
        assert optimizer.learning_rate.item() == pytest.approx(expected_lr)


def test_predict_squashes_into_the_action_bounds():
    model = make_sac()
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -8.0]], dtype=np.float32)
    mean_action = np.tanh(np.array(model.actor.mu(model.actor.latent_pi(mx.array(obs)))))
    deterministic, _ = model.predict(obs, deterministic=True)
    # Pendulum's torque is in [-2, 2]: the actor's tanh output is rescaled
    np.testing.assert_allclose(deterministic, 2.0 * mean_action, rtol=1e-5)
    single, _ = model.predict(obs[0], deterministic=True)
    assert single.shape == (1,)
    samples = np.stack([model.predict(obs)[0] for _ in range(20)])
    assert samples.shape == (20, 2, 1) and np.all(np.abs(samples) <= 2.0) and samples.std(axis=0).min() > 1e-3


def test_shared_features_extractor_learns_from_the_actor_only():
    model = make_sac(
        policy_kwargs=dict(net_arch=[16], features_extractor_class=LinearExtractor, share_features_extractor=True)
    )
    assert model.critic.features_extractor is model.actor.features_extractor
    assert model.critic_target.features_extractor is not model.actor.features_extractor
    assert "features_extractor" not in model.critic.optimizer.state
    assert "features_extractor" in model.actor.optimizer.state
    before = flat(model.policy)
    model.learn(30)
    after = flat(model.policy)
    extractor = "actor.features_extractor.linear.weight"
    assert not np.allclose(before[extractor], after[extractor])
    np.testing.assert_array_equal(after[extractor], after["critic.features_extractor.linear.weight"])
    # The target's extractor follows the shared one by Polyak averaging.
    target = "critic_target.features_extractor.linear.weight"
    assert 0 < np.abs(after[target] - before[target]).max() < np.abs(after[extractor] - before[extractor]).max()


def test_separate_features_extractors():
    model = make_sac(policy_kwargs=dict(net_arch=[16], features_extractor_class=LinearExtractor))
    assert model.critic.features_extractor is not model.actor.features_extractor
    assert "features_extractor" in model.critic.optimizer.state
    before = flat(model.critic)
    model.learn(30)
    assert not np.allclose(before["features_extractor.linear.weight"], flat(model.critic)["features_extractor.linear.weight"])


def test_gsde():
    model = make_sac(use_sde=True, sde_sample_freq=4, policy_kwargs=dict(net_arch=[16], log_std_init=-2.0))
    shapes = {name: value.shape for name, value in tree_flatten(model.actor.parameters())}
    assert shapes["log_std"] == (16, 1) and shapes["mu.layers.0.weight"] == (1, 16) and "mu.weight" not in shapes
    np.testing.assert_allclose(np.array(model.actor.get_std()), np.exp(-2.0) * np.ones((16, 1)), rtol=1e-6)
    # The mean is clipped into [-clip_mean, clip_mean] before squashing.
    model.actor.mu.layers[0].bias = mx.array([10.0])
    action, _ = model.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    np.testing.assert_allclose(action, 2.0 * np.tanh(2.0), rtol=1e-5)
    model = make_sac(use_sde=True, sde_sample_freq=4, policy_kwargs=dict(net_arch=[16], log_std_init=-2.0))
    model.set_logger(configure(None, [""]))
    log_std = np.array(model.actor.log_std)
    model.learn(30)
    assert not np.allclose(np.array(model.actor.log_std), log_std)
    assert model.logger.name_to_value["train/critic_loss"] > 0
    with pytest.raises(ValueError, match="only available when using gSDE"):
        make_sac().actor.reset_noise()


def test_dict_observations_and_several_envs():
    class DictEnv(gym.Env):
        observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (2,)), "b": spaces.Box(-1, 1, (3,))})
        action_space = spaces.Box(-1, 1, (2,))

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), float(-np.sum(action**2)), False, False, {}

    from mlx_baselines3.common.env_util import make_vec_env

    model = make_sac(make_vec_env(DictEnv, n_envs=2), policy="MultiInputPolicy")
    model.learn(40)
    assert model.num_timesteps == 40 and model._n_updates > 0
    action, _ = model.predict({"a": np.zeros((2, 2)), "b": np.zeros((2, 3))})
    assert action.shape == (2, 2)


def test_cnn_policy():
    env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=False)
    model = make_sac(
        env, policy="CnnPolicy", policy_kwargs=dict(net_arch=[16], features_extractor_kwargs=dict(features_dim=16))
    )
    assert "features_extractor.cnn.layers.0.weight" in flat(model.actor)
    model.learn(20)
    assert model.predict(env.observation_space.sample())[0].shape == (5,)


def test_same_seed_same_result():
    # The seed is set when a model is created: each model is created and trained in turn.
    first = make_sac(seed=3).learn(40)
    second = make_sac(seed=3).learn(40)
    a, b = flat(first.policy), flat(second.policy)
    assert all(np.array_equal(a[key], b[key]) for key in a)
    np.testing.assert_array_equal(np.array(first.log_ent_coef), np.array(second.log_ent_coef))


def test_learns_identity():
    env = IdentityEnvBox(eps=0.1)
    model = SAC(
        "MlpPolicy",
        env,
        learning_starts=100,
        batch_size=64,
        learning_rate=1e-3,
        ent_coef="auto_0.1",
        policy_kwargs=dict(net_arch=[32, 32]),
        seed=0,
    )
    # A random policy is inside the band 10% of the time: about 10 of the 100 steps of an episode.
    model.learn(1000)
    mean_reward, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=5)
    assert mean_reward >= 90


def test_update_is_traced_once_per_variant():
    class CountingSAC(SAC):
        """Counts the traces of the compiled step: its Python body runs only when MLX traces it."""

        traces = 0

        def _make_train_step(self, update_target):
            step = super()._make_train_step(update_target)

            def counted(*args):
                CountingSAC.traces += 1
                return step(*args)

            return counted

    # A changing learning rate and entropy coefficient never retrace; two variants with target_update_interval=2.
    model = CountingSAC(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=LinearSchedule(1e-3, 1e-4, 1.0),
        learning_starts=10,
        batch_size=8,
        gradient_steps=2,
        target_update_interval=2,
        policy_kwargs=dict(net_arch=[16]),
    )
    model.learn(60)
    assert model._n_updates == 100 and CountingSAC.traces == 2
