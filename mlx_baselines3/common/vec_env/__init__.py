"""Vectorized environments and their wrappers (same names and behaviour as ``stable_baselines3.common.vec_env``)."""

from typing import TypeVar

from mlx_baselines3.common.vec_env.base_vec_env import CloudpickleWrapper, VecEnv, VecEnvWrapper
from mlx_baselines3.common.vec_env.dummy_vec_env import DummyVecEnv

VecEnvWrapperT = TypeVar("VecEnvWrapperT", bound=VecEnvWrapper)


def unwrap_vec_wrapper(env: VecEnv, vec_wrapper_class: type[VecEnvWrapperT]) -> VecEnvWrapperT | None:
    """
    Find the outermost wrapper of a given class in a chain of ``VecEnvWrapper``.

    :param env: the VecEnv to search
    :param vec_wrapper_class: the wrapper class to look for
    :return: that wrapper, or None when ``env`` is not wrapped with it
    """
    env_tmp = env
    while isinstance(env_tmp, VecEnvWrapper):
        if isinstance(env_tmp, vec_wrapper_class):
            return env_tmp
        env_tmp = env_tmp.venv
    return None


def is_vecenv_wrapped(env: VecEnv, vec_wrapper_class: type[VecEnvWrapper]) -> bool:
    """
    :param env: the VecEnv to search
    :param vec_wrapper_class: the wrapper class to look for
    :return: whether ``env`` is wrapped with ``vec_wrapper_class``
    """
    return unwrap_vec_wrapper(env, vec_wrapper_class) is not None


__all__ = [
    "CloudpickleWrapper",
    "DummyVecEnv",
    "VecEnv",
    "VecEnvWrapper",
    "is_vecenv_wrapped",
    "unwrap_vec_wrapper",
]
