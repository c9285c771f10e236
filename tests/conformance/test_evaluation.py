"""Conformance with SB3 2.9.2's ``common.evaluation.evaluate_policy``: return types, warnings, threshold, callback."""

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3 import PPO
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import DummyVecEnv


@pytest.fixture(scope="module")
def model():
    return PPO("MlpPolicy", "CartPole-v1", seed=0, n_steps=16, batch_size=16)


def test_returns_numpy_floats(model):
    mean_reward, std_reward = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=2)
    # SB3 returns np.mean / np.std results: np.float64, which is also a float.
    assert type(mean_reward) is np.float64 and type(std_reward) is np.float64
    rewards, lengths = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=3, return_episode_rewards=True)
    assert isinstance(rewards, list) and isinstance(lengths, list) and len(rewards) == len(lengths) == 3
    assert all(type(length) is int for length in lengths)
    assert all(reward == length for reward, length in zip(rewards, lengths, strict=True))  # CartPole pays 1 per step


def test_same_types_as_sb3(model):
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.evaluation import evaluate_policy as sb3_evaluate_policy
    from stable_baselines3.common.monitor import Monitor as Sb3Monitor

    theirs_model = sb3.PPO("MlpPolicy", "CartPole-v1", seed=0, n_steps=16, batch_size=16)
    ours = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=2)
    theirs = sb3_evaluate_policy(theirs_model, Sb3Monitor(gym.make("CartPole-v1")), n_eval_episodes=2)
    assert [type(x) for x in ours] == [type(x) for x in theirs]
    ours = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=2, return_episode_rewards=True)
    theirs = sb3_evaluate_policy(
        theirs_model, Sb3Monitor(gym.make("CartPole-v1")), n_eval_episodes=2, return_episode_rewards=True
    )
    assert [type(x[0]) for x in ours] == [type(x[0]) for x in theirs]


def test_warns_without_monitor_and_checks_threshold(model):
    with pytest.warns(UserWarning, match="Evaluation environment is not wrapped with a ``Monitor`` wrapper"):
        evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=1)
    with pytest.raises(AssertionError, match=r"Mean reward below threshold: .* < 1000\.00"):
        evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=1, reward_threshold=1000)


def test_episodes_are_spread_over_envs_as_sb3(model):
    env = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))] * 2)
    rewards, _ = evaluate_policy(model, env, n_eval_episodes=3, return_episode_rewards=True)
    # SB3 targets [(3 + i) // 2 for i in range(2)] = [1, 2] episodes per env.
    assert len(rewards) == 3
    seen = []
    evaluate_policy(model, env, n_eval_episodes=1, callback=lambda local_vars, global_vars: seen.append(sorted(local_vars)))
    for name in ("episode_counts", "episode_count_targets", "current_rewards", "infos", "dones", "i", "model"):
        assert name in seen[0]
