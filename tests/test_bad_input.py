"""Bad input gets SB3's clear errors and warnings, never a crash deep inside MLX."""

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3 import A2C, PPO
from mlx_baselines3.common.vec_env import DummyVecEnv


def test_batch_size_one_is_refused():
    with pytest.raises(ValueError, match=r"`batch_size` must be greater than 1\. See .*\(got batch_size=1\)"):
        PPO("MlpPolicy", "CartPole-v1", batch_size=1)


def test_rollout_of_one_step_is_refused():
    with pytest.raises(ValueError, match=r"`n_steps \* n_envs` must be greater than 1. Currently n_steps=1 and n_envs=1"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=1, batch_size=2)


def test_truncated_minibatch_warns():
    with pytest.warns(UserWarning, match="there will be a truncated mini-batch of size 36"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=100, batch_size=64)


def test_non_positive_clip_range_vf():
    with pytest.raises(ValueError, match=r"`clip_range_vf` must be positive, pass `None` to deactivate vf clipping.*got -0\.1"):
        PPO("MlpPolicy", "CartPole-v1", clip_range_vf=-0.1)


def test_unknown_policy_alias():
    with pytest.raises(ValueError, match="Policy LstmPolicy unknown"):
        PPO("LstmPolicy", "CartPole-v1")


def test_dict_observations_need_multi_input_policy():
    with pytest.raises(
        ValueError, match="You must use `MultiInputPolicy` when working with dict observation space, not MlpPolicy"
    ):
        PPO("MlpPolicy", DummyVecEnv([lambda: _DictCartPole()]))


class _DictCartPole(gym.Wrapper):
    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.observation_space = gym.spaces.Dict({"state": self.env.observation_space})

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return {"state": obs}, info

    def step(self, action):
        obs, *rest = self.env.step(action)
        return {"state": obs}, *rest


def test_unsupported_action_space():
    class TupleActions(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,))
        action_space = gym.spaces.Tuple([gym.spaces.Discrete(2)])

    with pytest.raises(ValueError, match="The algorithm only supports"):
        A2C("MlpPolicy", TupleActions())


def test_unbounded_box_actions_are_refused():
    class Unbounded(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,))
        action_space = gym.spaces.Box(-np.inf, np.inf, (1,))

    with pytest.raises(ValueError, match="finite lower and upper bound"):
        PPO("MlpPolicy", Unbounded())


def test_gsde_needs_continuous_actions():
    with pytest.raises(ValueError, match="gSDE\\) can only be used with continuous actions"):
        PPO("MlpPolicy", "CartPole-v1", use_sde=True)


@pytest.mark.parametrize(
    "observation, message",
    [
        (np.zeros(5, dtype=np.float32), r"Unexpected observation shape \(5,\) for Box environment, please use \(4,\)"),
        (np.zeros((3, 2), dtype=np.float32), r"Unexpected observation shape \(3, 2\)"),
        (np.array(["a", "b", "c", "d"]), "Unexpected observation dtype <U1: observations must be numeric"),
        ((np.zeros(4), {}), "You have passed a tuple to the predict\\(\\) function"),
    ],
)
def test_predict_bad_observations(observation, message):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16)
    with pytest.raises(ValueError, match=message):
        model.predict(observation)


def test_predict_accepts_float64_and_lists():
    model = A2C("MlpPolicy", "CartPole-v1")
    action64, _ = model.predict(np.zeros(4, dtype=np.float64), deterministic=True)
    action_list, _ = model.predict([0.0, 0.0, 0.0, 0.0], deterministic=True)
    assert action64 == action_list and action64.dtype == np.int64


def test_bad_device_name():
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        PPO("MlpPolicy", "CartPole-v1", device="tpu")


def test_optimizer_options_without_mlx_equivalent():
    with pytest.raises(ValueError, match=r"use optimizer_class=mlx\.optimizers\.AdamW"):
        PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(optimizer_kwargs=dict(weight_decay=0.1)))
    with pytest.raises(TypeError, match=r"is not an mlx\.nn\.Module class"):
        PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn="relu"))
