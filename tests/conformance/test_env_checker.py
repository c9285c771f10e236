"""Conformance with SB3 2.9.2's ``common.env_checker.check_env``: same errors and same warnings on the same envs."""

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3.common import env_checker

from ._outcome import assert_same_failure, outcome


class _Base(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


class WrongObsDtype(_Base):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float64), {}


class NoSeedArgument(_Base):
    action_space = gym.spaces.Box(-2, 2, (2,), np.float32)

    def reset(self, options=None):  # type: ignore[override]
        return np.zeros(2, np.float32), {}


class SmallImage(_Base):
    observation_space = gym.spaces.Box(0, 255, (20, 20, 3), np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


class ResetWithoutInfo(_Base):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32)


class OldStepApi(_Base):
    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, {}


class StringReward(_Base):
    def step(self, action):
        return np.zeros(2, np.float32), "1", False, False, {}


ENVS = [_Base, WrongObsDtype, NoSeedArgument, SmallImage, ResetWithoutInfo, OldStepApi, StringReward]


def _warning_texts(result):
    return sorted({message[:60] for message in result.warning_messages if "mlx.core was imported" not in message})


@pytest.mark.parametrize("warn", [True, False])
@pytest.mark.parametrize("env_class", ENVS, ids=lambda env_class: env_class.__name__)
def test_check_env_same_as_sb3(env_class, warn):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    ours = outcome(env_checker.check_env, env_class(), warn=warn)
    theirs = outcome(sb3_check_env, env_class(), warn=warn)
    if theirs.error is not None:
        assert_same_failure(ours, theirs)
    else:
        assert ours.error is None and ours.value is None
    assert _warning_texts(ours) == _warning_texts(theirs)


def test_check_env_facts():
    assert env_checker.check_env(_Base()) is None
    with pytest.raises(AssertionError, match=r"Your environment must inherit from the gymnasium\.Env class"):
        env_checker.check_env(object())
    with pytest.raises(AssertionError, match="does not match the data type"):
        env_checker.check_env(WrongObsDtype())
    with pytest.raises(TypeError, match="The reset\\(\\) method must accept a `seed` parameter"):
        env_checker.check_env(NoSeedArgument())
    with pytest.raises(AssertionError, match="must return five values"):
        env_checker.check_env(OldStepApi())
    with pytest.warns(UserWarning, match="The minimal resolution for an image is 36x36"):
        env_checker.check_env(SmallImage())
