"""Monitor: episode statistics, the info it adds, its CSV log, and load_results."""

import json
import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.monitor import LoadMonitorResultsError, Monitor, ResultsWriter, get_monitor_files, load_results


class ScriptedEnv(gym.Env):
    """Episodes of ``ep_len`` steps; the reward of step k is ``k * scale``; info carries ``k`` and a label."""

    def __init__(self, ep_len=3, scale=0.5, truncate=False):
        self.observation_space = spaces.Box(0.0, 100.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.ep_len, self.scale, self.truncate = ep_len, scale, truncate
        self.k = 0

    def reset(self, seed=None, options=None, **kwargs):
        super().reset(seed=seed)
        self.k = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.k += 1
        done = self.k == self.ep_len
        info = {"k": self.k, "label": f"ep-end-{self.k}"}
        return np.full(1, self.k, np.float32), self.k * self.scale, done and not self.truncate, done and self.truncate, info


def run_episodes(env, n_episodes):
    infos = []
    for _ in range(n_episodes):
        env.reset()
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(0)
            done = terminated or truncated
        infos.append(info)
    return infos


@pytest.mark.parametrize("truncate", [False, True])
def test_episode_statistics_and_info(truncate):
    env = Monitor(ScriptedEnv(ep_len=3, scale=0.5, truncate=truncate))
    infos = run_episodes(env, 2)
    # Rewards 0.5 + 1.0 + 1.5 = 3.0 over 3 steps, for each episode.
    assert [info["episode"]["r"] for info in infos] == [3.0, 3.0]
    assert [info["episode"]["l"] for info in infos] == [3, 3]
    assert env.get_episode_rewards() == [3.0, 3.0] and env.get_episode_lengths() == [3, 3]
    assert env.get_total_steps() == 6
    times = env.get_episode_times()
    assert len(times) == 2 and 0 <= times[0] <= times[1]
    assert infos[1]["episode"]["t"] == round(times[1], 6)
    env.reset()
    _, _, _, _, info = env.step(0)
    assert "episode" not in info and env.get_total_steps() == 7


def test_rewards_are_rounded_in_info_only():
    env = Monitor(ScriptedEnv(ep_len=1, scale=1 / 3))
    infos = run_episodes(env, 1)
    assert infos[0]["episode"]["r"] == 0.333333
    assert env.get_episode_rewards() == [1 / 3]


def test_early_reset_and_step_after_done():
    strict = Monitor(ScriptedEnv(), allow_early_resets=False)
    strict.reset()
    strict.step(0)
    with pytest.raises(RuntimeError, match="Tried to reset an environment before done"):
        strict.reset()
    strict.step(0)
    strict.step(0)
    with pytest.raises(RuntimeError, match="Tried to step environment that needs reset"):
        strict.step(0)
    strict.reset()

    fresh = Monitor(ScriptedEnv())
    with pytest.raises(RuntimeError, match="needs reset"):
        fresh.step(0)
    fresh.reset()
    fresh.step(0)
    fresh.reset()  # allowed by default; the partial episode is dropped
    run_episodes(fresh, 1)
    assert fresh.get_episode_lengths() == [3]


def test_log_file_contents(tmp_path):
    env = Monitor(
        ScriptedEnv(ep_len=2),  # its reset() accepts the extra "tag" keyword
        filename=str(tmp_path / "logs" / "run0"),
        info_keywords=("label",),
        reset_keywords=("tag",),
    )
    for tag in ("a", "b"):
        env.reset(tag=tag)
        env.step(0)
        _, _, _, _, info = env.step(0)
        assert info["episode"]["tag"] == tag and info["episode"]["label"] == "ep-end-2"
    with pytest.raises(ValueError, match="Expected you to pass keyword argument tag into reset"):
        env.reset()
    env.close()
    path = tmp_path / "logs" / "run0.monitor.csv"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0][1:])
    assert lines[0].startswith("#") and header["env_id"] == "None" and header["t_start"] == env.t_start
    assert lines[1] == "r,l,t,tag,label"
    rows = [line.split(",") for line in lines[2:]]
    assert [(row[0], row[1], row[3], row[4]) for row in rows] == [("1.5", "2", "a", "ep-end-2"), ("1.5", "2", "b", "ep-end-2")]
    assert get_monitor_files(str(tmp_path / "logs")) == [os.path.realpath(path)]


