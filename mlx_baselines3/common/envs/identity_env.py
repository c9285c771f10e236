"""Identity environments: the reward is 1 when the action repeats the observation, so the optimal policy is known."""

from typing import Any, Generic, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.type_aliases import GymStepReturn

T = TypeVar("T", int, np.ndarray)


class IdentityEnv(gym.Env, Generic[T]):
    """
    Environment whose observation is a random sample of its action space; acting with the observed value pays 1,
    anything else pays 0. Episodes are truncated after ``ep_length`` steps and never terminate.

    :param dim: number of discrete values (gives ``Discrete(dim)``); give at most one of ``dim`` and ``space``,
        with neither the space is ``Discrete(1)``
    :param space: the space used both for observations and actions
    :param ep_length: number of steps before the episode is truncated
    """

    def __init__(self, dim: int | None = None, space: spaces.Space | None = None, ep_length: int = 100) -> None:
        if space is None:
            space = spaces.Discrete(1 if dim is None else dim)
        elif dim is not None:
            raise UsageError(f"arguments for both 'dim' ({dim}) and 'space' ({space}) provided: at most one allowed")
        self.action_space = self.observation_space = space
        self.ep_length = ep_length
        self.current_step = 0
        # The reset below brings the count to 0, so it counts the resets asked for after construction.
        self.num_resets = -1
        self.reset()

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[T, dict]:
        """
        Start a new episode with a fresh random target.

        :param seed: seeds the env's ``np_random`` (the target itself comes from the action space's generator,
            which ``make_vec_env(seed=...)`` seeds)
        :param options: unused
        :return: the first observation and an empty info dict
        """
        if seed is not None:
            super().reset(seed=seed)
        self.current_step = 0
        self.num_resets += 1
        self._choose_next_state()
        return self.state, {}

    def step(self, action: T) -> tuple[T, float, bool, bool, dict[str, Any]]:
        """
        Score ``action`` against the current observation, then draw the next one.

        :param action: the agent's guess of the observation
        :return: next observation, reward (1.0 or 0.0), terminated (always False), truncated, empty info
        """
        reward = self._get_reward(action)
        self._choose_next_state()
        self.current_step += 1
        return self.state, reward, False, self.current_step >= self.ep_length, {}

    def _choose_next_state(self) -> None:
        self.state = self.action_space.sample()

    def _get_reward(self, action: T) -> float:
        return 1.0 if np.all(self.state == action) else 0.0

    def render(self, mode: str = "human") -> None:
        """
        Nothing to draw: the observation is the whole state.

        :param mode: ignored
        """


class IdentityEnvBox(IdentityEnv[np.ndarray]):
    """
    Continuous identity task on a 1-D ``Box``: an action within ``eps`` of the observation pays 1.

    :param low: lower bound of the box
    :param high: upper bound of the box
    :param eps: half-width of the band around the observation that counts as correct
    :param ep_length: number of steps before the episode is truncated
    """

    def __init__(self, low: float = -1.0, high: float = 1.0, eps: float = 0.05, ep_length: int = 100) -> None:
        super().__init__(ep_length=ep_length, space=spaces.Box(low=low, high=high, shape=(1,), dtype=np.float32))
        self.eps = eps

    def _get_reward(self, action: np.ndarray) -> float:
        inside = (self.state - self.eps <= action) & (action <= self.state + self.eps)
        return 1.0 if np.all(inside) else 0.0


class IdentityEnvMultiDiscrete(IdentityEnv[np.ndarray]):
    """
    Identity task on ``MultiDiscrete([dim, dim])``: both components must match.

    :param dim: number of values of each of the two components
    :param ep_length: number of steps before the episode is truncated
    """

    def __init__(self, dim: int = 1, ep_length: int = 100) -> None:
        super().__init__(ep_length=ep_length, space=spaces.MultiDiscrete([dim, dim]))


class IdentityEnvMultiBinary(IdentityEnv[np.ndarray]):
    """
    Identity task on ``MultiBinary(dim)``: every bit must match.

    :param dim: number of bits
    :param ep_length: number of steps before the episode is truncated
    """

    def __init__(self, dim: int = 1, ep_length: int = 100) -> None:
        super().__init__(ep_length=ep_length, space=spaces.MultiBinary(dim))


class FakeImageEnv(gym.Env):
    """
    Image environment shaped like a preprocessed Atari game, with random ``uint8`` frames and zero reward.
    Useful to exercise CNN policies and image wrappers quickly. Episodes are truncated after 10 steps.

    :param action_dim: number of discrete actions
    :param screen_height: image height
    :param screen_width: image width
    :param n_channels: number of channels
    :param discrete: ``Discrete(action_dim)`` actions if True, else a ``Box(-1, 1, (5,))``
    :param channel_first: images as (C, H, W) instead of (H, W, C)
    """

    def __init__(
        self,
        action_dim: int = 6,
        screen_height: int = 84,
        screen_width: int = 84,
        n_channels: int = 1,
        discrete: bool = True,
        channel_first: bool = False,
    ) -> None:
        if channel_first:
            self.observation_shape = (n_channels, screen_height, screen_width)
        else:
            self.observation_shape = (screen_height, screen_width, n_channels)
        self.observation_space = spaces.Box(low=0, high=255, shape=self.observation_shape, dtype=np.uint8)
        if discrete:
            self.action_space = spaces.Discrete(action_dim)
        else:
            self.action_space = spaces.Box(low=-1, high=1, shape=(5,), dtype=np.float32)
        self.ep_length = 10
        self.current_step = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """
        :param seed: seeds the env's ``np_random``
        :param options: unused
        :return: a random frame and an empty info dict
        """
        if seed is not None:
            super().reset(seed=seed)
        self.current_step = 0
        return self.observation_space.sample(), {}

    def step(self, action: np.ndarray | int) -> GymStepReturn:
        """
        :param action: ignored
        :return: a random frame, reward 0.0, terminated False, truncated after 10 steps, empty info
        """
        self.current_step += 1
        return self.observation_space.sample(), 0.0, False, self.current_step >= self.ep_length, {}

    def render(self, mode: str = "human") -> None:
        """
        Frames are noise; nothing worth drawing.

        :param mode: ignored
        """
