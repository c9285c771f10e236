"""common.monitor: the same files, the same loaded results and the same errors as SB3's."""

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3.common import monitor

pd = pytest.importorskip("pandas")


def _write_logs(monitor_module, folder, seed):
    for index in range(2):
        env = monitor_module.Monitor(gym.make("CartPole-v1"), str(folder / f"{index}"), info_keywords=())
        env.reset(seed=seed + index)
        for _ in range(60):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        env.close()


def test_load_results_matches_sb3(tmp_path):
    sb3_monitor = pytest.importorskip("stable_baselines3.common.monitor")
    _write_logs(monitor, tmp_path, seed=0)
    ours, theirs = monitor.load_results(str(tmp_path)), sb3_monitor.load_results(str(tmp_path))
    pd.testing.assert_frame_equal(ours, theirs)
    assert sorted(monitor.get_monitor_files(str(tmp_path))) == sorted(sb3_monitor.get_monitor_files(str(tmp_path)))
    # Each library reads the other's files.
    other = tmp_path / "sb3"
    other.mkdir()
    _write_logs(sb3_monitor, other, seed=1)
    pd.testing.assert_frame_equal(monitor.load_results(str(other)), sb3_monitor.load_results(str(other)))


def test_no_monitor_files_error_matches_sb3(tmp_path):
    sb3_monitor = pytest.importorskip("stable_baselines3.common.monitor")
    for module in (monitor, sb3_monitor):
        with pytest.raises(module.LoadMonitorResultsError, match=r"No monitor files of the form \*monitor\.csv found in"):
            module.load_results(str(tmp_path))
    assert issubclass(monitor.LoadMonitorResultsError, Exception)


def test_episode_info_types_match_sb3():
    sb3_monitor = pytest.importorskip("stable_baselines3.common.monitor")
    infos = []
    for module in (monitor, sb3_monitor):
        env = module.Monitor(gym.make("CartPole-v1"))
        env.reset(seed=3)
        env.action_space.seed(3)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
        infos.append(info["episode"])
        assert env.get_episode_rewards() == [info["episode"]["r"]]
        assert type(env.get_episode_rewards()[0]) is float
        assert type(env.get_episode_lengths()[0]) is int
        assert isinstance(env.get_total_steps(), int)
    ours, theirs = infos
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}
    assert ours["r"] == theirs["r"] and ours["l"] == theirs["l"]
    assert np.isfinite(ours["t"])
