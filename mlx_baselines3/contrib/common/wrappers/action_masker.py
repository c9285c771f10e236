"""A wrapper that gives any env the ``action_masks()`` method masked algorithms look for."""

from collections.abc import Callable

import gymnasium as gym
import numpy as np


class ActionMasker(gym.Wrapper):
    """
    Provide ``action_masks()`` for an env that computes its masks elsewhere (not needed when the env has the method).

    :param env: the env to wrap
    :param action_mask_fn: a function of the (unwrapped-by-one) env returning the mask, or the name of such a method
        of the env
    """

    def __init__(self, env: gym.Env, action_mask_fn: str | Callable[[gym.Env], np.ndarray]):
        super().__init__(env)
        if isinstance(action_mask_fn, str):
            found_method = getattr(self.env, action_mask_fn)
            if not callable(found_method):
                raise ValueError(f"Environment attribute {action_mask_fn} is not a method")
            self._action_mask_fn = found_method
        else:
            self._action_mask_fn = action_mask_fn

    def action_masks(self) -> np.ndarray:
        """:return: the mask of the current state (True: allowed)"""
        return self._action_mask_fn(self.env)
