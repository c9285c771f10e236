"""Transposition of image observations from channels-last (HxWxC) to channels-first (CxHxW)."""

from copy import deepcopy

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper


class VecTransposeImage(VecEnvWrapper):
    """
    Re-orders image observations from HxWxC to CxHxW, the layout of SB3's CNN policies (and of their saved weights).
    For Dict observations, every image entry is transposed and the others are left as they are.

    :param venv: the VecEnv to wrap (image or Dict observation space)
    :param skip: wrap without transposing anything; the image check is a heuristic, and this turns it off
        (see SB3 issue #671)
    """

    def __init__(self, venv: VecEnv, skip: bool = False):
        if not (is_image_space(venv.observation_space) or isinstance(venv.observation_space, spaces.Dict)):
            raise UsageError(
                f"The observation space must be an image or dictionary observation space, got {venv.observation_space}"
            )
        self.skip = skip
        if skip:
            super().__init__(venv)
            return
        if isinstance(venv.observation_space, spaces.Dict):
            self.image_space_keys: list[str] = []
            observation_space = deepcopy(venv.observation_space)
            for key, space in observation_space.spaces.items():
                if is_image_space(space):
                    self.image_space_keys.append(key)
                    observation_space.spaces[key] = self.transpose_space(space, key)  # type: ignore[arg-type]
        else:
            observation_space = self.transpose_space(venv.observation_space)  # type: ignore[assignment, arg-type]
        super().__init__(venv, observation_space=observation_space)

    @staticmethod
    def transpose_space(observation_space: spaces.Box, key: str = "") -> spaces.Box:
        """
        :param observation_space: a channels-last image space
        :param key: the key of the space in a Dict space, for error messages
        :return: the same image space, channels first
        """
        if not is_image_space(observation_space):
            where = f" (key {key!r})" if key else ""
            raise UsageError(f"The observation space must be an image{where}, got {observation_space}")
        if is_image_space_channels_first(observation_space):
            raise UsageError(f"The observation space {key} must follow the channel last convention")
        height, width, channels = observation_space.shape
        return spaces.Box(low=0, high=255, shape=(channels, height, width), dtype=observation_space.dtype)  # type: ignore[arg-type]

    @staticmethod
    def transpose_image(image: np.ndarray) -> np.ndarray:
        """
        :param image: one image (HxWxC) or a batch of images (NxHxWxC)
        :return: the image(s) channels first, as a view
        """
        if image.ndim == 3:
            return np.transpose(image, (2, 0, 1))
        return np.transpose(image, (0, 3, 1, 2))

    def transpose_observations(self, observations: np.ndarray | dict) -> np.ndarray | dict:
        """
        :param observations: a batch of observations (or one terminal observation)
        :return: the observations with their images channels first (a new dict for Dict observations)
        """
        if self.skip:
            return observations
        if isinstance(observations, dict):
            observations = deepcopy(observations)
            for key in self.image_space_keys:
                observations[key] = self.transpose_image(observations[key])
            return observations
        return self.transpose_image(observations)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        for env_idx in np.flatnonzero(dones):
            if "terminal_observation" in infos[env_idx]:
                infos[env_idx]["terminal_observation"] = self.transpose_observations(infos[env_idx]["terminal_observation"])
        return self.transpose_observations(observations), rewards, dones, infos  # type: ignore[arg-type]

    def reset(self) -> np.ndarray | dict:
        """
        Reset every env.

        :return: first observations, images channels first
        """
        return self.transpose_observations(self.venv.reset())  # type: ignore[arg-type]

    def close(self) -> None:
        self.venv.close()
