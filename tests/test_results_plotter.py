"""results_plotter: array helpers, x axes, and plotting real Monitor logs to a PNG."""

import sys

import numpy as np
import pytest

from mlx_baselines3.common import results_plotter
from mlx_baselines3.common.envs import IdentityEnv
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.results_plotter import (
    EPISODES_WINDOW,
    POSSIBLE_X_AXES,
    X_EPISODES,
    X_TIMESTEPS,
    X_WALLTIME,
    plot_results,
    rolling_window,
    ts2xy,
    window_func,
)

pd = pytest.importorskip("pandas")


def test_constants():
    assert POSSIBLE_X_AXES == ["timesteps", "episodes", "walltime_hrs"]
    assert (X_TIMESTEPS, X_EPISODES, X_WALLTIME, EPISODES_WINDOW) == ("timesteps", "episodes", "walltime_hrs", 100)


def test_rolling_window_and_window_func():
    values = np.arange(6.0)
    np.testing.assert_array_equal(rolling_window(values, 3), [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    assert rolling_window(np.zeros((2, 5)), 2).shape == (2, 4, 2)
    x, y = window_func(np.arange(10, 16), values**2, 3, np.mean)
    np.testing.assert_array_equal(x, [12, 13, 14, 15])
    np.testing.assert_allclose(y, [5 / 3, 14 / 3, 29 / 3, 50 / 3])


def test_ts2xy_axes():
    frame = pd.DataFrame({"r": [1.0, 2.0, 3.0], "l": [10, 20, 5], "t": [360.0, 720.0, 7200.0]})
    x, y = ts2xy(frame, X_TIMESTEPS)
    np.testing.assert_array_equal(x, [10, 30, 35])
    np.testing.assert_array_equal(y, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ts2xy(frame, X_EPISODES)[0], [0, 1, 2])
    np.testing.assert_allclose(ts2xy(frame, X_WALLTIME)[0], [0.1, 0.2, 2.0])
    with pytest.raises(NotImplementedError, match="x_axis='steps'"):
        ts2xy(frame, "steps")


def _end_episode_by_truncation(monitor, length):
    monitor.reset()
    monitor.unwrapped.ep_length = length
    for _ in range(length):
        monitor.step(monitor.unwrapped.state)


def test_plot_results_from_monitor_logs(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    folder = tmp_path / "run"
    folder.mkdir()
    monitor = Monitor(IdentityEnv(dim=2), filename=str(folder / "0"))
    lengths = [3, 5, 2] * 40
    for length in lengths:
        _end_episode_by_truncation(monitor, length)
    monitor.close()

    plot_results([str(folder)], num_timesteps=None, x_axis=X_TIMESTEPS, task_name="identity", figsize=(4, 2))
    figure = plt.gcf()
    assert figure.get_label() == "identity" and tuple(figure.get_size_inches()) == (4, 2)
    axes = figure.axes[0]
    assert axes.get_title() == "identity" and axes.get_xlabel() == "timesteps" and axes.get_ylabel() == "Episode Rewards"
    scatter_points = axes.collections[0].get_offsets()
    np.testing.assert_array_equal(scatter_points[:, 0], np.cumsum(lengths))
    np.testing.assert_array_equal(scatter_points[:, 1], lengths)
    # 120 episodes >= EPISODES_WINDOW, so the rolling mean is drawn too, starting at the 100th episode.
    (mean_line,) = axes.lines
    assert len(mean_line.get_xdata()) == len(lengths) - EPISODES_WINDOW + 1
    np.testing.assert_allclose(mean_line.get_ydata()[0], np.mean(lengths[:EPISODES_WINDOW]))
    assert axes.get_xlim() == (0, np.sum(lengths))
    png = tmp_path / "curve.png"
    plt.savefig(png)
    assert png.stat().st_size > 1000
    plt.close("all")

    # num_timesteps keeps only the episodes that end within the budget: 3 + 5 + 2 + 3 = 13 <= 14 < 18.
    plot_results([str(folder)], num_timesteps=14, x_axis=X_EPISODES, task_name="cut")
    np.testing.assert_array_equal(plt.gcf().axes[0].collections[0].get_offsets()[:, 1], [3, 5, 2, 3])
    assert not plt.gcf().axes[0].lines
    plt.close("all")


def test_plot_curves_without_matplotlib_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        results_plotter.plot_curves([(np.arange(3), np.ones(3))], X_EPISODES, "title")
