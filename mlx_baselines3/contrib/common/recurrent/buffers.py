"""
Rollout buffers of RecurrentPPO: they also store the LSTM states of every step, and cut minibatches into sequences.

Sampling follows sb3-contrib: the flattened rollout (environment by environment) is rotated at a random index, cut
into consecutive minibatches, and each minibatch into sequences that start at an episode start, a change of
environment or the minibatch's start. Each sequence starts from the LSTM states stored for its first step.

The padded layout differs in one respect, for compiled code: sb3-contrib pads to the minibatch's own
``(n_seq, max_length)``, which changes from one minibatch to the next, and every new shape would trace and compile the
update again. Here both are rounded up to powers of two (the length at most to ``min(batch_size, n_steps)``, the
longest a sequence can be): a handful of shapes over a whole training run. Padding steps are masked out of the loss
(``mask``) and come after the real steps of their sequence, so they change nothing but the work done.
"""

from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from mlx_baselines3.common.vec_env import VecNormalize as VecNormalize  # sb3-contrib's module namespace
from mlx_baselines3.contrib.common.recurrent.type_aliases import (
    RecurrentDictRolloutBufferSamples,
    RecurrentRolloutBufferSamples,
    RNNStates,
)

_STATE_NAMES = ("hidden_states_pi", "cell_states_pi", "hidden_states_vf", "cell_states_vf")


def _next_power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def pad(
    seq_start_indices: np.ndarray,
    seq_end_indices: np.ndarray,
    device: Any,
    tensor: np.ndarray,
    padding_value: float = 0.0,
) -> mx.array:
    """
    Cut a minibatch's values into its sequences and pad them to the longest one.

    :param seq_start_indices: index of each sequence's first step
    :param seq_end_indices: index of each sequence's last step
    :param device: unused (kept for sb3-contrib's signature)
    :param tensor: the values, ``(batch_size, *shape)``
    :param padding_value: value of the padding steps
    :return: ``(n_seq, max_length, *shape)``
    """
    lengths = seq_end_indices - seq_start_indices + 1
    offsets = np.arange(int(lengths.max()))
    valid = offsets[None, :] < lengths[:, None]
    positions = np.where(valid, seq_start_indices[:, None] + offsets[None, :], seq_start_indices[:, None])
    padded = np.asarray(tensor)[positions]
    padded[~valid] = padding_value
    return mx.array(padded)


def pad_and_flatten(
    seq_start_indices: np.ndarray,
    seq_end_indices: np.ndarray,
    device: Any,
    tensor: np.ndarray,
    padding_value: float = 0.0,
) -> mx.array:
    """
    ``pad`` scalar values per step and flatten them sequence by sequence: ``(n_seq * max_length,)``.

    :param seq_start_indices: index of each sequence's first step
    :param seq_end_indices: index of each sequence's last step
    :param device: unused (kept for sb3-contrib's signature)
    :param tensor: the values, ``(batch_size,)`` or ``(batch_size, 1)``
    :param padding_value: value of the padding steps
    :return: the padded values, flattened
    """
    return pad(seq_start_indices, seq_end_indices, device, tensor, padding_value).reshape(-1)


