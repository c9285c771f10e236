"""
Experience buffers. Storage is NumPy (environments speak NumPy); samples are converted to MLX arrays in one place,
``to_mlx``, once per rollout or sampled batch.
"""

from abc import ABC, abstractmethod
from collections.abc import Generator
from typing import Any

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.preprocessing import get_action_dim, get_obs_shape
from mlx_baselines3.common.type_aliases import DictRolloutBufferSamples, RolloutBufferSamples
from mlx_baselines3.common.vec_env import VecNormalize


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
        for data in zip(*args):
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
        Convert a NumPy array to an MLX array (this is where data leaves the buffer).

        :param array: the array
        :param copy: kept for SB3 compatibility; MLX always copies NumPy data into its own memory
        :return: the MLX array
        """
        if array.dtype == np.float64:
            array = array.astype(np.float32)
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

    def _store_step(self, action: np.ndarray, reward: np.ndarray, episode_start: np.ndarray, value: Any, log_prob: Any) -> None:
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
            self.to_mlx(self.actions),
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
            raise TypeError(f"DictRolloutBuffer needs a Dict observation space, got {observation_space}")
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
        for key in self.observations.keys():
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


