"""Rollout buffers that also store the action masks the actions were sampled under, for the masked update."""

from typing import Any, NamedTuple

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.type_aliases import TensorDict
from mlx_baselines3.common.vec_env import VecNormalize as VecNormalize  # sb3-contrib's module namespace


class MaskableRolloutBufferSamples(NamedTuple):
    observations: mx.array
    actions: mx.array
    old_values: mx.array
    old_log_prob: mx.array
    advantages: mx.array
    returns: mx.array
    action_masks: mx.array


class MaskableDictRolloutBufferSamples(NamedTuple):
    observations: TensorDict
    actions: mx.array
    old_values: mx.array
    old_log_prob: mx.array
    advantages: mx.array
    returns: mx.array
    action_masks: mx.array


def mask_dims(action_space: spaces.Space) -> int:
    """
    :param action_space: a Discrete, MultiDiscrete or 1D MultiBinary space
    :return: the number of mask flags per observation (one per choice; two per binary action)
    """
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(sum(action_space.nvec))
    if isinstance(action_space, spaces.MultiBinary):
        if not isinstance(action_space.n, int):
            raise UsageError(
                f"Multi-dimensional MultiBinary({action_space.n}) action space is not supported. You can flatten it instead."
            )
        return 2 * action_space.n
    raise ValueError(f"Unsupported action space {type(action_space)}")


class _MaskStorage:
    """
    The mask array and its handling, mixed in before ``RolloutBuffer`` or ``DictRolloutBuffer`` (each method extends
    the buffer's own through ``super()``).
    """

    action_masks: np.ndarray
    action_space: spaces.Space
    buffer_size: int
    n_envs: int
    pos: int
    generator_ready: bool

    def reset(self) -> None:
        self.mask_dims = mask_dims(self.action_space)
        # All allowed unless told otherwise: a rollout collected without masking trains without masks in effect.
        self.action_masks = np.ones((self.buffer_size, self.n_envs, self.mask_dims), dtype=np.float32)
        super().reset()  # type: ignore[misc]

    def add(self, *args: Any, action_masks: np.ndarray | None = None, **kwargs: Any) -> None:
        """
        Store one step, with the masks the actions were chosen under (None: all actions allowed).
        """
        if action_masks is not None:
            self.action_masks[self.pos] = np.asarray(action_masks).reshape((self.n_envs, self.mask_dims))
        super().add(*args, **kwargs)  # type: ignore[misc]

    def _flatten_for_sampling(self) -> None:
        if not self.generator_ready:
            self.action_masks = self.swap_and_flatten(self.action_masks)  # type: ignore[attr-defined]
        super()._flatten_for_sampling()  # type: ignore[misc]

    def _mlx_rollout(self) -> tuple:
        masks = self.to_mlx(self.action_masks.reshape(-1, self.mask_dims))  # type: ignore[attr-defined]
        return (*super()._mlx_rollout(), masks)  # type: ignore[misc]


class MaskableRolloutBuffer(_MaskStorage, RolloutBuffer):
    """
    ``RolloutBuffer`` with the action masks of each step (``mask_dims`` flags per env, 1 = allowed).

    :param buffer_size: number of steps per environment (``n_steps``)
    :param observation_space: the observation space
    :param action_space: the action space (Discrete, MultiDiscrete or MultiBinary)
    :param device: kept for SB3 compatibility
    :param gae_lambda: bias/variance trade-off of GAE
    :param gamma: discount factor
    :param n_envs: number of parallel environments
    """

    @staticmethod
    def _gather(data: tuple, batch_inds: mx.array) -> MaskableRolloutBufferSamples:  # type: ignore[override]
        return MaskableRolloutBufferSamples(*(array[batch_inds] for array in data))


class MaskableDictRolloutBuffer(_MaskStorage, DictRolloutBuffer):
    """
    ``DictRolloutBuffer`` with the action masks of each step.

    :param buffer_size: number of steps per environment (``n_steps``)
    :param observation_space: the Dict observation space
    :param action_space: the action space (Discrete, MultiDiscrete or MultiBinary)
    :param device: kept for SB3 compatibility
    :param gae_lambda: bias/variance trade-off of GAE
    :param gamma: discount factor
    :param n_envs: number of parallel environments
    """

    @staticmethod
    def _gather(data: tuple, batch_inds: mx.array) -> MaskableDictRolloutBufferSamples:  # type: ignore[override]
        observations = {key: obs[batch_inds] for key, obs in data[0].items()}
        return MaskableDictRolloutBufferSamples(observations, *(array[batch_inds] for array in data[1:]))
