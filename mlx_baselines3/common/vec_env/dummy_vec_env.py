"""A vectorized environment that steps its sub-environments one after the other in the current process."""

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np

from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn
from mlx_baselines3.common.vec_env.patch_gym import _patch_env
from mlx_baselines3.common.vec_env.util import dict_to_obs, obs_space_info


class DummyVecEnv(VecEnv):
    """
    Vectorized environment that runs its sub-environments sequentially in this process. For cheap environments
    (CartPole, Pendulum ...) this is faster than ``SubprocVecEnv``, whose inter-process traffic costs more than the
    environment itself; it is also the way to give a single environment to an algorithm.

    :param env_fns: functions that each create a new environment
    :raises ValueError: when two functions return the same environment instance
    """

    actions: np.ndarray

    def __init__(self, env_fns: list[Callable[[], gym.Env]]):
        self.envs = [_patch_env(env_fn()) for env_fn in env_fns]
        if len({id(env.unwrapped) for env in self.envs}) != len(self.envs):
            raise ValueError(
                "You tried to create multiple environments, but the function to create them returned the same instance "
                "instead of creating different objects. "
                "You are probably using `make_vec_env(lambda: env)` or `DummyVecEnv([lambda: env] * n_envs)`. "
                "You should replace `lambda: env` by a `make_env` function that "
                "creates a new instance of the environment at every call "
                "(using `gym.make()` for instance). You can take a look at the documentation for an example. "
                "Please read https://github.com/DLR-RM/stable-baselines3/issues/1151 for more information."
            )
        first_env = self.envs[0]
        super().__init__(len(env_fns), first_env.observation_space, first_env.action_space)
        self.keys, shapes, dtypes = obs_space_info(first_env.observation_space)
        self.buf_obs = OrderedDict(
            [(key, np.zeros((self.num_envs, *tuple(shapes[key])), dtype=dtypes[key])) for key in self.keys]
        )
        self.buf_dones = np.zeros((self.num_envs,), dtype=bool)
        self.buf_rews = np.zeros((self.num_envs,), dtype=np.float32)
        self.buf_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self.metadata = first_env.metadata

    def step_async(self, actions: np.ndarray) -> None:
        self.actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        for env_idx, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(self.actions[env_idx])
            self.buf_rews[env_idx] = reward
            self.buf_dones[env_idx] = terminated or truncated
            # A time-limit cut is only a truncation if the episode did not terminate on the same step.
            info["TimeLimit.truncated"] = truncated and not terminated
            if self.buf_dones[env_idx]:
                # Keep the last observation of the episode (needed for bootstrapping), then start the next episode.
                info["terminal_observation"] = obs
                obs, self.reset_infos[env_idx] = env.reset()
            self.buf_infos[env_idx] = info
            self._save_obs(env_idx, obs)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), deepcopy(self.buf_infos)

    def reset(self) -> VecEnvObs:
        for env_idx, env in enumerate(self.envs):
            # Only pass options when some were set, so that envs whose reset() takes no options keep working.
            maybe_options = {"options": self._options[env_idx]} if self._options[env_idx] else {}
            obs, self.reset_infos[env_idx] = env.reset(seed=self._seeds[env_idx], **maybe_options)
            self._save_obs(env_idx, obs)
        self._reset_seeds()
        self._reset_options()
        return self._obs_from_buf()

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but this method assumes it is `rgb_array` to obtain images."
            )
            return [None for _ in self.envs]
        return [env.render() for env in self.envs]  # type: ignore[misc]

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """
        Render the sub-environments; with several, their images are tiled into one (see ``VecEnv.render``).

        :param mode: the render mode (must match the environments' ``render_mode``)
        :return: the tiled image in ``rgb_array`` mode, else None
        """
        return super().render(mode=mode)

    def _save_obs(self, env_idx: int, obs: VecEnvObs) -> None:
        for key in self.keys:
            if key is None:
                self.buf_obs[key][env_idx] = obs
            else:
                self.buf_obs[key][env_idx] = obs[key]  # type: ignore[call-overload]

    def _obs_from_buf(self) -> VecEnvObs:
        # Copies: the buffers are overwritten in place at the next step.
        return dict_to_obs(self.observation_space, deepcopy(self.buf_obs))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Read an attribute of sub-environments (see ``VecEnv.get_attr``)."""
        return [env.get_wrapper_attr(attr_name) for env in self._get_target_envs(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on sub-environments (see ``VecEnv.set_attr``)."""
        for env in self._get_target_envs(indices):
            setattr(env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call a method of sub-environments (see ``VecEnv.env_method``)."""
        return [env.get_wrapper_attr(method_name)(*method_args, **method_kwargs) for env in self._get_target_envs(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Whether sub-environments are wrapped with ``wrapper_class`` (see ``VecEnv.env_is_wrapped``)."""
        # Imported here: env_util imports the vec envs.
        from mlx_baselines3.common.env_util import is_wrapped

        return [is_wrapped(env, wrapper_class) for env in self._get_target_envs(indices)]

    def _get_target_envs(self, indices: VecEnvIndices) -> list[gym.Env]:
        return [self.envs[i] for i in self._get_indices(indices)]