def test_env_id_in_header_and_directory_filename(tmp_path):
    env = Monitor(gym.make("CartPole-v1"), filename=str(tmp_path))
    env.close()
    header = json.loads((tmp_path / "monitor.csv").read_text().splitlines()[0][1:])
    assert header["env_id"] == "CartPole-v1"


def test_append_instead_of_override(tmp_path):
    filename = str(tmp_path / "shared")
    first = Monitor(ScriptedEnv(ep_len=1), filename=filename)
    run_episodes(first, 2)
    first.close()
    second = Monitor(ScriptedEnv(ep_len=1, scale=4.0), filename=filename, override_existing=False)
    run_episodes(second, 1)
    second.close()
    lines = (tmp_path / "shared.monitor.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[1] == "r,l,t"
    assert [line.split(",")[0] for line in lines[2:]] == ["0.5", "0.5", "4.0"]


def test_load_results_merges_and_sorts(tmp_path):
    for idx, scale in enumerate((1.0, 10.0)):
        env = Monitor(ScriptedEnv(ep_len=2, scale=scale), filename=str(tmp_path / str(idx)))
        run_episodes(env, 3)
        env.close()
    Monitor(ScriptedEnv(), filename=str(tmp_path / "empty")).close()
    frame = load_results(str(tmp_path))
    assert len(frame) == 6 and list(frame.columns) == ["index", "r", "l", "t"]
    assert sorted(frame["r"].tolist()) == [3.0] * 3 + [30.0] * 3
    assert (frame["l"] == 2).all()
    assert frame["t"].is_monotonic_increasing and frame["t"].min() >= 0


def test_load_results_errors_and_empty(tmp_path):
    with pytest.raises(LoadMonitorResultsError, match="No monitor files"):
        load_results(str(tmp_path))
    ResultsWriter(str(tmp_path / "only"), header={"t_start": 1.0}).close()
    empty = load_results(str(tmp_path))
    assert len(empty) == 0 and list(empty.columns) == ["index", "r", "l", "t"]
    (tmp_path / "bad.monitor.csv").write_text("r,l,t\n1,2,3\n")
    with pytest.raises(LoadMonitorResultsError, match="not a monitor log"):
        load_results(str(tmp_path))


def test_results_writer_names_files(tmp_path):
    writer = ResultsWriter(str(tmp_path / "x.monitor.csv"), extra_keys=("success",))
    writer.write_row({"r": 1.0, "l": 3, "t": 0.5, "success": True})
    writer.close()
    assert (tmp_path / "x.monitor.csv").read_text().splitlines()[1:] == ["r,l,t,success", "1.0,3,0.5,True"]
    ResultsWriter(str(tmp_path / "y")).close()
    assert (tmp_path / "y.monitor.csv").exists()


def test_parity_with_sb3_log(tmp_path):
    sb3_monitor = pytest.importorskip("stable_baselines3.common.monitor")
    rows = {}
    for name, monitor_cls in (("ours", Monitor), ("sb3", sb3_monitor.Monitor)):
        env = monitor_cls(ScriptedEnv(ep_len=2, scale=1 / 3), filename=str(tmp_path / name), info_keywords=("k",))
        infos = run_episodes(env, 2)
        env.close()
        lines = (tmp_path / f"{name}.monitor.csv").read_text().splitlines()
        header = json.loads(lines[0][1:])
        # Times differ between runs; everything else must be identical.
        rows[name] = (sorted(header), lines[1], [line.split(",")[:2] + line.split(",")[3:] for line in lines[2:]])
        rows[name + "_info"] = [{k: v for k, v in info["episode"].items() if k != "t"} for info in infos]
    assert rows["ours"] == rows["sb3"]
    assert rows["ours_info"] == rows["sb3_info"]
