"""Containers of the recurrent algorithms: LSTM states and buffer samples, named as in sb3-contrib."""

from typing import NamedTuple

import mlx.core as mx

from mlx_baselines3.common.type_aliases import TensorDict


class RNNStates(NamedTuple):
    """Hidden and cell states ``(h, c)`` of the actor's and the critic's LSTM, each ``(n_layers, batch, hidden)``."""

    pi: tuple[mx.array, ...]
    vf: tuple[mx.array, ...]


class RecurrentRolloutBufferSamples(NamedTuple):
    """
    A minibatch cut into sequences and padded to ``(n_seq, max_length)``, flattened sequence by sequence:
    ``lstm_states`` hold each sequence's initial states, ``mask`` is 1 on real steps and 0 on padding.
    """

    observations: mx.array
    actions: mx.array
    old_values: mx.array
    old_log_prob: mx.array
    advantages: mx.array
    returns: mx.array
    lstm_states: RNNStates
    episode_starts: mx.array
    mask: mx.array


class RecurrentDictRolloutBufferSamples(NamedTuple):
    """``RecurrentRolloutBufferSamples`` with Dict observations."""

    observations: TensorDict
    actions: mx.array
    old_values: mx.array
    old_log_prob: mx.array
    advantages: mx.array
    returns: mx.array
    lstm_states: RNNStates
    episode_starts: mx.array
    mask: mx.array
