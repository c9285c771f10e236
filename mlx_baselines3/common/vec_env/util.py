"""Helpers to store observations of any supported space as a dict of NumPy arrays, and back."""

from collections import OrderedDict
from typing import Any

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.preprocessing import check_for_nested_spaces
from mlx_baselines3.common.vec_env.base_vec_env import VecEnvObs


def copy_obs_dict(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """
    Copy every array of a dict of observations.

    :param obs: the observations, as a dict of arrays
    :return: a new (ordered) dict holding copies of the arrays
    """
    if not isinstance(obs, dict):
        raise TypeError(f"copy_obs_dict expects a dict of arrays, got {type(obs)}")
    return OrderedDict([(key, np.copy(value)) for key, value in obs.items()])


def dict_to_obs(obs_space: spaces.Space, obs_dict: dict[Any, np.ndarray]) -> VecEnvObs:
    """
    Turn the internal dict representation (see ``obs_space_info``) back into what the space describes.

    :param obs_space: the observation space
    :param obs_dict: the arrays, keyed as ``obs_space_info`` keys them
    :return: the dict itself for a Dict space, a tuple for a Tuple space, the single array ``obs_dict[None]`` otherwise
    """
    if isinstance(obs_space, spaces.Dict):
        return obs_dict
    if isinstance(obs_space, spaces.Tuple):
        if len(obs_dict) != len(obs_space.spaces):
            raise UsageError("size of observation does not match size of observation space")
        return tuple(obs_dict[i] for i in range(len(obs_space.spaces)))
    if set(obs_dict.keys()) != {None}:
        raise UsageError("multiple observation keys for unstructured observation space")
    return obs_dict[None]


def obs_space_info(obs_space: spaces.Space) -> tuple[list[Any], dict[Any, tuple[int, ...]], dict[Any, np.dtype]]:
    """
    Describe an observation space as named parts: a Dict space by its keys, a Tuple space by the positions
    ``0, 1, ...`` and any other space by the single key ``None``.

    :param obs_space: the observation space (no nesting of Dict/Tuple)
    :return: ``(keys, shapes, dtypes)``: the keys in order, and the shape and dtype of each part
    """
    check_for_nested_spaces(obs_space)
    if isinstance(obs_space, spaces.Dict):
        sub_spaces: dict[Any, spaces.Space] = dict(obs_space.spaces)
    elif isinstance(obs_space, spaces.Tuple):
        sub_spaces = dict(enumerate(obs_space.spaces))
    else:
        if hasattr(obs_space, "spaces"):
            raise UsageError(f"Unsupported structured space '{type(obs_space)}'")
        sub_spaces = {None: obs_space}
    keys = list(sub_spaces.keys())
    shapes = {key: space.shape for key, space in sub_spaces.items()}
    dtypes = {key: space.dtype for key, space in sub_spaces.items()}
    return keys, shapes, dtypes  # type: ignore[return-value]
