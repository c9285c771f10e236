"""
Learning curves from ``Monitor`` logs.

Loading the logs needs pandas and plotting needs matplotlib (``pip install pandas matplotlib``, or
``pip install 'mlx-baselines3[extra]'``); both are imported only when used, so the helpers that work on arrays
(``rolling_window``, ``window_func``, ``ts2xy``) need neither.
"""

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from mlx_baselines3.common.monitor import load_results

if TYPE_CHECKING:
    import pandas as pd

X_TIMESTEPS = "timesteps"
X_EPISODES = "episodes"
X_WALLTIME = "walltime_hrs"
POSSIBLE_X_AXES = [X_TIMESTEPS, X_EPISODES, X_WALLTIME]
# Number of episodes averaged in the smoothed curve.
EPISODES_WINDOW = 100


def _import_pyplot() -> ModuleType:
    try:
        from matplotlib import pyplot as plt
    except ImportError as e:
        raise ImportError(
            "matplotlib is required for plotting functionality. "
            "Install it with `pip install matplotlib` or install the extra dependencies with "
            "`pip install 'mlx-baselines3[extra]'`."
        ) from e
    return plt


def rolling_window(array: np.ndarray, window: int) -> np.ndarray:
    """
    View the last axis of ``array`` as overlapping windows (no copy).

    :param array: the input array
    :param window: length of each window
    :return: a read-only array of shape ``array.shape[:-1] + (array.shape[-1] - window + 1, window)``
    """
    return np.lib.stride_tricks.sliding_window_view(array, window, axis=-1)


def window_func(var_1: np.ndarray, var_2: np.ndarray, window: int, func: Callable) -> tuple[np.ndarray, np.ndarray]:
    """
    Reduce every ``window`` consecutive values of ``var_2`` with ``func``, and align them with ``var_1``.

    :param var_1: the x values
    :param var_2: the y values, as long as ``var_1``
    :param window: length of the rolling window
    :param func: reduction called as ``func(windows, axis=-1)``, e.g. ``np.mean``
    :return: ``var_1`` from the end of the first window on, and the reduced values
    """
    return var_1[window - 1 :], func(rolling_window(var_2, window), axis=-1)


def ts2xy(data_frame: "pd.DataFrame", x_axis: str) -> tuple[np.ndarray, np.ndarray]:
    """
    Turn monitor records into x and y arrays, y being the episode return.

    :param data_frame: the records, as ``load_results`` returns them (columns ``r``, ``l``, ``t``)
    :param x_axis: ``X_TIMESTEPS`` (cumulative steps at the end of each episode), ``X_EPISODES`` (episode index)
        or ``X_WALLTIME`` (hours since the start)
    :return: the x and y arrays
    """
    if x_axis == X_TIMESTEPS:
        x_var = np.cumsum(data_frame.l.values)
    elif x_axis == X_EPISODES:
        x_var = np.arange(len(data_frame))
    elif x_axis == X_WALLTIME:
        x_var = data_frame.t.values / 3600.0
    else:
        raise NotImplementedError(f"Unsupported {x_axis=}, please use one of {POSSIBLE_X_AXES}")
    return x_var, data_frame.r.values


def plot_curves(
    xy_list: list[tuple[np.ndarray, np.ndarray]], x_axis: str, title: str, figsize: tuple[int, int] = (8, 2)
) -> None:
    """
    Draw each curve as a scatter of episode returns plus, once it has ``EPISODES_WINDOW`` points, their rolling
    mean, in a figure named ``title`` (then ``plt.show()`` or ``plt.savefig(...)`` it).

    :param xy_list: the (x, y) arrays of each curve
    :param x_axis: label of the x axis (one of ``POSSIBLE_X_AXES``)
    :param title: figure name and title
    :param figsize: figure size (width, height) in inches
    """
    plt = _import_pyplot()
    plt.figure(title, figsize=figsize)
    max_x = max(x[-1] for x, _ in xy_list)
    for x, y in xy_list:
        plt.scatter(x, y, s=2)
        if x.shape[0] >= EPISODES_WINDOW:
            x_smooth, y_mean = window_func(x, y, EPISODES_WINDOW, np.mean)
            plt.plot(x_smooth, y_mean)
    plt.xlim(0, max_x)
    plt.title(title)
    plt.xlabel(x_axis)
    plt.ylabel("Episode Rewards")
    plt.tight_layout()


def plot_results(
    dirs: list[str], num_timesteps: int | None, x_axis: str, task_name: str, figsize: tuple[int, int] = (8, 2)
) -> None:
    """
    Plot the learning curves stored as ``Monitor`` logs, one curve per directory.

    :param dirs: directories holding ``*monitor.csv`` files (all the files of a directory make one curve)
    :param num_timesteps: keep only the episodes that end within this many steps; None keeps all
    :param x_axis: ``X_TIMESTEPS``, ``X_EPISODES`` or ``X_WALLTIME``
    :param task_name: figure name and title
    :param figsize: figure size (width, height) in inches
    """
    xy_list = []
    for folder in dirs:
        data_frame = load_results(folder)
        if num_timesteps is not None:
            data_frame = data_frame[data_frame.l.cumsum() <= num_timesteps]
        xy_list.append(ts2xy(data_frame, x_axis))
    plot_curves(xy_list, x_axis, task_name, figsize)
