"""``evaluate_policy`` for masked models: at every step the actions are chosen among those the env allows."""

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from mlx_baselines3.common import evaluation
from mlx_baselines3.common.monitor import Monitor as Monitor  # sb3-contrib's module namespace
from mlx_baselines3.common.vec_env import DummyVecEnv, VecEnv
from mlx_baselines3.common.vec_env import VecMonitor as VecMonitor
from mlx_baselines3.common.vec_env import is_vecenv_wrapped as is_vecenv_wrapped
from mlx_baselines3.contrib.common.maskable.utils import get_action_masks, is_masking_supported


class _MaskedPredictor:
    """A model whose ``predict`` asks the env for the current action masks first."""

    def __init__(self, model: Any, env: VecEnv):
        self.model = model
        self.env = env

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        action_masks = get_action_masks(self.env)
        return self.model.predict(
            observation, state=state, episode_start=episode_start, deterministic=deterministic, action_masks=action_masks
        )


def evaluate_policy(
    model: Any,
    env: gym.Env | VecEnv,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    render: bool = False,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    reward_threshold: float | None = None,
    return_episode_rewards: bool = False,
    warn: bool = True,
    use_masking: bool = True,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """
    ``mlx_baselines3.common.evaluation.evaluate_policy`` (same episodes split, Monitor handling, callback and return
    values) for a model whose ``predict`` takes ``action_masks``, such as ``MaskablePPO``.

    :param model: the model to evaluate
    :param env: the environment (a gymnasium env is put in a ``DummyVecEnv``); with ``use_masking`` its envs need an
        ``action_masks()`` method (see ``ActionMasker``)
    :param n_eval_episodes: number of episodes to evaluate
    :param deterministic: whether to ask ``predict`` for deterministic actions
    :param render: whether to call ``env.render()`` after every step
    :param callback: called after each step once per sub-environment still short of its share, with
        ``(locals(), globals())``
    :param reward_threshold: if given, an ``AssertionError`` is raised unless the mean return exceeds it
    :param return_episode_rewards: return the per-episode returns and lengths instead of their mean and std
    :param warn: warn when the env is not wrapped in a ``Monitor``
    :param use_masking: choose the actions under the env's masks
    :return: ``(mean_return, std_return)``, or ``(episode_returns, episode_lengths)`` with ``return_episode_rewards``
    """
    if use_masking and not is_masking_supported(env):
        raise ValueError("Environment does not support action masking. Consider using ActionMasker wrapper")
    if not isinstance(env, VecEnv):
        single_env = env
        env = DummyVecEnv([lambda: single_env])  # type: ignore[list-item, return-value]
    return evaluation.evaluate_policy(
        _MaskedPredictor(model, env) if use_masking else model,
        env,
        n_eval_episodes=n_eval_episodes,
        deterministic=deterministic,
        render=render,
        callback=callback,
        reward_threshold=reward_threshold,
        return_episode_rewards=return_episode_rewards,
        warn=warn,
    )


def __getattr__(name: str):
    # sb3-contrib's module imports MaskablePPO (for a type hint); lazily here, as ppo_mask imports this package.
    if name == "MaskablePPO":
        from mlx_baselines3.contrib.ppo_mask import MaskablePPO

        return MaskablePPO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
