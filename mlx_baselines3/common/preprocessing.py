"""Space inspection and the conversion of raw observations into network inputs."""

import warnings

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.type_aliases import TensorDict


def is_image_space_channels_first(observation_space: spaces.Box) -> bool:
    """
    Guess whether an image space is channels-first (C, H, W) or channels-last (H, W, C): the channel axis is taken to be
    the smallest of the three.

    :param observation_space: an image space (see ``is_image_space``)
    :return: True for channels-first
    """
    smallest_dimension = int(np.argmin(observation_space.shape))
    if smallest_dimension == 1:
        warnings.warn("Treating image space as channels-last, while second dimension was smallest of the three.")
    return smallest_dimension == 0


def is_image_space(observation_space: spaces.Space, check_channels: bool = False, normalized_image: bool = False) -> bool:
    """
    Whether a space holds images: a 3-D ``uint8`` Box with bounds [0, 255] (any 3-D Box when ``normalized_image``).

    :param observation_space: the space
    :param check_channels: also require 1, 3 or 4 channels (off by default: frame stacking adds channels)
    :param normalized_image: the images are already normalized, skip the dtype and bounds checks
    :return: True for an image space
    """
    if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 3):
        return False
    if not normalized_image:
        if observation_space.dtype != np.uint8:
            return False
        if np.any(observation_space.low != 0) or np.any(observation_space.high != 255):
            return False
    if not check_channels:
        return True
    channel_axis = 0 if is_image_space_channels_first(observation_space) else -1
    return observation_space.shape[channel_axis] in (1, 3, 4)


def maybe_transpose(observation: np.ndarray, observation_space: spaces.Space) -> np.ndarray:
    """
    Move the channel axis of an image observation to the front when that makes it fit the (channels-first) space.

    :param observation: the observation, single or batched
    :param observation_space: the space the policy expects
    :return: the observation, transposed if needed
    """
    # Imported here: the vec_env package imports this module.
    from mlx_baselines3.common.vec_env import VecTransposeImage

    fits = observation.shape == observation_space.shape or observation.shape[1:] == observation_space.shape
    if is_image_space(observation_space) and not fits:
        transposed = VecTransposeImage.transpose_image(observation)
        if transposed.shape == observation_space.shape or transposed.shape[1:] == observation_space.shape:
            return transposed
    return observation


def _one_hot(indices: mx.array, num_classes: int) -> mx.array:
    return (indices[..., None] == mx.arange(num_classes)).astype(mx.float32)


def preprocess_obs(
    obs: "mx.array | TensorDict", observation_space: spaces.Space, normalize_images: bool = True
) -> "mx.array | TensorDict":
    """
    Turn a batch of raw observations into float network inputs: images scaled to [0, 1], discrete observations one-hot.

    :param obs: the batch of observations (a dict of batches for Dict spaces)
    :param observation_space: the observation space
    :param normalize_images: divide image observations by 255
    :return: the preprocessed batch
    """
    if isinstance(observation_space, spaces.Dict):
        assert isinstance(obs, dict), f"Expected dict, got {type(obs)} (the observation space is a Dict)"
        return {key: preprocess_obs(_obs, observation_space[key], normalize_images) for key, _obs in obs.items()}  # type: ignore
    assert isinstance(obs, mx.array), f"Expected an mx.array observation, got {type(obs)}"
    if isinstance(observation_space, spaces.Box):
        if normalize_images and is_image_space(observation_space):
            return obs.astype(mx.float32) / 255.0
        return obs.astype(mx.float32)
    if isinstance(observation_space, spaces.Discrete):
        return _one_hot(obs.reshape(-1).astype(mx.int32) - int(observation_space.start), int(observation_space.n))
    if isinstance(observation_space, spaces.MultiDiscrete):
        obs = obs.astype(mx.int32).reshape(obs.shape[0], -1) - mx.array(observation_space.start.reshape(-1))
        nvec = observation_space.nvec.reshape(-1)
        return mx.concatenate([_one_hot(obs[:, i], int(n)) for i, n in enumerate(nvec)], axis=-1)
    if isinstance(observation_space, spaces.MultiBinary):
        return obs.astype(mx.float32)
    raise NotImplementedError(f"Preprocessing not implemented for {observation_space}")


def get_obs_shape(observation_space: spaces.Space) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """
    Shape of one observation as the buffers store it.

    :param observation_space: the observation space
    :return: the shape (a dict of shapes for Dict spaces)
    """
    if isinstance(observation_space, spaces.Box):
        return observation_space.shape
    if isinstance(observation_space, spaces.Discrete):
        return (1,)
    if isinstance(observation_space, spaces.MultiDiscrete):
        return (len(observation_space.nvec),)
    if isinstance(observation_space, spaces.MultiBinary):
        return observation_space.shape
    if isinstance(observation_space, spaces.Dict):
        return {key: get_obs_shape(subspace) for (key, subspace) in observation_space.spaces.items()}  # type: ignore[misc]
    raise NotImplementedError(f"{observation_space} observation space is not supported")


def get_flattened_obs_dim(observation_space: spaces.Space) -> int:
    """
    Size of an observation once flattened (and one-hot encoded for discrete spaces).

    :param observation_space: the observation space
    :return: the flattened dimension
    """
    if isinstance(observation_space, spaces.MultiDiscrete):
        # A NumPy integer, as in SB3.
        return sum(observation_space.nvec)
    return int(spaces.utils.flatdim(observation_space))


def get_action_dim(action_space: spaces.Space) -> int:
    """
    Number of numbers in one action.

    :param action_space: the action space
    :return: the action dimension
    """
    if isinstance(action_space, spaces.Box):
        return int(np.prod(action_space.shape))
    if isinstance(action_space, spaces.Discrete):
        return 1
    if isinstance(action_space, spaces.MultiDiscrete):
        return len(action_space.nvec)
    if isinstance(action_space, spaces.MultiBinary):
        if not isinstance(action_space.n, (int, np.integer)):
            raise UsageError(
                f"Multi-dimensional MultiBinary({action_space.n}) action space is not supported. You can flatten it instead."
            )
        return int(action_space.n)
    raise NotImplementedError(f"{action_space} action space is not supported")


def check_for_nested_spaces(obs_space: spaces.Space) -> None:
    """
    Refuse Dict/Tuple spaces nested inside Dict/Tuple spaces.

    :param obs_space: the observation space
    """
    if isinstance(obs_space, (spaces.Dict, spaces.Tuple)):
        sub_spaces = obs_space.spaces.values() if isinstance(obs_space, spaces.Dict) else obs_space.spaces
        for sub_space in sub_spaces:
            if isinstance(sub_space, (spaces.Dict, spaces.Tuple)):
                raise NotImplementedError(
                    "Nested observation spaces are not supported (Tuple/Dict space inside Tuple/Dict space)."
                )
