"""
Experience buffers. Storage is NumPy (environments speak NumPy); samples are converted to MLX arrays in one place,
``to_mlx``, once per rollout or sampled batch.
"""

import warnings
from abc import ABC, abstractmethod
from collections.abc import Generator
from typing import Any

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.preprocessing import get_action_dim, get_obs_shape
from mlx_baselines3.common.type_aliases import (
    DictReplayBufferSamples,
    DictRolloutBufferSamples,
    ReplayBufferSamples,
    RolloutBufferSamples,
)
from mlx_baselines3.common.utils import Device
from mlx_baselines3.common.utils import get_device as get_device  # SB3 exposes it here
from mlx_baselines3.common.vec_env import VecNormalize

try:
    # Optional: only used to warn when a replay buffer cannot fit into the available memory.
    import psutil
except ImportError:
    psutil = None  # type: ignore[assignment]


def _is_cpu(device: Any) -> bool:
    """
    :param device: a device name or object, as given to a buffer
    :return: whether the computations on the buffer's samples run on the CPU
    """
    if isinstance(device, str):
        device = get_device(device)
    kind = getattr(device, "type", device)
    return kind == mx.cpu or str(kind) == "cpu"


class BaseBuffer(ABC):
    """
    Base class of the buffers: a ring of ``buffer_size`` steps of ``n_envs`` parallel environments.

    :param buffer_size: number of steps stored per environment
    :param observation_space: the observation space
    :param action_space: the action space
    :param device: kept for SB3 compatibility (MLX arrays live in unified memory)
    :param n_envs: number of parallel environments
    """

    observation_space: spaces.Space
    obs_shape: tuple[int, ...]

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: Any = "auto",
        n_envs: int = 1,
    ):
        super().__init__()
        self.buffer_size = buffer_size
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_shape = get_obs_shape(observation_space)  # type: ignore[assignment]
        self.action_dim = get_action_dim(action_space)
        self.pos = 0
        self.full = False
        self.device = device
        self.n_envs = n_envs

    @staticmethod
    def swap_and_flatten(arr: np.ndarray) -> np.ndarray:
        """
        Turn ``(buffer_size, n_envs, ...)`` into ``(buffer_size * n_envs, ...)``, keeping each environment's steps
        together.

        :param arr: the array
        :return: the flattened array
        """
        shape = arr.shape
        if len(shape) < 3:
            shape = (*shape, 1)
        return arr.swapaxes(0, 1).reshape(shape[0] * shape[1], *shape[2:])

    def size(self) -> int:
        """:return: the number of steps stored (per environment)"""
        return self.buffer_size if self.full else self.pos

    def add(self, *args, **kwargs) -> None:
        """Add one step of every environment."""
        raise NotImplementedError()

    def extend(self, *args, **kwargs) -> None:
        """Add several steps, one ``add`` per step."""
        for data in zip(*args, strict=True):
            self.add(*data)

    def reset(self) -> None:
        """Forget the stored steps."""
        self.pos = 0
        self.full = False

    def sample(self, batch_size: int, env: VecNormalize | None = None):
        """
        :param batch_size: number of samples
        :param env: a VecNormalize wrapper to normalize the observations and rewards with
        :return: a batch of samples
        """
        upper_bound = self.buffer_size if self.full else self.pos
        batch_inds = np.random.randint(0, upper_bound, size=batch_size)
        return self._get_samples(batch_inds, env=env)

    @abstractmethod
    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None):
        """
        :param batch_inds: the indices to gather
        :param env: a VecNormalize wrapper to normalize the observations and rewards with
        :return: the samples
        """

    def to_mlx(self, array: np.ndarray, copy: bool = True) -> mx.array:
        """
        Convert a NumPy array to an MLX array (this is where data leaves the buffer). The dtype is kept, as SB3's
        ``to_torch`` keeps it (uint8 images stay uint8, float64 observations stay float64; the policies cast to float32
        in ``preprocess_obs``), except float64 on a GPU device: MLX has no float64 on GPUs, so it becomes float32 there.

        :param array: the array
        :param copy: kept for SB3 compatibility; MLX always copies NumPy data into its own memory
        :return: the MLX array
        """
        if array.dtype == np.float64:
            # mx.array turns float64 into float32 unless asked.
            return mx.array(array, dtype=mx.float64 if _is_cpu(self.device) else mx.float32)
        return mx.array(array)

    # SB3's name, for subclasses written against it.
    to_torch = to_mlx

    @staticmethod
    def _normalize_obs(obs: np.ndarray | dict[str, np.ndarray], env: VecNormalize | None = None) -> Any:
        if env is not None:
            return env.normalize_obs(obs)
        return obs

    @staticmethod
    def _normalize_reward(reward: np.ndarray, env: VecNormalize | None = None) -> np.ndarray:
        if env is not None:
            return env.normalize_reward(reward).astype(np.float32)
        return reward


