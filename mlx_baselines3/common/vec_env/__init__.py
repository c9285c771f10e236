"""Vectorized environments and their wrappers (same names and behaviour as ``stable_baselines3.common.vec_env``)."""

from copy import deepcopy
from typing import TypeVar

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.vec_env.base_vec_env import CloudpickleWrapper, VecEnv, VecEnvWrapper
from mlx_baselines3.common.vec_env.dummy_vec_env import DummyVecEnv
from mlx_baselines3.common.vec_env.stacked_observations import StackedObservations
from mlx_baselines3.common.vec_env.subproc_vec_env import SubprocVecEnv
from mlx_baselines3.common.vec_env.vec_check_nan import VecCheckNan
from mlx_baselines3.common.vec_env.vec_extract_dict_obs import VecExtractDictObs
from mlx_baselines3.common.vec_env.vec_frame_stack import VecFrameStack
from mlx_baselines3.common.vec_env.vec_monitor import VecMonitor
from mlx_baselines3.common.vec_env.vec_normalize import VecNormalize
from mlx_baselines3.common.vec_env.vec_transpose import VecTransposeImage
from mlx_baselines3.common.vec_env.vec_video_recorder import VecVideoRecorder

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


def unwrap_vec_normalize(env: VecEnv) -> VecNormalize | None:
    """
    :param env: the VecEnv to search
    :return: the outermost ``VecNormalize`` wrapping ``env``, or None
    """
    return unwrap_vec_wrapper(env, VecNormalize)


def sync_envs_normalization(env: VecEnv, eval_env: VecEnv) -> None:
    """
    Copy the normalization statistics of every ``VecNormalize`` of a training env to the ``VecNormalize`` at the same
    place in an evaluation env. Both envs must be wrapped the same way.

    :param env: the training env
    :param eval_env: the evaluation env, which receives copies of the statistics
    """
    env_tmp, eval_env_tmp = env, eval_env
    while isinstance(env_tmp, VecEnvWrapper):
        if not isinstance(eval_env_tmp, VecEnvWrapper):
            raise UsageError(
                "Error while synchronizing normalization stats: expected the eval env to be "
                f"a VecEnvWrapper but got {eval_env_tmp} instead. "
                "This is probably due to the training env not being wrapped the same way as the evaluation env. "
                f"Training env type: {env_tmp}."
            )
        if isinstance(env_tmp, VecNormalize):
            if not isinstance(eval_env_tmp, VecNormalize):
                raise UsageError(
                    "Error while synchronizing normalization stats: expected the eval env to be "
                    f"a VecNormalize but got {eval_env_tmp} instead. "
                    "This is probably due to the training env not being wrapped the same way as the evaluation env. "
                    f"Training env type: {env_tmp}."
                )
            # obs_rms does not exist when observations are not normalized.
            if hasattr(env_tmp, "obs_rms"):
                eval_env_tmp.obs_rms = deepcopy(env_tmp.obs_rms)
            eval_env_tmp.ret_rms = deepcopy(env_tmp.ret_rms)
        env_tmp = env_tmp.venv
        eval_env_tmp = eval_env_tmp.venv


__all__ = [
    "CloudpickleWrapper",
    "DummyVecEnv",
    "StackedObservations",
    "SubprocVecEnv",
    "VecCheckNan",
    "VecEnv",
    "VecEnvWrapper",
    "VecExtractDictObs",
    "VecFrameStack",
    "VecMonitor",
    "VecNormalize",
    "VecTransposeImage",
    "VecVideoRecorder",
    "is_vecenv_wrapped",
    "sync_envs_normalization",
    "unwrap_vec_normalize",
    "unwrap_vec_wrapper",
]
