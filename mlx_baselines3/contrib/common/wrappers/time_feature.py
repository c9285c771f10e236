"""Append the remaining time of the episode to the observation (Pardo et al., 2017, https://arxiv.org/abs/1712.00378)."""

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.core import ActType as ActType  # sb3-contrib's module namespace

from mlx_baselines3.common.exceptions import UsageError

TimeFeatureObs = np.ndarray | dict[str, np.ndarray]


class TimeFeatureWrapper(gym.Wrapper):
    """
    Add the normalized remaining time, ``1 - step / max_steps``, as a last observation feature, so that the value of a
    state of a fixed-length episode is well defined. Only 1D ``Box`` observations, or ``Dict`` ones whose
    ``"observation"`` entry is a 1D ``Box``, are supported.

    :param env: the env to wrap
    :param max_steps: episode length, used when the env's spec has no ``max_episode_steps``
    :param test_mode: keep the feature at 1 (to check that the policy does not merely replay a fixed sequence of actions)
    """

    def __init__(self, env: gym.Env, max_steps: int = 1000, test_mode: bool = False):
        if not isinstance(env.observation_space, (spaces.Box, spaces.Dict)):
            raise UsageError(
                "`TimeFeatureWrapper` only supports `gym.spaces.Box` and `spaces.Dict` (`gym.GoalEnv`) observation spaces, "
                f"got {env.observation_space}."
            )
        if isinstance(env.observation_space, spaces.Dict):
            if "observation" not in env.observation_space.spaces:
                raise UsageError(f"No `observation` key in the observation space {env.observation_space}")
            obs_space = env.observation_space.spaces["observation"]
        else:
            obs_space = env.observation_space
        if not isinstance(obs_space, spaces.Box):
            raise UsageError(f"`TimeFeatureWrapper` only supports `gym.spaces.Box` observation space, got {obs_space}.")
        if len(obs_space.shape) != 1:
            raise UsageError(f"Only 1D observation spaces are supported, got shape {obs_space.shape}: flatten it first.")

        self.dtype = obs_space.dtype
        low = np.concatenate((obs_space.low, [0.0])).astype(self.dtype)
        high = np.concatenate((obs_space.high, [1.0])).astype(self.dtype)
        new_space = spaces.Box(low=low, high=high, dtype=self.dtype)  # type: ignore[arg-type]
        # The wrapped env's space is replaced too, as sb3-contrib does: wrappers below see the extended observation.
        if isinstance(env.observation_space, spaces.Dict):
            env.observation_space.spaces["observation"] = new_space
        else:
            env.observation_space = new_space
        super().__init__(env)

        spec_steps = getattr(env.spec, "max_episode_steps", None) if env.spec is not None else None
        self._max_steps = spec_steps if spec_steps is not None else max_steps
        self._current_step = 0
        self._test_mode = test_mode

    def reset(self, **kwargs) -> tuple[TimeFeatureObs, dict[str, Any]]:
        self._current_step = 0
        obs, info = self.env.reset(**kwargs)
        return self._get_obs(obs), info

    def step(self, action: Any) -> tuple[TimeFeatureObs, SupportsFloat, bool, bool, dict[str, Any]]:
        self._current_step += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._get_obs(obs), reward, terminated, truncated, info

    def _get_obs(self, obs: TimeFeatureObs) -> TimeFeatureObs:
        """
        :param obs: the wrapped env's observation
        :return: the observation with the time feature appended
        """
        time_feature = np.array(1.0 if self._test_mode else 1 - (self._current_step / self._max_steps), dtype=self.dtype)
        if isinstance(obs, dict):
            obs["observation"] = np.append(obs["observation"], time_feature)
            return obs
        return np.append(obs, time_feature)
