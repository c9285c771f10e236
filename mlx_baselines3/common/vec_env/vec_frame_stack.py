"""Frame stacking wrapper for vectorized environments."""

from collections.abc import Mapping

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper
from mlx_baselines3.common.vec_env.stacked_observations import StackedObservations


class VecFrameStack(VecEnvWrapper):
    """
    Stacks the last ``n_stack`` observations of each env into one observation (typically Atari frames, so that a
    policy sees motion). Terminal observations in the infos are stacked too.

    :param venv: the VecEnv to wrap (Box or Dict observations)
    :param n_stack: number of observations to stack
    :param channels_order: "first" or "last" to stack along the first or last axis of an observation; None (default)
        stacks images along their channel axis and other observations along their last axis. For Dict observations,
        a mapping gives one value per key.
    """

    def __init__(self, venv: VecEnv, n_stack: int, channels_order: str | Mapping[str, str] | None = None) -> None:
        if not isinstance(venv.observation_space, (spaces.Box, spaces.Dict)):
            raise UsageError(
                "VecFrameStack only works with gym.spaces.Box and gym.spaces.Dict observation spaces, "
                f"got {venv.observation_space}"
            )
        self.stacked_obs = StackedObservations(venv.num_envs, n_stack, venv.observation_space, channels_order)
        super().__init__(venv, observation_space=self.stacked_obs.stacked_observation_space)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        observations, infos = self.stacked_obs.update(observations, dones, infos)  # type: ignore[arg-type]
        return observations, rewards, dones, infos

    def reset(self) -> np.ndarray | dict[str, np.ndarray]:
        """
        Reset every env and start new stacks.

        :return: stacked first observations (zeros in the older slots)
        """
        return self.stacked_obs.reset(self.venv.reset())  # type: ignore[arg-type]
