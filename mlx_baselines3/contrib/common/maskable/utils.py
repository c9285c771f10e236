"""Finding the action masks of an environment: the ``action_masks()`` method, on the env or one of its wrappers."""

import numpy as np

from mlx_baselines3.common.type_aliases import GymEnv
from mlx_baselines3.common.vec_env import VecEnv

EXPECTED_METHOD_NAME = "action_masks"


def get_action_masks(env: GymEnv) -> np.ndarray:
    """
    :param env: a gymnasium env or a VecEnv whose envs have an ``action_masks()`` method
    :return: the masks (one row per env for a VecEnv), True where an action is allowed
    """
    if isinstance(env, VecEnv):
        return np.stack(env.env_method(EXPECTED_METHOD_NAME))
    return env.get_wrapper_attr(EXPECTED_METHOD_NAME)()


def is_masking_supported(env: GymEnv) -> bool:
    """
    :param env: a gymnasium env or a VecEnv
    :return: whether the env (or one of its wrappers) has an ``action_masks()`` method
    """
    if isinstance(env, VecEnv):
        return env.has_attr(EXPECTED_METHOD_NAME)
    try:
        env.get_wrapper_attr(EXPECTED_METHOD_NAME)
        return True
    except AttributeError:
        return False
