"""TD3 and DDPG: networks and parameter names, DDPG's settings, delayed actor updates, target smoothing, shared
extractors, deterministic predict, logs, image/Dict policies and a small learning check."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gymnasium import spaces
from mlx.utils import tree_flatten

from mlx_baselines3 import DDPG, TD3
from mlx_baselines3.common.envs import FakeImageEnv, IdentityEnvBox, SimpleMultiObsEnv
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.logger import configure
from mlx_baselines3.common.noise import NormalActionNoise
from mlx_baselines3.common.save_util import module_state_dict, optimizer_state_dict
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor
from mlx_baselines3.td3.policies import Actor, TD3Policy


def make(algo=TD3, env="Pendulum-v1", **kwargs):
    kwargs.setdefault("policy_kwargs", dict(net_arch=[16]))
    kwargs.setdefault("learning_starts", 10)
    kwargs.setdefault("buffer_size", 1000)
    kwargs.setdefault("batch_size", 8)
    return algo(kwargs.pop("policy", "MlpPolicy"), env, **kwargs)


# Warm-up alone (learn(10) with learning_starts=10) fills the replay buffer before updates driven by hand.
warm_up_only = pytest.mark.filterwarnings("ignore:learning_starts=10 is not smaller")


def flat(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: np.array(value) for name, value in tree_flatten(module.parameters())}


def changed(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> set[str]:
    return {name for name in before if not np.array_equal(before[name], after[name])}


class LinearExtractor(BaseFeaturesExtractor):
    """A features extractor with parameters, to see who trains it."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 8):
        super().__init__(observation_space, features_dim)
        self.linear = nn.Linear(int(np.prod(observation_space.shape)), features_dim)

    def __call__(self, observations: mx.array) -> mx.array:
        return nn.relu(self.linear(observations))


def test_networks_and_parameter_names():
    model = TD3("MlpPolicy", "Pendulum-v1")
    assert isinstance(model.policy, TD3Policy) and isinstance(model.actor, Actor)
    assert model.actor_target is model.policy.actor_target
    # SB3's state-dict keys and shapes, as saved (the critics are stacked in one ensemble in MLX).
    shapes = {name: tuple(value.shape) for name, value in module_state_dict(model.policy).items()}
    # SB3's default [400, 300]; the actor ends with Tanh (index 5, no parameters).
    mlp = {
        "0.weight": (400, None),
        "0.bias": (400,),
        "2.weight": (300, 400),
        "2.bias": (300,),
        "4.weight": (1, 300),
        "4.bias": (1,),
    }
    expected = {}
    for net, nets, in_dim in [("actor", ("mu",), 3), ("critic", ("qf0", "qf1"), 4)]:
        for prefix in (net, f"{net}_target"):
            for sub in nets:
                for key, shape in mlp.items():
                    expected[f"{prefix}.{sub}.{key}"] = (400, in_dim) if shape[-1] is None else shape
    assert shapes == expected
    assert isinstance(model.actor.mu.layers[5], nn.Tanh)
    for online, target in [(model.actor, model.actor_target), (model.critic, model.critic_target)]:
        a, b = flat(online), flat(target)
        assert all(np.array_equal(a[k], b[k]) for k in a)
    model.policy.set_training_mode(True)
    assert model.actor.training and model.critic.training
    assert not model.actor_target.training and not model.critic_target.training
    assert len(tree_flatten(model.actor.optimizer.state)) == 2 + 2 * 6
    # The critic's 12 arrays of SB3 are 6 stacked ones here; saved as SB3's 12.
    assert len(tree_flatten(model.critic.optimizer.state)) == 2 + 2 * 6
    assert optimizer_state_dict(model.critic.optimizer, model.critic)["param_groups"][0]["params"] == list(range(12))
    assert model._get_torch_save_params() == (["policy", "actor.optimizer", "critic.optimizer"], [])
    assert (model.learning_rate, model.batch_size, model.policy_delay) == (1e-3, 256, 2)
    assert (model.target_policy_noise, model.target_noise_clip) == (0.2, 0.5)


def test_ddpg_is_td3_without_the_tricks():
    model = DDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]))
    assert isinstance(model, TD3)
    assert (model.policy_delay, model.target_policy_noise, model.target_noise_clip) == (1, 0.1, 0.0)
    assert model.critic.n_critics == 1 and {name.split(".")[0] for name in module_state_dict(model.critic)} == {"qf0"}
    assert DDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16], n_critics=2)).critic.n_critics == 2


@warm_up_only
def test_delayed_actor_updates():
    model = make(policy_delay=2)
    model.set_logger(configure(None, [""]))
    model.learn(10)  # warm-up only: nothing trained yet
    assert model._n_updates == 0
    for n_updates in (1, 2, 3, 4):
        before = flat(model.policy)
        model.train(gradient_steps=1, batch_size=8)
        names = changed(before, flat(model.policy))
        nets = {name.split(".")[0] for name in names}
        # The critic learns at every step; the actor and both targets every second step.
        assert nets == ({"critic", "actor", "critic_target", "actor_target"} if n_updates % 2 == 0 else {"critic"})
        assert ("train/actor_loss" in model.logger.name_to_value) == (n_updates % 2 == 0)
        model.logger.dump()
    assert model._n_updates == 4