def _sequence_bounds(episode_starts: np.ndarray, env_change: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A sequence starts at an episode start, a change of environment and the minibatch's first step.
    seq_start = np.logical_or(episode_starts, env_change).flatten()
    seq_start[0] = True
    seq_start_indices = np.flatnonzero(seq_start)
    seq_end_indices = np.concatenate([seq_start_indices[1:] - 1, [len(seq_start) - 1]])
    return seq_start_indices, seq_end_indices


def create_sequencers(
    episode_starts: np.ndarray, env_change: np.ndarray, device: Any = None
) -> tuple[np.ndarray, Callable[..., mx.array], Callable[..., mx.array]]:
    """
    Where the sequences of a minibatch start, with ``pad`` and ``pad_and_flatten`` bound to its sequences.

    :param episode_starts: episode-start flags of the minibatch's steps, in order
    :param env_change: 1 where a step comes from another environment than the one before it
    :param device: unused (kept for sb3-contrib's signature)
    :return: the index of each sequence's first step, and the two padding functions
    """
    seq_start_indices, seq_end_indices = _sequence_bounds(episode_starts, env_change)
    local_pad = partial(pad, seq_start_indices, seq_end_indices, device)
    local_pad_and_flatten = partial(pad_and_flatten, seq_start_indices, seq_end_indices, device)
    return seq_start_indices, local_pad, local_pad_and_flatten


class _RecurrentStorage:
    """
    LSTM-state storage and sequence sampling, mixed in before ``RolloutBuffer`` or ``DictRolloutBuffer``.

    :param hidden_state_shape: ``(n_steps, n_lstm_layers, n_envs, lstm_hidden_size)``
    """

    buffer_size: int
    n_envs: int
    pos: int
    full: bool
    generator_ready: bool
    episode_starts: np.ndarray
    hidden_states_pi: np.ndarray
    cell_states_pi: np.ndarray
    hidden_states_vf: np.ndarray
    cell_states_vf: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        hidden_state_shape: tuple[int, int, int, int],
        device: Any = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
    ):
        self.hidden_state_shape = hidden_state_shape
        super().__init__(  # type: ignore[call-arg]
            buffer_size, observation_space, action_space, device, gae_lambda=gae_lambda, gamma=gamma, n_envs=n_envs
        )

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        for name in _STATE_NAMES:
            setattr(self, name, np.zeros(self.hidden_state_shape, dtype=np.float32))

    def add(self, *args: Any, lstm_states: RNNStates, **kwargs: Any) -> None:
        """
        Store one step with the LSTM states it started from.

        :param lstm_states: the actor's and critic's ``(h, c)`` before the step, each ``(n_layers, n_envs, hidden)``
        """
        for name, value in zip(_STATE_NAMES, (*lstm_states.pi, *lstm_states.vf), strict=True):
            getattr(self, name)[self.pos] = np.asarray(value)
        super().add(*args, **kwargs)  # type: ignore[misc]

    def _flatten_for_sampling(self) -> None:
        if not self.generator_ready:
            for name in _STATE_NAMES:
                # (n_steps, n_layers, n_envs, dim) -> (n_steps, n_envs, n_layers, dim) -> (n_envs * n_steps, n_layers, dim)
                setattr(self, name, self.swap_and_flatten(getattr(self, name).swapaxes(1, 2)))  # type: ignore[attr-defined]
            self.episode_starts = self.swap_and_flatten(self.episode_starts).reshape(-1)  # type: ignore[attr-defined]
        super()._flatten_for_sampling()  # type: ignore[misc]

    def get(self, batch_size: int | None = None) -> Generator[Any, None, None]:
        """
        Minibatches of padded sequences (see the module's documentation).

        :param batch_size: number of steps per minibatch; None for the whole rollout at once
        :return: a generator of ``RecurrentRolloutBufferSamples``
        """
        assert self.full, "Rollout buffer must be full before sampling from it"
        self._flatten_for_sampling()
        total = self.buffer_size * self.n_envs
        if batch_size is None:
            batch_size = total
        # sb3-contrib's shuffle: keep the order, but start at a random step.
        split_index = np.random.randint(total)
        indices = np.concatenate((np.arange(split_index, total), np.arange(split_index)))
        env_change = np.zeros((self.buffer_size, self.n_envs))
        env_change[0, :] = 1.0
        env_change = self.swap_and_flatten(env_change).reshape(-1)  # type: ignore[attr-defined]
        data = self._mlx_rollout()  # type: ignore[attr-defined]
        states = tuple(getattr(self, name) for name in _STATE_NAMES)
        max_length = min(batch_size, self.buffer_size)
        for start_idx in range(0, total, batch_size):
            yield self._padded_samples(data, states, indices[start_idx : start_idx + batch_size], env_change, max_length)

    def _padded_samples(
        self, data: tuple, states: tuple, batch_inds: np.ndarray, env_change: np.ndarray, max_length: int
    ) -> Any:
        seq_starts, seq_ends = _sequence_bounds(self.episode_starts[batch_inds], env_change[batch_inds])
        n_seq = len(seq_starts)
        lengths = seq_ends - seq_starts + 1
        padded_n_seq = _next_power_of_two(n_seq)
        max_length = min(_next_power_of_two(int(lengths.max())), max_length)
        # Rollout index of every (sequence, step) slot; padding slots repeat the sequence's first step, masked out.
        offsets = np.arange(max_length)
        valid = offsets[None, :] < lengths[:, None]
        positions = np.where(valid, seq_starts[:, None] + offsets[None, :], seq_starts[:, None])
        slots = np.zeros((padded_n_seq, max_length), dtype=np.int64)
        slots[:n_seq] = batch_inds[positions]
        slots[n_seq:] = batch_inds[0]
        mask = np.zeros((padded_n_seq, max_length), dtype=np.float32)
        mask[:n_seq] = valid
        episode_starts = np.zeros((padded_n_seq, max_length), dtype=np.float32)
        episode_starts[:n_seq] = np.where(valid, self.episode_starts[slots[:n_seq]], 0.0)

        first_steps = batch_inds[seq_starts]
        initial = []
        for array in states:
            # (n_seq, n_layers, dim) padded with zero states, then (n_layers, padded_n_seq, dim)
            chosen = np.zeros((padded_n_seq, *array.shape[1:]), dtype=np.float32)
            chosen[:n_seq] = array[first_steps]
            initial.append(mx.array(chosen.swapaxes(0, 1)))
        lstm_states = RNNStates((initial[0], initial[1]), (initial[2], initial[3]))
        gathered = self._gather(data, mx.array(slots.reshape(-1)))  # type: ignore[attr-defined]
        return self._samples_type(*gathered, lstm_states, mx.array(episode_starts.reshape(-1)), mx.array(mask.reshape(-1)))


class RecurrentRolloutBuffer(_RecurrentStorage, RolloutBuffer):
    """
    ``RolloutBuffer`` that also stores the LSTM states, and samples padded sequences.

    :param buffer_size: number of steps per environment (``n_steps``)
    :param observation_space: the observation space
    :param action_space: the action space
    :param hidden_state_shape: ``(n_steps, n_lstm_layers, n_envs, lstm_hidden_size)``
    :param device: kept for SB3 compatibility
    :param gae_lambda: bias/variance trade-off of GAE
    :param gamma: discount factor
    :param n_envs: number of parallel environments
    """

    _samples_type = RecurrentRolloutBufferSamples


class RecurrentDictRolloutBuffer(_RecurrentStorage, DictRolloutBuffer):
    """
    ``DictRolloutBuffer`` that also stores the LSTM states, and samples padded sequences.

    :param buffer_size: number of steps per environment (``n_steps``)
    :param observation_space: the Dict observation space
    :param action_space: the action space
    :param hidden_state_shape: ``(n_steps, n_lstm_layers, n_envs, lstm_hidden_size)``
    :param device: kept for SB3 compatibility
    :param gae_lambda: bias/variance trade-off of GAE
    :param gamma: discount factor
    :param n_envs: number of parallel environments
    """

    _samples_type = RecurrentDictRolloutBufferSamples
