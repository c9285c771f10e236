"""Frame stacking of batched observations (the logic behind ``VecFrameStack``)."""

import warnings
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

TObs = TypeVar("TObs", np.ndarray, dict[str, np.ndarray])


class StackedObservations(Generic[TObs]):
    """
    Keeps the last ``n_stack`` observations of each env, concatenated along the channel axis: the first axis of an
    observation (``channels_order="first"``) or its last (``"last"``). The oldest frame comes first, the newest last;
    after a reset the older slots are zeros.

    :param num_envs: number of envs
    :param n_stack: number of observations to stack
    :param observation_space: observation space of one env (Box, or Dict of Box)
    :param channels_order: "first" or "last"; None stacks images along their channel axis (detected from the
        shape) and any other Box along its last axis. For a Dict space, a mapping gives one value per key.
    """

    def __init__(
        self,
        num_envs: int,
        n_stack: int,
        observation_space: spaces.Box | spaces.Dict,
        channels_order: str | Mapping[str, str | None] | None = None,
    ) -> None:
        if n_stack < 1:
            raise ValueError(f"n_stack must be at least 1, got {n_stack}")
        self.n_stack = n_stack
        self.observation_space = observation_space
        if isinstance(observation_space, spaces.Dict):
            if not isinstance(channels_order, Mapping):
                channels_order = {key: channels_order for key in observation_space.spaces}
            self.sub_stacked_observations = {
                key: StackedObservations(num_envs, n_stack, subspace, channels_order[key])  # type: ignore[arg-type]
                for key, subspace in observation_space.spaces.items()
            }
            self.stacked_observation_space: spaces.Dict | spaces.Box = spaces.Dict(
                {key: sub_stack.stacked_observation_space for key, sub_stack in self.sub_stacked_observations.items()}
            )
        elif isinstance(observation_space, spaces.Box):
            if isinstance(channels_order, Mapping):
                raise TypeError("When the observation space is Box, channels_order can't be a dict.")
            self.channels_first, self.stack_dimension, self.stacked_shape, self.repeat_axis = self.compute_stacking(
                n_stack, observation_space, channels_order
            )
            # np.repeat (not np.tile) gives each bound n_stack times in a row: only exact for uniform bounds, but it
            # is SB3's choice, and saved models compare their observation space with the env's.
            self.stacked_observation_space = spaces.Box(
                low=np.repeat(observation_space.low, n_stack, axis=self.repeat_axis),
                high=np.repeat(observation_space.high, n_stack, axis=self.repeat_axis),
                dtype=observation_space.dtype,  # type: ignore[arg-type]
            )
            self.stacked_obs = np.zeros((num_envs, *self.stacked_shape), dtype=observation_space.dtype)
        else:
            raise TypeError(
                f"StackedObservations only supports Box and Dict as observation spaces. {observation_space} was provided."
            )

    @staticmethod
    def compute_stacking(
        n_stack: int, observation_space: spaces.Box, channels_order: str | None = None
    ) -> tuple[bool, int, tuple[int, ...], int]:
        """
        Work out where observations are stacked.

        :param n_stack: number of observations to stack
        :param observation_space: observation space of one env
        :param channels_order: "first", "last" or None (see the class docstring)
        :return: ``(channels_first, stack_dimension, stacked_shape, repeat_axis)``: whether stacking is along the
            first axis; the stacking axis of a batch (env axis included); the shape of one stacked observation; the
            stacking axis of one observation
        """
        if channels_order is None:
            channels_first = is_image_space(observation_space) and is_image_space_channels_first(observation_space)
        elif channels_order in ("first", "last"):
            channels_first = channels_order == "first"
        else:
            raise UsageError(f"`channels_order` must be one of following: 'last', 'first', got {channels_order!r}")
        stack_dimension = 1 if channels_first else -1
        repeat_axis = 0 if channels_first else -1
        stacked_shape = list(observation_space.shape)
        stacked_shape[repeat_axis] *= n_stack
        return channels_first, stack_dimension, tuple(stacked_shape), repeat_axis

    def _write_newest(self, stack: np.ndarray, observations: np.ndarray) -> None:
        """Write a batch of observations into the newest slot of a batch of stacks."""
        n_channels = observations.shape[self.stack_dimension]
        if self.channels_first:
            stack[:, -n_channels:, ...] = observations
        else:
            stack[..., -n_channels:] = observations

    def reset(self, observation: TObs) -> TObs:
        """
        Start new stacks: zeros, with ``observation`` as the newest frame.

        :param observation: the first observations of every env
        :return: the stacked observations
        """
        if isinstance(observation, dict):
            return {key: self.sub_stacked_observations[key].reset(obs) for key, obs in observation.items()}  # type: ignore[return-value]
        # A fresh array rather than zeroing in place: a stack returned earlier must not change under the caller.
        self.stacked_obs = np.zeros_like(self.stacked_obs)
        self._write_newest(self.stacked_obs, observation)
        return self.stacked_obs  # type: ignore[return-value]

    def update(self, observations: TObs, dones: np.ndarray, infos: list[dict[str, Any]]) -> tuple[TObs, list[dict[str, Any]]]:
        """
        Push new observations into the stacks. For an env whose episode ended, ``infos[i]["terminal_observation"]``
        is replaced by the stacked terminal observation and its stack restarts from zeros.

        :param observations: the new observations of every env
        :param dones: whether each env's episode ended at this step
        :param infos: the infos of the step, updated in place
        :return: the stacked observations and the infos
        """
        if isinstance(observations, dict):
            return self._update_dict(observations, dones, infos)  # type: ignore[return-value]
        n_channels = observations.shape[self.stack_dimension]
        # Shift every stack by one observation towards the front; the oldest frame wraps to the newest slot, which
        # is overwritten below. np.roll returns a new array, so stacks handed out before are left alone.
        self.stacked_obs = np.roll(self.stacked_obs, -n_channels, axis=self.stack_dimension)
        for env_idx, done in enumerate(dones):
            if not done:
                continue
            if "terminal_observation" in infos[env_idx]:
                if self.channels_first:
                    kept_frames = self.stacked_obs[env_idx, :-n_channels, ...]
                else:
                    kept_frames = self.stacked_obs[env_idx, ..., :-n_channels]
                infos[env_idx]["terminal_observation"] = np.concatenate(
                    (kept_frames, infos[env_idx]["terminal_observation"]), axis=self.repeat_axis
                )
            else:
                warnings.warn("VecFrameStack wrapping a VecEnv without terminal_observation info")
            self.stacked_obs[env_idx] = 0
        self._write_newest(self.stacked_obs, observations)
        return self.stacked_obs, infos  # type: ignore[return-value]

    def _update_dict(
        self, observations: dict[str, np.ndarray], dones: np.ndarray, infos: list[dict[str, Any]]
    ) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        """``update`` for Dict observations: each key has its own stacks, terminal observations are stacked per key."""
        stacked: dict[str, np.ndarray] = {}
        for key, obs in observations.items():
            key_infos = [
                {"terminal_observation": info["terminal_observation"][key]} if "terminal_observation" in info else {}
                for info in infos
            ]
            stacked[key], key_infos = self.sub_stacked_observations[key].update(obs, dones, key_infos)
            for info, key_info in zip(infos, key_infos, strict=True):
                if "terminal_observation" in info:
                    info["terminal_observation"][key] = key_info["terminal_observation"]
        return stacked, infos