class RolloutBuffer(BaseBuffer):
    """
    The on-policy buffer of A2C/PPO: one rollout of ``buffer_size`` steps per environment, with values and
    log-probabilities, and the GAE(lambda) advantages and returns computed once the rollout is complete.

    :param buffer_size: number of steps per environment (``n_steps``)
    :param observation_space: the observation space
    :param action_space: the action space
    :param device: kept for SB3 compatibility
    :param gae_lambda: bias/variance trade-off of GAE; 1 gives Monte-Carlo advantages, 0 one-step TD
    :param gamma: discount factor
    :param n_envs: number of parallel environments
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray
    episode_starts: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: Any = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
    ):
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.gae_lambda = gae_lambda
        self.gamma = gamma
        self.generator_ready = False
        self.reset()

    def reset(self) -> None:
        self.observations = np.zeros((self.buffer_size, self.n_envs, *self.obs_shape), dtype=self.observation_space.dtype)
        self._reset_step_arrays()
        super().reset()

    def _reset_step_arrays(self) -> None:
        shape = (self.buffer_size, self.n_envs)
        self.actions = np.zeros((*shape, self.action_dim), dtype=self.action_space.dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.returns = np.zeros(shape, dtype=np.float32)
        self.episode_starts = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.advantages = np.zeros(shape, dtype=np.float32)
        self.generator_ready = False

    def compute_returns_and_advantage(self, last_values: "mx.array | np.ndarray", dones: np.ndarray) -> None:
        """
        Generalized Advantage Estimation (Schulman et al., 2015) over the stored rollout, bootstrapping from the
        value of the last observation; ``returns = advantages + values`` are the value targets.

        :param last_values: value estimates of the observations after the last step
        :param dones: whether the last step ended an episode
        """
        last_values = np.asarray(last_values, dtype=np.float32).reshape(-1)
        last_gae_lam = np.zeros(self.n_envs, dtype=np.float32)
        for step in reversed(range(self.buffer_size)):
            if step == self.buffer_size - 1:
                next_non_terminal = 1.0 - dones.astype(np.float32)
                next_values = last_values
            else:
                next_non_terminal = 1.0 - self.episode_starts[step + 1]
                next_values = self.values[step + 1]
            delta = self.rewards[step] + self.gamma * next_values * next_non_terminal - self.values[step]
            last_gae_lam = delta + self.gamma * self.gae_lambda * next_non_terminal * last_gae_lam
            self.advantages[step] = last_gae_lam
        self.returns = self.advantages + self.values

    def _store_step(
        self, action: np.ndarray, reward: np.ndarray, episode_start: np.ndarray, value: Any, log_prob: Any
    ) -> None:
        self.actions[self.pos] = np.asarray(action).reshape((self.n_envs, self.action_dim))
        self.rewards[self.pos] = np.asarray(reward)
        self.episode_starts[self.pos] = np.asarray(episode_start)
        self.values[self.pos] = np.asarray(value).reshape(-1)
        self.log_probs[self.pos] = np.asarray(log_prob).reshape(-1)
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        value: "mx.array | np.ndarray",
        log_prob: "mx.array | np.ndarray",
    ) -> None:
        """
        :param obs: observations of every env
        :param action: actions taken
        :param reward: rewards received
        :param episode_start: whether each observation starts an episode
        :param value: value estimates of the observations
        :param log_prob: log-probabilities of the actions
        """
        # A Discrete observation is an int per env: give it the buffer's (n_envs, 1) shape.
        if isinstance(self.observation_space, spaces.Discrete):
            obs = np.asarray(obs).reshape((self.n_envs, *self.obs_shape))
        self.observations[self.pos] = np.array(obs)
        self._store_step(action, reward, episode_start, value, log_prob)

    def _flatten_for_sampling(self) -> None:
        if not self.generator_ready:
            for name in ("observations", "actions", "values", "log_probs", "advantages", "returns"):
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True

    def get(self, batch_size: int | None = None) -> Generator[RolloutBufferSamples, None, None]:
        """
        Shuffled minibatches over the whole rollout. The rollout is converted to MLX once; minibatches are gathered
        from it with MLX indexing.

        :param batch_size: minibatch size; None for the whole rollout at once
        :return: a generator of minibatches
        """
        assert self.full, "The rollout buffer must be full before sampling from it"
        indices = np.random.permutation(self.buffer_size * self.n_envs)
        self._flatten_for_sampling()
        if batch_size is None:
            batch_size = self.buffer_size * self.n_envs
        data = self._mlx_rollout()
        start_idx = 0
        while start_idx < self.buffer_size * self.n_envs:
            batch_inds = mx.array(indices[start_idx : start_idx + batch_size])
            yield self._gather(data, batch_inds)
            start_idx += batch_size

    def _mlx_observations(self) -> Any:
        return self.to_mlx(self.observations)

    def _mlx_rollout(self) -> tuple:
        return (
            self._mlx_observations(),
            # Actions come out as float32 whatever the space (SB3's rule, kept for backward compatibility there).
            self.to_mlx(self.actions.astype(np.float32, copy=False)),
            self.to_mlx(self.values.reshape(-1)),
            self.to_mlx(self.log_probs.reshape(-1)),
            self.to_mlx(self.advantages.reshape(-1)),
            self.to_mlx(self.returns.reshape(-1)),
        )

    @staticmethod
    def _gather(data: tuple, batch_inds: mx.array) -> RolloutBufferSamples:
        return RolloutBufferSamples(*(array[batch_inds] for array in data))

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> RolloutBufferSamples:
        self._flatten_for_sampling()
        return self._gather(self._mlx_rollout(), mx.array(batch_inds))


class DictRolloutBuffer(RolloutBuffer):
    """
    ``RolloutBuffer`` for Dict observation spaces: observations are stored per key.

    :param buffer_size: number of steps per environment (``n_steps``)
    :param observation_space: the Dict observation space
    :param action_space: the action space
    :param device: kept for SB3 compatibility
    :param gae_lambda: bias/variance trade-off of GAE
    :param gamma: discount factor
    :param n_envs: number of parallel environments
    """

    observation_space: spaces.Dict
    obs_shape: dict[str, tuple[int, ...]]  # type: ignore[assignment]
    observations: dict[str, np.ndarray]  # type: ignore[assignment]

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        device: Any = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
    ):
        if not isinstance(observation_space, spaces.Dict):
            raise UsageError(f"DictRolloutBuffer must be used with Dict obs space only, got {observation_space}")
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs=n_envs)

    def reset(self) -> None:
        self.observations = {
            key: np.zeros((self.buffer_size, self.n_envs, *shape), dtype=self.observation_space[key].dtype)
            for key, shape in self.obs_shape.items()
        }
        self._reset_step_arrays()
        BaseBuffer.reset(self)

    def add(  # type: ignore[override]
        self,
        obs: dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        value: "mx.array | np.ndarray",
        log_prob: "mx.array | np.ndarray",
    ) -> None:
        for key in self.observations:
            self.observations[key][self.pos] = np.array(obs[key]).reshape((self.n_envs, *self.obs_shape[key]))
        self._store_step(action, reward, episode_start, value, log_prob)

    def _flatten_for_sampling(self) -> None:
        if not self.generator_ready:
            self.observations = {key: self.swap_and_flatten(obs) for key, obs in self.observations.items()}
            for name in ("actions", "values", "log_probs", "advantages", "returns"):
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True

    def _mlx_observations(self) -> dict[str, mx.array]:
        return {key: self.to_mlx(obs) for key, obs in self.observations.items()}

    @staticmethod
    def _gather(data: tuple, batch_inds: mx.array) -> DictRolloutBufferSamples:  # type: ignore[override]
        observations = {key: obs[batch_inds] for key, obs in data[0].items()}
        return DictRolloutBufferSamples(observations, *(array[batch_inds] for array in data[1:]))


def _warn_if_larger_than_memory(total_nbytes: int) -> None:
    """
    Warn when a buffer needs more bytes than the system has available (NumPy allocates lazily, so the problem would
    otherwise only show up, as an out-of-memory kill, once the buffer fills).

    :param total_nbytes: the bytes the buffer needs when full
    """
    if psutil is None:
        return
    mem_available = psutil.virtual_memory().available
    if total_nbytes > mem_available:
        warnings.warn(
            "This system does not have apparently enough memory to store the complete "
            f"replay buffer {total_nbytes / 1e9:.2f}GB > {mem_available / 1e9:.2f}GB"
        )


class ReplayBuffer(BaseBuffer):
    """
    The replay buffer of the off-policy algorithms: a ring of the last ``buffer_size`` transitions
    ``(obs, action, reward, next_obs, done)``, sampled uniformly.

    Observations keep the dtype of the observation space (uint8 images stay uint8 in memory); float64 actions are
    stored as float32. A sample is gathered with NumPy and converted to MLX once.

    :param buffer_size: maximum number of transitions, over all environments
    :param observation_space: the observation space
    :param action_space: the action space
    :param device: kept for SB3 compatibility (MLX arrays live in unified memory)
    :param n_envs: number of parallel environments
    :param optimize_memory_usage: store each observation once (the next observation of a transition is the observation
        of the following slot), which halves the memory of observations; incompatible with
        ``handle_timeout_termination``
    :param handle_timeout_termination: do not treat an episode end caused by a time limit (``TimeLimit.truncated``) as
        terminal, so that the value of the next state is still bootstrapped (infinite-horizon task)
    """

    observations: np.ndarray
    next_observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    timeouts: np.ndarray

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: Any = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ):
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        # The capacity is shared by the environments.
        self.buffer_size = max(buffer_size // n_envs, 1)
        if optimize_memory_usage and handle_timeout_termination:
            # See https://github.com/DLR-RM/stable-baselines3/issues/934
            raise ValueError(
                "ReplayBuffer does not support optimize_memory_usage = True "
                "and handle_timeout_termination = True simultaneously."
            )
        self.optimize_memory_usage = optimize_memory_usage
        self.handle_timeout_termination = handle_timeout_termination
        self._allocate()
        _warn_if_larger_than_memory(self._nbytes())

    def _allocate(self) -> None:
        shape = (self.buffer_size, self.n_envs)
        self.observations = np.zeros((*shape, *self.obs_shape), dtype=self.observation_space.dtype)
        if not self.optimize_memory_usage:
            # Otherwise `observations` also holds the next observations.
            self.next_observations = np.zeros((*shape, *self.obs_shape), dtype=self.observation_space.dtype)
        self._allocate_step_arrays()

    def _allocate_step_arrays(self) -> None:
        shape = (self.buffer_size, self.n_envs)
        self.actions = np.zeros((*shape, self.action_dim), dtype=self._maybe_cast_dtype(self.action_space.dtype))
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.dones = np.zeros(shape, dtype=np.float32)
        self.timeouts = np.zeros(shape, dtype=np.float32)

    def _nbytes(self) -> int:
        nbytes = self.observations.nbytes + self.actions.nbytes + self.rewards.nbytes + self.dones.nbytes
        if not self.optimize_memory_usage:
            nbytes += self.observations.nbytes
        return nbytes

    def __getstate__(self) -> dict[str, Any]:
        """:return: the state to pickle, with the device as a name, so that the file loads without MLX objects (and in SB3)"""
        state = self.__dict__.copy()
        device = state.get("device")
        if isinstance(device, (mx.Device, mx.DeviceType, Device)):
            state["device"] = str(get_device(device))  # torch's names: "cpu", "cuda", "mps"
        return state

    @staticmethod
    def _maybe_cast_dtype(dtype: Any) -> Any:
        """
        :param dtype: the dtype of the action space
        :return: float32 for float64 actions (policies output float32), the same dtype otherwise
        """
        return np.float32 if dtype == np.float64 else dtype

    def _reshape_obs(self, obs: np.ndarray, space: spaces.Space, obs_shape: tuple[int, ...]) -> np.ndarray:
        # A Discrete observation is an int per env: give it the buffer's (n_envs, 1) shape.
        if isinstance(space, spaces.Discrete):
            return np.asarray(obs).reshape((self.n_envs, *obs_shape))
        return obs

    def _store_observations(self, obs: Any, next_obs: Any) -> None:
        self.observations[self.pos] = np.array(self._reshape_obs(obs, self.observation_space, self.obs_shape))
        next_obs = np.array(self._reshape_obs(next_obs, self.observation_space, self.obs_shape))
        if self.optimize_memory_usage:
            self.observations[(self.pos + 1) % self.buffer_size] = next_obs
        else:
            self.next_observations[self.pos] = next_obs

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """
        Store one transition of every environment.

        :param obs: observations
        :param next_obs: next observations (the terminal observation where an episode ended)
        :param action: actions (scaled to [-1, 1] for Box spaces)
        :param reward: rewards
        :param done: episode ends
        :param infos: infos of the step (``TimeLimit.truncated`` is read for timeout handling)
        """
        self._store_observations(obs, next_obs)
        # One row per env, whatever the action space (Discrete actions arrive as (n_envs,)).
        self.actions[self.pos] = np.asarray(action).reshape((self.n_envs, self.action_dim))
        self.rewards[self.pos] = np.asarray(reward)
        self.dones[self.pos] = np.asarray(done)
        if self.handle_timeout_termination:
            self.timeouts[self.pos] = np.array([info.get("TimeLimit.truncated", False) for info in infos])
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True
            self.pos = 0

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """
        Sample transitions uniformly (with replacement), over steps and environments.

        :param batch_size: number of transitions
        :param env: a VecNormalize wrapper to normalize the observations and rewards with
        :return: the samples, as MLX arrays
        """
        if not self.optimize_memory_usage:
            return super().sample(batch_size=batch_size, env=env)
        # The slot at `pos` holds the next observation of the last transition, not a transition of its own.
        if self.full:
            batch_inds = (np.random.randint(1, self.buffer_size, size=batch_size) + self.pos) % self.buffer_size
        else:
            batch_inds = np.random.randint(0, self.pos, size=batch_size)
        return self._get_samples(batch_inds, env=env)

    def sample_batches(self, batch_size: int, n_batches: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """
        Sample the minibatches of several gradient steps at once (one gather, one conversion to MLX): rows
        ``[i * batch_size, (i + 1) * batch_size)`` form the i-th minibatch.

        :param batch_size: minibatch size
        :param n_batches: number of minibatches
        :param env: a VecNormalize wrapper to normalize the observations and rewards with
        :return: the samples, as MLX arrays
        """
        return self.sample(batch_size * n_batches, env=env)

    def _terminal_dones(self, batch_inds: np.ndarray, env_indices: np.ndarray) -> np.ndarray:
        # Episode ends caused by a time limit are not terminal (timeouts stay 0 without timeout handling).
        return (self.dones[batch_inds, env_indices] * (1 - self.timeouts[batch_inds, env_indices])).reshape(-1, 1)

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> ReplayBufferSamples:
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        if self.optimize_memory_usage:
            next_obs = self.observations[(batch_inds + 1) % self.buffer_size, env_indices]
        else:
            next_obs = self.next_observations[batch_inds, env_indices]
        data = (
            self._normalize_obs(self.observations[batch_inds, env_indices], env),
            self.actions[batch_inds, env_indices],
            self._normalize_obs(next_obs, env),
            self._terminal_dones(batch_inds, env_indices),
            self._normalize_reward(self.rewards[batch_inds, env_indices].reshape(-1, 1), env),
        )
        return ReplayBufferSamples(*(self.to_mlx(array) for array in data))


class DictReplayBuffer(ReplayBuffer):
    """
    ``ReplayBuffer`` for Dict observation spaces: observations are stored per key.

    :param buffer_size: maximum number of transitions, over all environments
    :param observation_space: the Dict observation space
    :param action_space: the action space
    :param device: kept for SB3 compatibility
    :param n_envs: number of parallel environments
    :param optimize_memory_usage: not supported for Dict observations (must be False)
    :param handle_timeout_termination: do not treat time-limit episode ends as terminal
    """

    observation_space: spaces.Dict
    obs_shape: dict[str, tuple[int, ...]]  # type: ignore[assignment]
    observations: dict[str, np.ndarray]  # type: ignore[assignment]
    next_observations: dict[str, np.ndarray]  # type: ignore[assignment]

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        device: Any = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ):
        if not isinstance(observation_space, spaces.Dict):
            raise UsageError(f"DictReplayBuffer must be used with Dict obs space only, got {observation_space}")
        if optimize_memory_usage:
            raise UsageError("DictReplayBuffer does not support optimize_memory_usage: pass optimize_memory_usage=False")
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device,
            n_envs=n_envs,
            optimize_memory_usage=False,
            handle_timeout_termination=handle_timeout_termination,
        )

    def _allocate(self) -> None:
        shape = (self.buffer_size, self.n_envs)
        self.observations = {
            key: np.zeros((*shape, *obs_shape), dtype=self.observation_space[key].dtype)
            for key, obs_shape in self.obs_shape.items()
        }
        self.next_observations = {
            key: np.zeros((*shape, *obs_shape), dtype=self.observation_space[key].dtype)
            for key, obs_shape in self.obs_shape.items()
        }
        self._allocate_step_arrays()

    def _nbytes(self) -> int:
        obs_nbytes = sum(obs.nbytes for obs in self.observations.values())
        return 2 * obs_nbytes + self.actions.nbytes + self.rewards.nbytes + self.dones.nbytes

    def _store_observations(self, obs: Any, next_obs: Any) -> None:
        for key, space in self.observation_space.spaces.items():
            self.observations[key][self.pos] = np.array(self._reshape_obs(obs[key], space, self.obs_shape[key]))
            self.next_observations[key][self.pos] = np.array(self._reshape_obs(next_obs[key], space, self.obs_shape[key]))

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> DictReplayBufferSamples:  # type: ignore[override]
        """
        Sample transitions uniformly (with replacement), over steps and environments.

        :param batch_size: number of transitions
        :param env: a VecNormalize wrapper to normalize the observations and rewards with
        :return: the samples, as MLX arrays
        """
        return BaseBuffer.sample(self, batch_size=batch_size, env=env)

    def _to_dict_samples(
        self,
        obs: dict[str, np.ndarray],
        actions: np.ndarray,
        next_obs: dict[str, np.ndarray],
        dones: np.ndarray,
        rewards: np.ndarray,
    ) -> DictReplayBufferSamples:
        return DictReplayBufferSamples(
            observations={key: self.to_mlx(value) for key, value in obs.items()},
            actions=self.to_mlx(actions),
            next_observations={key: self.to_mlx(value) for key, value in next_obs.items()},
            dones=self.to_mlx(dones),
            rewards=self.to_mlx(rewards),
        )

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> DictReplayBufferSamples:
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        obs = self._normalize_obs({key: obs[batch_inds, env_indices] for key, obs in self.observations.items()}, env)
        next_obs = self._normalize_obs({key: obs[batch_inds, env_indices] for key, obs in self.next_observations.items()}, env)
        return self._to_dict_samples(
            obs,
            self.actions[batch_inds, env_indices],
            next_obs,
            self._terminal_dones(batch_inds, env_indices),
            self._normalize_reward(self.rewards[batch_inds, env_indices].reshape(-1, 1), env),
        )


class NStepReplayBuffer(ReplayBuffer):
    """
    Replay buffer that returns n-step transitions: the reward is the discounted sum of the next ``n_steps`` rewards
    (stopping at an episode end or a time limit), the next observation is the one that ends that sum, and the sample's
    ``discounts`` hold ``gamma ** k`` for the ``k`` steps summed, to discount the bootstrapped value. Storage is the
    one of ``ReplayBuffer``; the sums are computed with NumPy at sampling time.

    :param n_steps: number of steps summed
    :param gamma: discount factor
    """

    def __init__(self, *args, n_steps: int = 3, gamma: float = 0.99, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_steps = n_steps
        self.gamma = gamma
        if self.optimize_memory_usage:
            raise NotImplementedError("NStepReplayBuffer doesn't support optimize_memory_usage=True")

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> ReplayBufferSamples:
        env_indices = np.random.randint(0, self.n_envs, size=batch_inds.shape)
        env_column = env_indices[:, None]

        # The newest transition is followed in the ring by the oldest one (or by nothing yet): unless it ended its
        # episode, count it as truncated while sampling so that no sum runs across that seam.
        last = self.pos - 1
        saved_timeouts = self.timeouts[last].copy()
        self.timeouts[last] = np.logical_or(saved_timeouts, np.logical_not(self.dones[last]))
        try:
            offsets = np.arange(self.n_steps)
            indices = (batch_inds[:, None] + offsets[None, :]) % self.buffer_size
            rewards = self._normalize_reward(self.rewards[indices, env_column], env)
            ends = np.logical_or(self.dones[indices, env_column], self.timeouts[indices, env_column])
            # Index (within the n steps) of the last step summed: the first episode end, or the n-th step.
            last_step = np.where(ends.any(axis=1), ends.argmax(axis=1), self.n_steps - 1)
            summed = offsets[None, :] <= last_step[:, None]
            returns = (rewards * self.gamma ** offsets.astype(np.float32) * summed).sum(axis=1, keepdims=True)
            discounts = (self.gamma ** summed.sum(axis=1, keepdims=True).astype(np.float32)).astype(np.float32)

            final = (batch_inds + last_step) % self.buffer_size
            next_obs = self._normalize_obs(self.next_observations[final, env_indices], env)
            dones = self._terminal_dones(final, env_indices)
        finally:
            self.timeouts[last] = saved_timeouts

        return ReplayBufferSamples(
            observations=self.to_mlx(self._normalize_obs(self.observations[batch_inds, env_indices], env)),
            actions=self.to_mlx(self.actions[batch_inds, env_indices]),
            next_observations=self.to_mlx(next_obs),
            dones=self.to_mlx(dones),
            rewards=self.to_mlx(returns.astype(np.float32)),
            discounts=self.to_mlx(discounts),
        )
