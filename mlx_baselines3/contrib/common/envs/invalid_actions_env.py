"""
Identity environments with invalid actions: each step a random subset of the actions that differ from the
observation is declared invalid, and ``action_masks()`` says which actions remain allowed. A masked agent can reach
the maximum reward without ever choosing an invalid action; the test envs of masked algorithms.
"""

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.envs import IdentityEnv
from mlx_baselines3.common.exceptions import UsageError


def _draw_invalid(possible_actions: np.ndarray, correct: list[int], n_invalid_actions: int) -> list[int]:
    # The correct choices always stay valid, so the optimal policy is reachable under any mask.
    candidates = [action for action in possible_actions if action not in correct]
    return np.random.choice(candidates, n_invalid_actions, replace=False).tolist()


def _flat_choices(state: np.ndarray, sizes: list[int]) -> list[int]:
    # The index of each dimension's choice among all the flattened choices (the layout of the mask).
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return [int(offset + value) for offset, value in zip(offsets, state, strict=True)]


class InvalidActionEnvDiscrete(IdentityEnv[int]):
    """
    Identity env over ``Discrete(dim)`` with ``n_invalid_actions`` invalid actions per step.

    :param dim: number of actions
    :param ep_length: steps per episode
    :param n_invalid_actions: number of actions masked out at each step (fewer than ``dim``)
    """

    def __init__(self, dim: int | None = None, ep_length: int = 100, n_invalid_actions: int = 0):
        if dim is None:
            dim = 1
        if n_invalid_actions >= dim:
            raise UsageError(f"Too many invalid actions: n_invalid_actions={n_invalid_actions} must be < dim={dim}")
        space = spaces.Discrete(dim)
        self.n_invalid_actions = n_invalid_actions
        self.possible_actions = np.arange(int(space.n), dtype=int)
        self.invalid_actions: list[int] = []
        super().__init__(space=space, ep_length=ep_length)

    def _choose_next_state(self) -> None:
        self.state = self.action_space.sample()
        self.invalid_actions = _draw_invalid(self.possible_actions, [int(self.state)], self.n_invalid_actions)

    def action_masks(self) -> list[bool]:
        """:return: one flag per action, True where the action is allowed"""
        return [action not in self.invalid_actions for action in self.possible_actions]


class InvalidActionEnvMultiDiscrete(IdentityEnv[np.ndarray]):
    """
    Identity env over ``MultiDiscrete(dims)``; the mask has one flag per choice of every dimension, concatenated.

    :param dims: number of choices of each dimension
    :param ep_length: steps per episode
    :param n_invalid_actions: number of choices masked out at each step (at most ``sum(dims) - len(dims)``)
    """

    action_space: spaces.MultiDiscrete

    def __init__(self, dims: list[int] | None = None, ep_length: int = 100, n_invalid_actions: int = 0):
        if dims is None:
            dims = [1, 1]
        if n_invalid_actions > sum(dims) - len(dims):
            raise ValueError(f"Cannot find a valid action for each dim. Set n_invalid_actions <= {sum(dims) - len(dims)}")
        space = spaces.MultiDiscrete(dims)
        self.n_invalid_actions = n_invalid_actions
        self.possible_actions = np.arange(sum(dims))
        self.invalid_actions: list[int] = []
        super().__init__(space=space, ep_length=ep_length)

    def _choose_next_state(self) -> None:
        self.state = self.action_space.sample()
        correct = _flat_choices(self.state, list(self.action_space.nvec))
        self.invalid_actions = _draw_invalid(self.possible_actions, correct, self.n_invalid_actions)

    def action_masks(self) -> list[bool]:
        """:return: one flag per choice of each dimension, True where it is allowed"""
        return [action not in self.invalid_actions for action in self.possible_actions]


class InvalidActionEnvMultiBinary(IdentityEnv[np.ndarray]):
    """
    Identity env over ``MultiBinary(dims)``; the mask has two flags (for 0 and 1) per binary dimension.

    :param dims: number of binary dimensions
    :param ep_length: steps per episode
    :param n_invalid_actions: number of values masked out at each step (at most ``dims``)
    """

    def __init__(self, dims: int | None = None, ep_length: int = 100, n_invalid_actions: int = 0):
        if dims is None:
            dims = 1
        if n_invalid_actions > dims:
            raise ValueError(f"Cannot find a valid action for each dim. Set n_invalid_actions <= {dims}")
        space = spaces.MultiBinary(dims)
        self.n_dims = dims
        self.n_invalid_actions = n_invalid_actions
        self.possible_actions = np.arange(2 * dims)
        self.invalid_actions: list[int] = []
        super().__init__(space=space, ep_length=ep_length)

    def _choose_next_state(self) -> None:
        self.state = self.action_space.sample()
        correct = _flat_choices(self.state, [2] * self.n_dims)
        self.invalid_actions = _draw_invalid(self.possible_actions, correct, self.n_invalid_actions)

    def action_masks(self) -> list[bool]:
        """:return: two flags per binary dimension (value 0, value 1), True where the value is allowed"""
        return [action not in self.invalid_actions for action in self.possible_actions]
