"""Bad hyperparameters and inputs are refused before compiled code runs, so they never break another model."""

import numpy as np
import pytest

from mlx_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.validation import check_hyperparameters

CARTPOLE_OBS = np.array([[0.01, -0.02, 0.03, 0.04], [0.1, 0.2, -0.1, -0.2]], np.float32)

# (algorithm, env, bad keyword arguments, expected message fragment)
BAD_HYPERPARAMETERS = [
    (
        PPO,
        "CartPole-v1",
        {"max_grad_norm": -1},
        r"PPO: `max_grad_norm` must be a number >= 0 .* got -1\..*=0\.5",
    ),
    (PPO, "CartPole-v1", {"batch_size": 0, "normalize_advantage": False}, r"`batch_size` must be an integer >= 1 .*got 0"),
    (PPO, "CartPole-v1", {"batch_size": 1}, r"`batch_size` must be greater than 1"),  # SB3's own message
    (PPO, "CartPole-v1", {"n_epochs": 0}, r"`n_epochs` must be an integer >= 1 .*n_epochs=10 \(PPO's default\)"),
    (PPO, "CartPole-v1", {"clip_range": -0.2}, r"`clip_range` must be a number > 0 or a schedule"),
    (PPO, "CartPole-v1", {"clip_range_vf": 0.0}, r"`clip_range_vf` must be positive, pass `None` to deactivate vf clipping"),
    (PPO, "CartPole-v1", {"target_kl": -0.01}, r"`target_kl` must be a number > 0 or None"),
    (PPO, "CartPole-v1", {"gamma": 1.5}, r"PPO: `gamma` must be a number in \[0, 1\]"),
    (PPO, "CartPole-v1", {"gae_lambda": float("nan")}, r"`gae_lambda` must be a number in \[0, 1\] .*got nan"),
    (A2C, "CartPole-v1", {"n_steps": 0}, r"A2C: `n_steps` must be an integer >= 1 .*n_steps=5 \(A2C's default\)"),
    (A2C, "CartPole-v1", {"n_steps": 2.5}, r"`n_steps` must be an integer >= 1"),
    (DQN, "CartPole-v1", {"batch_size": 0}, r"DQN: `batch_size` must be an integer >= 1 .*batch_size=32 \(DQN's default\)"),
    (DQN, "CartPole-v1", {"buffer_size": 0}, r"`buffer_size` must be an integer >= 1"),
    (DQN, "CartPole-v1", {"learning_starts": -1}, r"`learning_starts` must be a number >= 0"),
    (DQN, "CartPole-v1", {"target_update_interval": 0}, r"`target_update_interval` must be an integer >= 1"),
    (DQN, "CartPole-v1", {"exploration_final_eps": 1.5}, r"`exploration_final_eps` must be a number in \[0, 1\]"),
    (DQN, "CartPole-v1", {"tau": -0.1}, r"`tau` must be a number in \[0, 1\]"),
    (SAC, "Pendulum-v1", {"batch_size": 0}, r"SAC: `batch_size` must be an integer >= 1 .*batch_size=256"),
    (SAC, "Pendulum-v1", {"gradient_steps": -2}, r"`gradient_steps` must be an integer >= -1"),
    (SAC, "Pendulum-v1", {"target_update_interval": 0}, r"`target_update_interval` must be an integer >= 1"),
    (SAC, "Pendulum-v1", {"n_steps": 0}, r"`n_steps` must be an integer >= 1"),
    (TD3, "Pendulum-v1", {"tau": 2.0}, r"TD3: `tau` must be a number in \[0, 1\] .*got 2\.0\. .*tau=0\.005"),
    (TD3, "Pendulum-v1", {"policy_delay": 0}, r"`policy_delay` must be an integer >= 1"),
    (TD3, "Pendulum-v1", {"target_noise_clip": -0.5}, r"`target_noise_clip` must be a number >= 0"),
    (DDPG, "Pendulum-v1", {"gamma": -0.1}, r"DDPG: `gamma` must be a number in \[0, 1\]"),
]


@pytest.fixture(scope="module")
def bystander():
    """A model that every bad call below must leave working."""
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=1, seed=0)
    model.learn(32)
    return model


def _still_works(model: PPO) -> None:
    before, _ = model.predict(CARTPOLE_OBS, deterministic=True)
    sampled, _ = model.predict(CARTPOLE_OBS)
    assert sampled.shape == (2,) and set(sampled.tolist()) <= {0, 1}
    timesteps = model.num_timesteps
    model.learn(32, reset_num_timesteps=False)
    assert model.num_timesteps == timesteps + 32
    after, _ = model.predict(CARTPOLE_OBS, deterministic=True)
    assert after.shape == before.shape == (2,)


@pytest.mark.parametrize(("algo", "env", "kwargs", "message"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_are_refused_before_compiled_code(bystander, algo, env, kwargs, message):
    with pytest.raises(UsageError, match=message) as info:
        off_policy = {"learning_starts": 0} if algo in (DQN, SAC, TD3, DDPG) else {}
        model = algo("MlpPolicy", env, **{**off_policy, **kwargs})
        model.learn(64)
    # SB3 code catches AssertionError, plain Python code ValueError: both work.
    assert isinstance(info.value, AssertionError) and isinstance(info.value, ValueError)
    _still_works(bystander)


def test_empty_predict_batch_is_refused(bystander):
    with pytest.raises(UsageError, match=r"predict\(\) got an empty batch \(observation shape \(0, 4\)\)"):
        bystander.predict(np.zeros((0, 4), np.float32))
    _still_works(bystander)
    sac = SAC("MultiInputPolicy", _dict_env(), learning_starts=0, batch_size=8)
    with pytest.raises(UsageError, match="empty batch"):
        sac.predict({"a": np.zeros((0, 2), np.float32), "b": np.zeros((0, 3), np.float32)})
    sac.learn(16)
    action, _ = sac.predict({"a": np.zeros((2,), np.float32), "b": np.zeros((3,), np.float32)}, deterministic=True)
    assert action.shape == (1,)
    _still_works(bystander)


def test_direct_train_call_with_bad_batch_size_is_refused(bystander):
    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=0, batch_size=8, seed=0)
    model.learn(20)
    with pytest.raises(UsageError, match=r"DQN: `batch_size` must be an integer >= 1 .*got 0"):
        model.train(gradient_steps=1, batch_size=0)
    model.train(gradient_steps=2, batch_size=8)
    model.learn(10, reset_num_timesteps=False)
    _still_works(bystander)


def test_valid_edge_values_are_accepted():
    check_hyperparameters(
        PPO, gamma=0.0, gae_lambda=1.0, max_grad_norm=float("inf"), clip_range=lambda _: 0.1, clip_range_vf=None
    )
    check_hyperparameters(SAC, gradient_steps=-1, learning_starts=0, tau=1.0, batch_size=np.int64(4), gamma=np.float32(0.5))
    with pytest.raises(UsageError, match=r"SAC: `batch_size` must be an integer >= 1 .*got True"):
        check_hyperparameters(SAC, batch_size=True)


def _dict_env():
    import gymnasium as gym
    from gymnasium import spaces

    class DictEnv(gym.Env):
        observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (2,), np.float32), "b": spaces.Box(-1, 1, (3,), np.float32)})
        action_space = spaces.Box(-1, 1, (1,), np.float32)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), float(action[0]), False, False, {}

    return DictEnv()
