"""Normalization of observations and rewards with running statistics (``VecNormalize``)."""

import inspect
import pickle
from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.preprocessing import is_image_space
from mlx_baselines3.common.running_mean_std import RunningMeanStd
from mlx_baselines3.common.save_util import atomic_open, load_from_pkl
from mlx_baselines3.common.utils import check_shape_equal
from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn, VecEnvWrapper


class VecNormalize(VecEnvWrapper):
    """
    Normalizes observations to zero mean and unit variance with running statistics, and scales rewards by the
    running standard deviation of the discounted return. Statistics are updated only while ``training`` is True;
    set it to False (and ``norm_reward`` to False) for evaluation. ``save``/``load`` keep the statistics.

    :param venv: the VecEnv to wrap
    :param training: whether to update the running statistics
    :param norm_obs: whether to normalize observations
    :param norm_reward: whether to normalize rewards
    :param clip_obs: normalized observations are clipped to ``[-clip_obs, clip_obs]``
    :param clip_reward: normalized rewards are clipped to ``[-clip_reward, clip_reward]``
    :param gamma: discount factor of the return whose variance scales the rewards (use the algorithm's)
    :param epsilon: added to variances before the square root, to avoid dividing by zero
    :param norm_obs_keys: for Dict observations, the keys to normalize (default: all of them, which must be Box)
    """

    obs_spaces: dict[str, spaces.Space]
    old_obs: np.ndarray | dict[str, np.ndarray]

    def __init__(
        self,
        venv: VecEnv,
        training: bool = True,
        norm_obs: bool = True,
        norm_reward: bool = True,
        clip_obs: float = 10.0,
        clip_reward: float = 10.0,
        gamma: float = 0.99,
        epsilon: float = 1e-8,
        norm_obs_keys: list[str] | None = None,
    ):
        VecEnvWrapper.__init__(self, venv)
        self.norm_obs = norm_obs
        self.norm_obs_keys = norm_obs_keys
        if self.norm_obs:
            self._sanity_checks()
            # Normalized images are no longer uint8 in [0, 255]: the space says so, so that a policy does not
            # divide them by 255 again (SB3 issue #1214). Other Box bounds are left as they are, as in SB3.
            if isinstance(self.observation_space, spaces.Dict):
                # A copy, so that the wrapped VecEnv's space is left untouched.
                dict_space: spaces.Dict = deepcopy(self.observation_space)
                self.observation_space = dict_space
                self.obs_spaces = dict_space.spaces
                self.obs_rms = {key: RunningMeanStd(shape=self.obs_spaces[key].shape) for key in self.norm_obs_keys}  # type: ignore[arg-type, union-attr]
                for key in self.obs_rms:
                    if is_image_space(self.obs_spaces[key]):
                        self.obs_spaces[key] = spaces.Box(-clip_obs, clip_obs, self.obs_spaces[key].shape, np.float32)
            else:
                self.obs_rms = RunningMeanStd(shape=self.observation_space.shape)  # type: ignore[assignment, arg-type]
                if is_image_space(self.observation_space):
                    self.observation_space = spaces.Box(-clip_obs, clip_obs, self.observation_space.shape, np.float32)
        self.ret_rms = RunningMeanStd(shape=())
        self.clip_obs = clip_obs
        self.clip_reward = clip_reward
        # Discounted return of the current episode of each env; its running variance scales the rewards.
        self.returns = np.zeros(self.num_envs)
        self.gamma = gamma
        self.epsilon = epsilon
        self.training = training
        self.norm_reward = norm_reward
        self.old_reward = np.array([])

    def _sanity_checks(self) -> None:
        """Check that the observations to normalize are Box (and resolve the default ``norm_obs_keys``)."""
        if isinstance(self.observation_space, spaces.Dict):
            if self.norm_obs_keys is None:
                self.norm_obs_keys = list(self.observation_space.spaces.keys())
            unknown_keys = [key for key in self.norm_obs_keys if key not in self.observation_space.spaces]
            if unknown_keys:
                raise ValueError(
                    f"norm_obs_keys {unknown_keys} are not keys of the observation space; "
                    f"valid keys are {list(self.observation_space.spaces.keys())}"
                )
            for obs_key in self.norm_obs_keys:
                if not isinstance(self.observation_space.spaces[obs_key], spaces.Box):
                    raise ValueError(
                        f"VecNormalize only supports `gym.spaces.Box` observation spaces but {obs_key} "
                        f"is of type {self.observation_space.spaces[obs_key]}. "
                        "You should probably explicitly pass the observation keys "
                        " that should be normalized via the `norm_obs_keys` parameter."
                    )
        elif isinstance(self.observation_space, spaces.Box):
            if self.norm_obs_keys is not None:
                raise ValueError("`norm_obs_keys` param is applicable only with `gym.spaces.Dict` observation spaces")
        else:
            raise ValueError(
                "VecNormalize only supports `gym.spaces.Box` and `gym.spaces.Dict` observation spaces, "
                f"not {self.observation_space}"
            )

    def __getstate__(self) -> dict[str, Any]:
        """
        :return: the state to pickle: everything but the wrapped VecEnv (often not picklable) and what derives from it
        """
        state = self.__dict__.copy()
        del state["venv"]
        del state["class_attributes"]
        del state["returns"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """
        Restore a pickled state; ``set_venv()`` must be called before the object is used.

        :param state: the unpickled state
        """
        # Files written before norm_obs_keys existed normalized every key.
        if "norm_obs_keys" not in state and isinstance(state["observation_space"], spaces.Dict):
            state["norm_obs_keys"] = list(state["observation_space"].spaces.keys())
        self.__dict__.update(state)
        if "venv" in state:
            raise AssertionError("a pickled VecNormalize must not contain its VecEnv")
        self.venv = None  # type: ignore[assignment]

    def set_venv(self, venv: VecEnv) -> None:
        """
        Wrap ``venv`` with this (unpickled) VecNormalize.

        :param venv: the VecEnv to wrap; its observation shapes must match the saved statistics
        """
        if self.venv is not None:
            raise ValueError("Trying to set venv of already initialized VecNormalize wrapper.")
        self.venv = venv
        self.num_envs = venv.num_envs
        self.class_attributes = dict(inspect.getmembers(self.__class__))
        self.render_mode = venv.render_mode
        check_shape_equal(self.observation_space, venv.observation_space)
        self.returns = np.zeros(self.num_envs)

    def _update_obs_rms(self, obs: np.ndarray | dict[str, np.ndarray]) -> None:
        """Add a batch of raw observations to the observation statistics (when training)."""
        if not (self.training and self.norm_obs):
            return
        if isinstance(obs, dict) and isinstance(self.obs_rms, dict):
            for key, rms in self.obs_rms.items():
                rms.update(obs[key])
        else:
            self.obs_rms.update(obs)  # type: ignore[union-attr]

    def step_wait(self) -> VecEnvStepReturn:
        """
        Step the wrapped VecEnv, update the statistics (when training), then normalize observations (terminal ones
        in the infos too) and rewards.

        :return: normalized observations, normalized rewards, dones, infos
        """
        obs, rewards, dones, infos = self.venv.step_wait()
        if not isinstance(obs, (np.ndarray, dict)):
            raise TypeError(f"VecNormalize needs array or dict observations, got {type(obs)}")
        self.old_obs = obs
        self.old_reward = rewards
        self._update_obs_rms(obs)
        obs = self.normalize_obs(obs)
        if self.training:
            self._update_reward(rewards)
        rewards = self.normalize_reward(rewards)
        for idx, done in enumerate(dones):
            if done and "terminal_observation" in infos[idx]:
                infos[idx]["terminal_observation"] = self.normalize_obs(infos[idx]["terminal_observation"])
        # The return accumulates per episode.
        self.returns[dones] = 0
        return obs, rewards, dones, infos

    def _update_reward(self, reward: np.ndarray) -> None:
        """Update the discounted returns and their running variance."""
        self.returns = self.returns * self.gamma + reward
        self.ret_rms.update(self.returns)

    def _normalize_obs(self, obs: np.ndarray, obs_rms: RunningMeanStd) -> np.ndarray:
        """
        :param obs: raw observations
        :param obs_rms: their statistics
        :return: the observations standardized and clipped to ``[-clip_obs, clip_obs]``
        """
        return np.clip((obs - obs_rms.mean) / np.sqrt(obs_rms.var + self.epsilon), -self.clip_obs, self.clip_obs)

    def _unnormalize_obs(self, obs: np.ndarray, obs_rms: RunningMeanStd) -> np.ndarray:
        """
        :param obs: normalized observations
        :param obs_rms: the statistics used to normalize them
        :return: the observations in their original scale (clipping is not undone)
        """
        return (obs * np.sqrt(obs_rms.var + self.epsilon)) + obs_rms.mean

    def normalize_obs(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """
        Normalize observations with the current statistics, without updating them.

        :param obs: raw observations (array, or dict for Dict spaces; keys outside ``norm_obs_keys`` are copied as is)
        :return: normalized float32 observations (a new object; the input is not modified)
        """
        obs_ = deepcopy(obs)
        if self.norm_obs:
            if isinstance(obs, dict) and isinstance(self.obs_rms, dict):
                for key in self.norm_obs_keys:  # type: ignore[union-attr]
                    obs_[key] = self._normalize_obs(obs[key], self.obs_rms[key]).astype(np.float32)  # type: ignore[index]
            else:
                obs_ = self._normalize_obs(obs, self.obs_rms).astype(np.float32)  # type: ignore[arg-type]
        return obs_

    def normalize_reward(self, reward: np.ndarray) -> np.ndarray:
        """
        Scale rewards by the running standard deviation of the return, without updating it.

        :param reward: raw rewards
        :return: scaled and clipped rewards, as float32
        """
        if self.norm_reward:
            reward = np.clip(reward / np.sqrt(self.ret_rms.var + self.epsilon), -self.clip_reward, self.clip_reward)
        # The statistics are float64; rewards are float32 everywhere else.
        return reward.astype(np.float32)

    def unnormalize_obs(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """
        Invert ``normalize_obs`` (up to clipping) with the current statistics.

        :param obs: normalized observations
        :return: observations in their original scale (a new object)
        """
        obs_ = deepcopy(obs)
        if self.norm_obs:
            if isinstance(obs, dict) and isinstance(self.obs_rms, dict):
                for key in self.norm_obs_keys:  # type: ignore[union-attr]
                    obs_[key] = self._unnormalize_obs(obs[key], self.obs_rms[key])  # type: ignore[index]
            else:
                obs_ = self._unnormalize_obs(obs, self.obs_rms)  # type: ignore[arg-type]
        return obs_

    def unnormalize_reward(self, reward: np.ndarray) -> np.ndarray:
        """
        Invert ``normalize_reward`` (up to clipping) with the current statistics.

        :param reward: normalized rewards
        :return: rewards in their original scale
        """
        if self.norm_reward:
            return reward * np.sqrt(self.ret_rms.var + self.epsilon)
        return reward

    def get_original_obs(self) -> np.ndarray | dict[str, np.ndarray]:
        """
        :return: a copy of the raw observations of the latest ``reset()`` or ``step()``
        """
        return deepcopy(self.old_obs)

    def get_original_reward(self) -> np.ndarray:
        """
        :return: a copy of the raw rewards of the latest ``step()``
        """
        return self.old_reward.copy()

    def reset(self) -> np.ndarray | dict[str, np.ndarray]:
        """
        Reset the wrapped VecEnv and the discounted returns; the first observations update the statistics when training.

        :return: normalized first observations
        """
        obs = self.venv.reset()
        if not isinstance(obs, (np.ndarray, dict)):
            raise TypeError(f"VecNormalize needs array or dict observations, got {type(obs)}")
        self.old_obs = obs
        self.returns = np.zeros(self.num_envs)
        self._update_obs_rms(obs)
        return self.normalize_obs(obs)

    @staticmethod
    def load(load_path: str, venv: VecEnv, trusted: bool = False) -> "VecNormalize":
        """
        Load a VecNormalize saved with ``save()``, by this library or by Stable-Baselines3, and wrap ``venv`` with it.

        Unlike a plain ``pickle.load``, nothing from the file runs: it is decoded and the VecNormalize is built from its
        checked fields (statistics, spaces, settings; see ``docs/guide/security.md``). SB3's class paths map to this
        library's classes, so SB3 files load without torch.

        :param load_path: path of the file
        :param venv: the VecEnv to wrap
        :param trusted: unpickle with Python's pickle (runs code from the file); only for files you trust, e.g. those
            of a VecNormalize subclass
        :return: the VecNormalize, wrapping ``venv``
        :raises LoadError: when the file is corrupt or holds something other than a VecNormalize
        """
        vec_normalize = load_from_pkl(load_path, trusted=trusted)
        if not isinstance(vec_normalize, VecNormalize):
            raise LoadError(f"{load_path} holds a {type(vec_normalize).__name__}, not a VecNormalize")
        vec_normalize.set_venv(venv)
        return vec_normalize

    def save(self, save_path: str) -> None:
        """
        Pickle this VecNormalize (statistics and settings, without the wrapped VecEnv) to a file.
        The file is written atomically: an interrupted save leaves any previous file intact.

        :param save_path: path of the file
        """
        with atomic_open(save_path) as file_handler:
            pickle.dump(self, file_handler)
