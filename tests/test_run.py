"""PPO and A2C run on every supported action space, with every net_arch form, and predict the right shapes and dtypes."""

import gymnasium as gym
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest

from mlx_baselines3 import A2C, PPO
from mlx_baselines3.common.envs import IdentityEnv, IdentityEnvBox, IdentityEnvMultiBinary, IdentityEnvMultiDiscrete
from mlx_baselines3.common.utils import LinearSchedule
from mlx_baselines3.common.vec_env import DummyVecEnv

ACTION_ENVS = {
    "discrete": lambda: IdentityEnv(4),
    "box": lambda: IdentityEnvBox(eps=0.5),
    "multidiscrete": lambda: IdentityEnvMultiDiscrete(2),
    "multibinary": lambda: IdentityEnvMultiBinary(3),
}


@pytest.mark.parametrize("algo", [A2C, PPO])
@pytest.mark.parametrize("space", list(ACTION_ENVS))
def test_action_spaces_learn_and_predict(algo, space):
    env = DummyVecEnv([ACTION_ENVS[space]] * 2)
    kwargs = dict(n_steps=16, batch_size=16) if algo is PPO else dict(n_steps=8)
    model = algo("MlpPolicy", env, seed=0, **kwargs).learn(64)
    assert model.num_timesteps == 64
    obs = env.reset()
    actions, state = model.predict(obs, deterministic=True)
    assert state is None
    assert actions.shape == (2, *env.action_space.shape)
    for action in actions:
        assert env.action_space.contains(action.astype(env.action_space.dtype))
    if space in ("discrete", "multidiscrete"):
        assert actions.dtype == np.int64
    single, _ = model.predict(obs[0])
    assert single.shape == env.action_space.shape


def test_predict_is_deterministic_and_clips_box_actions():
    model = PPO("MlpPolicy", "Pendulum-v1", seed=0, n_steps=32, batch_size=32, policy_kwargs=dict(log_std_init=3.0))
    obs = np.zeros((50, 3), dtype=np.float32)
    first, _ = model.predict(obs, deterministic=True)
    second, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(first, second)
    sampled, _ = model.predict(obs, deterministic=False)
    # With std e^3 ~ 20, unclipped samples would leave [-2, 2] almost surely.
    assert np.all(np.abs(sampled) <= 2.0) and np.any(np.abs(sampled) == 2.0)


@pytest.mark.parametrize(
    "net_arch, pi_shapes, vf_shapes",
    [
        ([32], [(32, 4)], [(32, 4)]),
        (dict(pi=[16, 8], vf=[32]), [(16, 4), (8, 16)], [(32, 4)]),
        (dict(pi=[16]), [(16, 4)], []),
        ([], [], []),
    ],
)
def test_net_arch_forms(net_arch, pi_shapes, vf_shapes):
    model = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=net_arch))
    extractor = model.policy.mlp_extractor
    assert [layer.weight.shape for layer in extractor.policy_net.layers if isinstance(layer, nn.Linear)] == pi_shapes
    assert [layer.weight.shape for layer in extractor.value_net.layers if isinstance(layer, nn.Linear)] == vf_shapes
    assert model.policy.action_net.weight.shape[1] == (pi_shapes[-1][0] if pi_shapes else 4)
    model.learn(64)


def test_legacy_net_arch_list_of_dict_warns():
    with pytest.warns(UserWarning, match="shared layers in the mlp_extractor are removed"):
        model = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[dict(pi=[8], vf=[8])]))
    assert model.policy.mlp_extractor.latent_dim_pi == 8


def test_torch_classes_are_mapped_by_name():
    th = pytest.importorskip("torch")
    model = A2C(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(
            activation_fn=th.nn.ReLU, optimizer_class=th.optim.Adam, optimizer_kwargs=dict(eps=1e-6, betas=(0.8, 0.9))
        ),
    )
    assert isinstance(model.policy.mlp_extractor.policy_net.layers[1], nn.ReLU)
    assert isinstance(model.policy.optimizer, optim.Adam)
    assert model.policy.optimizer.eps == 1e-6 and model.policy.optimizer.betas == [0.8, 0.9]
    assert model.policy.optimizer.bias_correction is True


def test_default_optimizers_match_sb3():
    ppo = PPO("MlpPolicy", "CartPole-v1")
    assert isinstance(ppo.policy.optimizer, optim.Adam) and ppo.policy.optimizer.eps == 1e-5
    a2c = A2C("MlpPolicy", "CartPole-v1")
    assert isinstance(a2c.policy.optimizer, optim.RMSprop)
    assert a2c.policy.optimizer.alpha == 0.99 and a2c.policy.optimizer.eps == 1e-5
    a2c_adam = A2C("MlpPolicy", "CartPole-v1", use_rms_prop=False)
    assert isinstance(a2c_adam.policy.optimizer, optim.Adam)


def test_schedules_drive_learning_rate_and_clip_range():
    model = PPO(
        "MlpPolicy",
        "CartPole-v1",
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        clip_range=lambda progress: 0.1 * progress,
    )
    model.learn(64)
    # Two rollouts of 32 steps: the second update ran at progress remaining 0.
    assert float(model.policy.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert model.clip_range(0.5) == pytest.approx(0.05)


def test_learn_counts_and_continues():
    model = A2C("MlpPolicy", "CartPole-v1", n_steps=5, seed=0)
    model.learn(100)
    assert model.num_timesteps == 100 and model._n_updates == 20
    model.learn(50, reset_num_timesteps=False)
    assert model.num_timesteps == 150 and model._n_updates == 30


def test_same_seed_same_training():
    def run():
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=2, seed=7)
        model.learn(128)
        return model.policy.parameters_to_vector()

    np.testing.assert_array_equal(run(), run())


def test_env_id_is_wrapped_like_sb3():
    model = PPO("MlpPolicy", "CartPole-v1")
    from mlx_baselines3.common.monitor import Monitor

    assert isinstance(model.get_env(), DummyVecEnv)
    assert isinstance(model.get_env().envs[0], Monitor)
    assert model.get_env().envs[0].unwrapped.render_mode == "rgb_array"
    plain = A2C("MlpPolicy", gym.make("CartPole-v1"))
    assert isinstance(plain.get_env().envs[0], Monitor)


def test_set_env_checks_spaces_and_n_envs():
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16)
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        model.set_env(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="number of environments to be set is different"):
        model.set_env(DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2))
    model.set_env(gym.make("CartPole-v1"))
    model.learn(16)
