"""Common aliases for type hints, named as in Stable-Baselines3."""

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, SupportsFloat, Union

import gymnasium as gym
import mlx.core as mx
import numpy as np

if TYPE_CHECKING:
    from mlx_baselines3.common.callbacks import BaseCallback
    from mlx_baselines3.common.vec_env import VecEnv

GymEnv = Union[gym.Env, "VecEnv"]
GymObs = tuple | dict[str, Any] | np.ndarray | int
GymResetReturn = tuple[GymObs, dict]
AtariResetReturn = tuple[np.ndarray, dict[str, Any]]
GymStepReturn = tuple[GymObs, float, bool, bool, dict]
AtariStepReturn = tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]
TensorDict = dict[str, mx.array]
OptimizerStateDict = dict[str, Any]
MaybeCallback = Union[None, Callable, list["BaseCallback"], "BaseCallback"]
# An observation as the policy's networks receive it (SB3 calls it PyTorchObs).
PyTorchObs = mx.array | TensorDict

# A schedule takes the remaining progress (from 1 at the start of training to 0 at the end) and returns a value.
Schedule = Callable[[float], float]


class RolloutBufferSamples(NamedTuple):
    observations: mx.array
    actions: mx.array
    old_values: mx.array
    old_log_prob: mx.array
    advantages: mx.array
    returns: mx.array


class DictRolloutBufferSamples(NamedTuple):
    observations: TensorDict
    actions: mx.array
    old_values: mx.array
    old_log_prob: mx.array
    advantages: mx.array
    returns: mx.array


class ReplayBufferSamples(NamedTuple):
    observations: mx.array
    actions: mx.array
    next_observations: mx.array
    dones: mx.array
    rewards: mx.array
    # Per-sample discount factor gamma**n, set by n-step buffers (None means the algorithm's gamma).
    discounts: mx.array | None = None


class DictReplayBufferSamples(NamedTuple):
    observations: TensorDict
    actions: mx.array
    next_observations: TensorDict
    dones: mx.array
    rewards: mx.array
    discounts: mx.array | None = None


class RolloutReturn(NamedTuple):
    episode_timesteps: int
    n_episodes: int
    continue_training: bool


class TrainFrequencyUnit(Enum):
    STEP = "step"
    EPISODE = "episode"


class TrainFreq(NamedTuple):
    frequency: int
    unit: TrainFrequencyUnit


class PolicyPredictor(Protocol):
    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Get the policy action from an observation (and optional hidden state).

        :param observation: the input observation
        :param state: the last hidden states (used in recurrent policies)
        :param episode_start: the last masks (used in recurrent policies)
        :param deterministic: whether or not to return deterministic actions
        :return: the model's action and the next hidden state
        """
