"""make_vec_env / make_atari_env (wrapping order, monitor files, seeding, arguments) and is_wrapped / unwrap_wrapper."""

import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

from mlx_baselines3.common.env_util import is_wrapped, make_atari_env, make_vec_env, unwrap_wrapper
from mlx_baselines3.common.envs import IdentityEnv
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv


class NoRenderModeEnv(gym.Env):
    """An env whose constructor takes no ``render_mode``."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, size: int = 2):
        self.size = size

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


gym.register("NoRenderModeEnv-v0", entry_point=NoRenderModeEnv)


def test_make_vec_env_monitors_every_env_and_writes_ranked_files(tmp_path):
    monitor_dir = str(tmp_path / "logs")
    vec_env = make_vec_env("CartPole-v1", n_envs=3, seed=0, start_index=2, monitor_dir=monitor_dir)
    assert isinstance(vec_env, DummyVecEnv) and vec_env.num_envs == 3
    assert vec_env.env_is_wrapped(Monitor) == [True, True, True]
    assert vec_env.get_attr("render_mode") == ["rgb_array"] * 3
    assert sorted(os.listdir(monitor_dir)) == ["2.monitor.csv", "3.monitor.csv", "4.monitor.csv"]
    vec_env.close()


def test_make_vec_env_without_monitor_dir_still_reports_episodes():
    vec_env = make_vec_env(IdentityEnv, n_envs=2, env_kwargs={"dim": 2, "ep_length": 3})
    vec_env.reset()
    for _ in range(3):
        _, _, dones, infos = vec_env.step(np.zeros(2, dtype=np.int64))
    assert dones.tolist() == [True, True]
    assert [info["episode"]["l"] for info in infos] == [3, 3]


def test_make_vec_env_seeding():
    seed = 7
    first = make_vec_env("CartPole-v1", n_envs=2, seed=seed)
    second = make_vec_env("CartPole-v1", n_envs=2, seed=seed)
    obs = first.reset()
    np.testing.assert_array_equal(obs, second.reset())
    # Env i is reset with seed + i and its action space is seeded with seed + rank.
    for i in range(2):
        np.testing.assert_array_equal(obs[i], gym.make("CartPole-v1").reset(seed=seed + i)[0])
        reference_space = gym.spaces.Discrete(2)
        reference_space.seed(seed + i)
        samples = [first.get_attr("action_space", indices=i)[0].sample() for _ in range(20)]
        assert samples == [reference_space.sample() for _ in range(20)]
    assert not np.array_equal(obs, make_vec_env("CartPole-v1", n_envs=2, seed=seed + 1).reset())


def test_make_vec_env_seed_offsets_follow_start_index():
    space_seeds = make_vec_env(IdentityEnv, n_envs=1, seed=10, start_index=5, env_kwargs={"dim": 1000})
    reference_space = gym.spaces.Discrete(1000)
    reference_space.seed(15)
    assert space_seeds.get_attr("action_space")[0].sample() == reference_space.sample()


def test_make_vec_env_parity_with_sb3():
    sb3_env_util = pytest.importorskip("stable_baselines3.common.env_util")
    ours = make_vec_env("CartPole-v1", n_envs=2, seed=3, start_index=1)
    theirs = sb3_env_util.make_vec_env("CartPole-v1", n_envs=2, seed=3, start_index=1)
    np.testing.assert_array_equal(ours.reset(), theirs.reset())
    for _ in range(30):
        actions = np.array([space.sample() for space in ours.get_attr("action_space")])
        assert actions.tolist() == [space.sample() for space in theirs.get_attr("action_space")]
        obs, rewards, dones, _ = ours.step(actions)
        obs_sb3, rewards_sb3, dones_sb3, _ = theirs.step(actions)
        np.testing.assert_array_equal(obs, obs_sb3)
        np.testing.assert_array_equal(dones, dones_sb3)
        np.testing.assert_array_equal(rewards, rewards_sb3)


def test_make_vec_env_wrapper_goes_outside_the_monitor():
    vec_env = make_vec_env(
        IdentityEnv,
        n_envs=2,
        env_kwargs={"dim": 2, "ep_length": 100},
        wrapper_class=TimeLimit,
        wrapper_kwargs={"max_episode_steps": 4},
    )
    env = vec_env.envs[0]
    assert isinstance(env, TimeLimit) and isinstance(env.env, Monitor)
    vec_env.reset()
    for _ in range(4):
        _, _, dones, infos = vec_env.step(np.zeros(2, dtype=np.int64))
    # The Monitor does not see TimeLimit's truncation: it reports no episode.
    assert dones.tolist() == [True, True] and "episode" not in infos[0]
    assert vec_env.envs[1].env.get_total_steps() == 4


def test_make_vec_env_kwargs_reach_env_and_monitor(tmp_path):
    vec_env = make_vec_env(
        "Pendulum-v1",
        n_envs=1,
        env_kwargs={"g": 3.5, "render_mode": None},
        monitor_dir=str(tmp_path),
        monitor_kwargs={"info_keywords": ("is_success",)},
    )
    assert vec_env.get_attr("g") == [3.5]
    assert vec_env.get_attr("render_mode") == [None]
    with open(tmp_path / "0.monitor.csv") as log:
        log.readline()
        assert log.readline().strip() == "r,l,t,is_success"


@pytest.mark.filterwarnings("ignore:.*render_mode='rgb_array' that is not in the possible render_modes")
def test_make_vec_env_env_without_render_mode():
    # gym.make raises TypeError for the default render_mode; make_vec_env retries without it.
    vec_env = make_vec_env("NoRenderModeEnv-v0", n_envs=1, env_kwargs={"size": 5})
    assert vec_env.get_attr("size") == [5]


def test_make_vec_env_with_subproc_vec_env_and_its_kwargs():
    vec_env = make_vec_env(
        IdentityEnv,
        n_envs=2,
        seed=0,
        env_kwargs={"dim": 3, "ep_length": 2},
        vec_env_cls=SubprocVecEnv,
        vec_env_kwargs={"start_method": "spawn"},
    )
    try:
        assert isinstance(vec_env, SubprocVecEnv)
        assert vec_env.env_is_wrapped(Monitor) == [True, True]
        vec_env.reset()
        vec_env.step(np.zeros(2, dtype=np.int64))
        _, _, dones, infos = vec_env.step(np.zeros(2, dtype=np.int64))
        assert dones.tolist() == [True, True] and infos[1]["episode"]["l"] == 2
    finally:
        vec_env.close()


def test_make_vec_env_rejects_non_gymnasium_env():
    with pytest.raises(ValueError, match="not a Gymnasium environment"):
        make_vec_env(lambda: object(), n_envs=1)


def test_is_wrapped_and_unwrap_wrapper():
    monitor = Monitor(IdentityEnv(dim=2))
    env = TimeLimit(monitor, max_episode_steps=10)
    assert unwrap_wrapper(env, Monitor) is monitor
    assert unwrap_wrapper(env, TimeLimit) is env
    assert unwrap_wrapper(env, gym.Wrapper) is env  # the outermost match
    assert is_wrapped(env, Monitor) and is_wrapped(monitor, Monitor)
    assert not is_wrapped(env, gym.wrappers.ClipAction)
    assert unwrap_wrapper(IdentityEnv(dim=2), Monitor) is None


def test_make_atari_env():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    from mlx_baselines3.common.atari_wrappers import AtariWrapper

    vec_env = make_atari_env("BreakoutNoFrameskip-v4", n_envs=2, seed=0, wrapper_kwargs={"screen_size": 42})
    assert vec_env.env_is_wrapped(AtariWrapper) == [True, True]
    assert vec_env.env_is_wrapped(Monitor) == [True, True]
    obs = vec_env.reset()
    assert obs.shape == (2, 42, 42, 1) and obs.dtype == np.uint8
    sb3_env_util = pytest.importorskip("stable_baselines3.common.env_util")
    theirs = sb3_env_util.make_atari_env("BreakoutNoFrameskip-v4", n_envs=2, seed=0, wrapper_kwargs={"screen_size": 42})
    np.testing.assert_array_equal(obs, theirs.reset())
    for action in [1, 2, 3, 0, 2]:
        step, step_sb3 = vec_env.step(np.array([action, 3 - action])), theirs.step(np.array([action, 3 - action]))
        np.testing.assert_array_equal(step[0], step_sb3[0])
        np.testing.assert_array_equal(step[1], step_sb3[1])
