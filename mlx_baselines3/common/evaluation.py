"""Run a policy for a number of episodes and report the returns."""

import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from mlx_baselines3.common import type_aliases
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor, is_vecenv_wrapped


def evaluate_policy(
    model: "type_aliases.PolicyPredictor",
    env: gym.Env | VecEnv,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    render: bool = False,
    callback: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    reward_threshold: float | None = None,
    return_episode_rewards: bool = False,
    warn: bool = True,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """
    Run ``model`` for ``n_eval_episodes`` episodes and return the mean and standard deviation of the undiscounted
    episode returns.

    With a ``VecEnv`` the episodes are split up front between the sub-environments as evenly as possible
    (environment ``i`` runs ``(n_eval_episodes + i) // n_envs`` of them), and episodes past an environment's share
    are ignored: counting whichever episodes finish first would favour short episodes
    (https://github.com/DLR-RM/stable-baselines3/issues/402).

    .. note::
        When the env is wrapped in a ``Monitor`` (or ``VecMonitor``), returns and lengths are read from the
        ``info["episode"]`` it adds, and an episode only counts when that key is present. So wrappers outside the
        ``Monitor`` that scale rewards or end episodes early (e.g. ``EpisodicLifeEnv`` on a lost life) do not change
        the result. Without a ``Monitor`` every ``done`` ends an episode and the rewards are summed as ``step``
        returns them: wrap the env in ``Monitor`` before any other wrapper to evaluate the true task.

    :param model: anything with ``predict(observation, state, episode_start, deterministic)`` returning
        ``(actions, state)``: an algorithm, a policy, or your own object
    :param env: the environment (a gymnasium env is put in a ``DummyVecEnv``)
    :param n_eval_episodes: number of episodes to evaluate
    :param deterministic: whether to ask ``predict`` for deterministic actions
    :param render: whether to call ``env.render()`` after every step
    :param callback: called after each step once per sub-environment still short of its share, as
        ``callback(locals(), globals())``; the locals include ``i`` (the sub-environment), ``reward``, ``done``,
        ``info``, ``episode_counts``, ``current_rewards`` and ``current_lengths``
    :param reward_threshold: if given, an ``AssertionError`` is raised unless the mean return exceeds it
    :param return_episode_rewards: return the per-episode returns and lengths instead of their mean and std
    :param warn: warn when the env is not wrapped in a ``Monitor``
    :return: ``(mean_return, std_return)``, or ``(episode_returns, episode_lengths)`` (two lists, in the order the
        episodes ended) when ``return_episode_rewards`` is True
    """
    if not isinstance(env, VecEnv):
        single_env = env
        env = DummyVecEnv([lambda: single_env])  # type: ignore[list-item, return-value]

    is_monitor_wrapped = is_vecenv_wrapped(env, VecMonitor) or env.env_is_wrapped(Monitor)[0]
    if not is_monitor_wrapped and warn:
        warnings.warn(
            "Evaluation environment is not wrapped with a ``Monitor`` wrapper. "
            "This may result in reporting modified episode lengths and rewards, if other wrappers happen to modify these. "
            "Consider wrapping environment first with ``Monitor`` wrapper.",
            UserWarning,
        )

    n_envs = env.num_envs
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []
    episode_counts = np.zeros(n_envs, dtype="int")
    episode_count_targets = np.array([(n_eval_episodes + i) // n_envs for i in range(n_envs)], dtype="int")
    current_rewards = np.zeros(n_envs)
    current_lengths = np.zeros(n_envs, dtype="int")
    observations = env.reset()
    states = None
    episode_starts = np.ones((n_envs,), dtype=bool)

    while (episode_counts < episode_count_targets).any():
        actions, states = model.predict(
            observations,  # type: ignore[arg-type]
            state=states,
            episode_start=episode_starts,
            deterministic=deterministic,
        )
        new_observations, rewards, dones, infos = env.step(actions)
        current_rewards += rewards
        current_lengths += 1
        for i in range(n_envs):
            if episode_counts[i] >= episode_count_targets[i]:
                continue
            # Named locals, so that the callback can read them.
            reward = rewards[i]
            done = dones[i]
            info = infos[i]
            episode_starts[i] = done
            if callback is not None:
                callback(locals(), globals())
            if not done:
                continue
            if not is_monitor_wrapped:
                episode_rewards.append(current_rewards[i])
                episode_lengths.append(current_lengths[i])
                episode_counts[i] += 1
            elif "episode" in info:
                # A done without the Monitor's summary is not the end of the real episode (e.g. a lost life
                # under EpisodicLifeEnv), so only the Monitor's statistics count.
                episode_rewards.append(info["episode"]["r"])
                episode_lengths.append(info["episode"]["l"])
                episode_counts[i] += 1
            current_rewards[i] = 0
            current_lengths[i] = 0
        observations = new_observations
        if render:
            env.render()

    # NumPy floats, as SB3 returns them.
    mean_reward = np.mean(episode_rewards)
    std_reward = np.std(episode_rewards)
    if reward_threshold is not None:
        assert mean_reward > reward_threshold, f"Mean reward below threshold: {mean_reward:.2f} < {reward_threshold:.2f}"
    if return_episode_rewards:
        return episode_rewards, episode_lengths
    return mean_reward, std_reward