@warm_up_only
def test_ddpg_updates_the_actor_at_every_step():
    model = make(DDPG)
    model.learn(10)
    before = flat(model.policy)
    model.train(gradient_steps=1, batch_size=8)
    assert {name.split(".")[0] for name in changed(before, flat(model.policy))} == {
        "critic",
        "actor",
        "critic_target",
        "actor_target",
    }


@warm_up_only
def test_target_policy_smoothing_changes_the_critic_update():
    # Same weights and minibatches: the targets differ only by the smoothing noise, within its clip.
    losses = {}
    for noise, clip in [(0.2, 0.5), (0.2, 0.0), (5.0, 0.0)]:
        model = make(seed=0, target_policy_noise=noise, target_noise_clip=clip)
        model.set_logger(configure(None, [""]))
        model.learn(10)
        model.train(gradient_steps=1, batch_size=8)
        losses[noise, clip] = model.logger.name_to_value["train/critic_loss"]
    assert losses[0.2, 0.5] != losses[0.2, 0.0]
    # A clip of 0 removes the noise whatever its scale (DDPG's setting).
    assert losses[0.2, 0.0] == losses[5.0, 0.0]


def test_predict_is_deterministic():
    model = make(action_noise=NormalActionNoise(np.zeros(1), 0.5 * np.ones(1)))
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -8.0]], dtype=np.float32)
    a, _ = model.predict(obs, deterministic=False)
    b, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, 2.0 * np.array(model.actor(mx.array(obs))), rtol=1e-6)
    assert np.all(np.abs(a) <= 2.0)


@warm_up_only
def test_shared_features_extractor():
    model = make(policy_kwargs=dict(net_arch=[16], features_extractor_class=LinearExtractor, share_features_extractor=True))
    assert model.critic.features_extractor is model.actor.features_extractor
    assert model.critic_target.features_extractor is model.actor_target.features_extractor
    assert "features_extractor" not in model.critic.optimizer.state
    model.learn(10)
    before = flat(model.policy)
    model.train(gradient_steps=1, batch_size=8)
    assert not changed(before, flat(model.policy)) & {"actor.features_extractor.linear.weight"}
    model.train(gradient_steps=1, batch_size=8)
    after = flat(model.policy)
    assert "actor.features_extractor.linear.weight" in changed(before, after)
    # The target extractor is Polyak-averaged twice per update (with the critic, then with the actor), as in SB3.
    tau, key = model.tau, "features_extractor.linear.weight"
    once = (1 - tau) * before[f"actor_target.{key}"] + tau * after[f"actor.{key}"]
    twice = (1 - tau) * once + tau * after[f"actor.{key}"]
    np.testing.assert_allclose(after[f"actor_target.{key}"], twice, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("algo", [TD3, DDPG])
def test_image_and_dict_observations(algo):
    env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=False)
    model = make(
        algo, env, policy="CnnPolicy", policy_kwargs=dict(net_arch=[16], features_extractor_kwargs=dict(features_dim=16))
    )
    assert model.policy.net_arch == [16] and "features_extractor.cnn.layers.0.weight" in flat(model.actor)
    model.learn(20)
    assert model.predict(env.observation_space.sample())[0].shape == (5,)
    dict_env = SimpleMultiObsEnv(random_start=False, discrete_actions=False)
    model = make(algo, dict_env, policy="MultiInputPolicy", buffer_size=100)
    model.learn(20)
    assert model._n_updates == 10


def test_learns_identity():
    env = IdentityEnvBox(eps=0.1)
    model = TD3(
        "MlpPolicy",
        env,
        learning_starts=100,
        batch_size=64,
        action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
        policy_kwargs=dict(net_arch=[32, 32]),
        seed=0,
    )
    # A random policy is inside the band 10% of the time: about 10 of the 100 steps of an episode.
    model.learn(1000)
    mean_reward, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=5)
    assert mean_reward >= 90


def test_save_load_with_action_noise(tmp_path):
    # The noise is saved with the model (as in SB3); its NumPy dtype must pass the safe loader.
    noise = NormalActionNoise(np.zeros(1), 0.3 * np.ones(1))
    model = make(action_noise=noise)
    model.learn(20)
    model.save(tmp_path / "td3")
    loaded = TD3.load(tmp_path / "td3")
    assert isinstance(loaded.action_noise, NormalActionNoise)
    np.testing.assert_array_equal(loaded.action_noise._sigma, noise._sigma)
    obs = np.array([[1.0, 0.0, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    a, b = flat(model.policy), flat(loaded.policy)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_update_is_traced_once_per_variant():
    class CountingTD3(TD3):
        """Counts the traces of the compiled steps: their Python body runs only when MLX traces them."""

        traces = 0

        def _make_train_step(self, update_actor):
            step = super()._make_train_step(update_actor)

            def counted(*args):
                CountingTD3.traces += 1
                return step(*args)

            return counted

    model = CountingTD3(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=lambda progress: 1e-3 * progress,
        learning_starts=10,
        batch_size=8,
        train_freq=3,
        gradient_steps=3,
        policy_kwargs=dict(net_arch=[16]),
    )
    model.learn(60)
    # 17 rollouts of 3 steps after the warm-up, 3 gradient steps each: critic-only and critic+actor steps alternate and
    # each variant is traced once.
    assert model._n_updates == 51 and CountingTD3.traces == 2
