"""Selection of one entry of Dict observations."""

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper


class VecExtractDictObs(VecEnvWrapper):
    """
    Turns Dict observations into the array stored under one key (terminal observations in the infos too).

    :param venv: the VecEnv to wrap (Dict observation space)
    :param key: the key to keep
    """

    def __init__(self, venv: VecEnv, key: str):
        self.key = key
        if not isinstance(venv.observation_space, spaces.Dict):
            raise UsageError(f"VecExtractDictObs can only be used with Dict obs space, not {venv.observation_space}")
        if key not in venv.observation_space.spaces:
            raise KeyError(
                f"key {key!r} is not in the observation space; valid keys are {list(venv.observation_space.spaces)}"
            )
        super().__init__(venv=venv, observation_space=venv.observation_space.spaces[key])

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        if not isinstance(obs, dict):
            raise TypeError(f"VecExtractDictObs expects dict observations, got {type(obs)}")
        return obs[self.key]

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        if not isinstance(obs, dict):
            raise TypeError(f"VecExtractDictObs expects dict observations, got {type(obs)}")
        for info in infos:
            if "terminal_observation" in info:
                info["terminal_observation"] = info["terminal_observation"][self.key]
        return obs[self.key], rewards, dones, infos
