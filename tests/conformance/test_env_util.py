"""common.env_util: make_vec_env builds what SB3's builds, seeded the same way."""

import importlib

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3.common import env_util
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import DummyVecEnv

sb3_env_util = pytest.importorskip("stable_baselines3.common.env_util") if importlib.util.find_spec("torch") else None


def _rollout(vec_env, n_steps=20):
    observations, rewards_and_dones = [vec_env.reset()], []
    for step in range(n_steps):
        observation, reward, done, _ = vec_env.step(np.array([step % 2] * vec_env.num_envs))
        observations.append(observation)
        rewards_and_dones.append(np.stack([reward, done]))
    vec_env.close()
    return np.array(observations), np.array(rewards_and_dones)


def test_make_vec_env_facts():
    vec_env = env_util.make_vec_env("CartPole-v1", n_envs=3, seed=5)
    assert isinstance(vec_env, DummyVecEnv) and vec_env.num_envs == 3
    assert all(isinstance(env, Monitor) for env in vec_env.envs)
    assert env_util.is_wrapped(vec_env.envs[0], Monitor)
    assert env_util.unwrap_wrapper(vec_env.envs[0], Monitor) is vec_env.envs[0]
    assert env_util.unwrap_wrapper(vec_env.envs[0], gym.wrappers.RecordVideo) is None
    vec_env.close()


def test_same_seeded_observations_as_sb3():
    if sb3_env_util is None:
        pytest.skip("SB3 not installed")
    ours = _rollout(env_util.make_vec_env("CartPole-v1", n_envs=2, seed=3))
    theirs = _rollout(sb3_env_util.make_vec_env("CartPole-v1", n_envs=2, seed=3))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_monitor_dir_and_kwargs_as_sb3(tmp_path):
    if sb3_env_util is None:
        pytest.skip("SB3 not installed")
    for name, module in (("ours", env_util), ("sb3", sb3_env_util)):
        vec_env = module.make_vec_env(
            "CartPole-v1", n_envs=2, seed=0, monitor_dir=str(tmp_path / name), env_kwargs=dict(max_episode_steps=5)
        )
        _rollout(vec_env, 6)
    for rank in (0, 1):
        ours = (tmp_path / "ours" / f"{rank}.monitor.csv").read_text().splitlines()
        theirs = (tmp_path / "sb3" / f"{rank}.monitor.csv").read_text().splitlines()
        assert ours[1] == theirs[1] == "r,l,t"
        assert [line.split(",")[:2] for line in ours[2:]] == [line.split(",")[:2] for line in theirs[2:]]
