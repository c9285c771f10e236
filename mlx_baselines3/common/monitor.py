"""Episode statistics for a gymnasium env (``Monitor``), their CSV log files and the loading of those files."""

__all__ = ["Monitor", "ResultsWriter", "get_monitor_files", "load_results"]

import csv
import json
import os
import time
from glob import glob
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym
from gymnasium.core import ActType, ObsType

if TYPE_CHECKING:
    import pandas


class Monitor(gym.Wrapper[ObsType, ActType, ObsType, ActType]):
    """
    Records the return, length and wall-clock end time of every episode. At the end of an episode the step's info
    gets ``info["episode"] = {"r": return, "l": length, "t": seconds since creation}`` (plus ``info_keywords`` and
    ``reset_keywords`` values), and, with a ``filename``, a row is appended to a ``*.monitor.csv`` file.

    :param env: the environment to monitor
    :param filename: where to write the CSV log (``.monitor.csv`` is appended when missing; a directory gets
        ``monitor.csv`` inside it); None writes no log
    :param allow_early_resets: whether ``reset()`` may be called before the episode is over
    :param reset_keywords: keyword arguments of ``reset()`` whose values are logged with each episode
    :param info_keywords: keys of the last step's info whose values are logged with each episode
    :param override_existing: True overwrites an existing log file, False appends to it
    """

    EXT = "monitor.csv"

    def __init__(
        self,
        env: gym.Env,
        filename: str | None = None,
        allow_early_resets: bool = True,
        reset_keywords: tuple[str, ...] = (),
        info_keywords: tuple[str, ...] = (),
        override_existing: bool = True,
    ):
        super().__init__(env=env)
        self.t_start = time.time()
        self.results_writer: ResultsWriter | None = None
        if filename is not None:
            env_id = env.spec.id if env.spec is not None else None
            self.results_writer = ResultsWriter(
                filename,
                header={"t_start": self.t_start, "env_id": str(env_id)},
                extra_keys=reset_keywords + info_keywords,
                override_existing=override_existing,
            )
        self.reset_keywords = reset_keywords
        self.info_keywords = info_keywords
        self.allow_early_resets = allow_early_resets
        self.rewards: list[float] = []
        self.needs_reset = True
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []
        self.episode_times: list[float] = []
        self.total_steps = 0
        # Values of reset_keywords given to the latest reset(), logged with the episode it started.
        self.current_reset_info: dict[str, Any] = {}

    def reset(self, **kwargs) -> tuple[ObsType, dict[str, Any]]:
        """
        Reset the environment and start a new episode.

        :param kwargs: arguments for the wrapped env's ``reset()``; those named in ``reset_keywords`` are required
        :return: the first observation and the reset info
        :raises RuntimeError: when the episode is not over and ``allow_early_resets`` is False
        """
        if not self.allow_early_resets and not self.needs_reset:
            raise RuntimeError(
                "Tried to reset an environment before done. If you want to allow early resets, "
                "wrap your env with Monitor(env, path, allow_early_resets=True)"
            )
        self.rewards = []
        self.needs_reset = False
        for key in self.reset_keywords:
            value = kwargs.get(key)
            if value is None:
                raise ValueError(f"Expected you to pass keyword argument {key} into reset")
            self.current_reset_info[key] = value
        return self.env.reset(**kwargs)

    def step(self, action: ActType) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        """
        Step the environment; on the last step of an episode, record it and add ``info["episode"]``.

        :param action: the action
        :return: observation, reward, terminated, truncated, info
        :raises RuntimeError: when the episode is over and ``reset()`` was not called
        """
        if self.needs_reset:
            raise RuntimeError("Tried to step environment that needs reset")
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.rewards.append(float(reward))
        if terminated or truncated:
            self.needs_reset = True
            episode_return = sum(self.rewards)
            episode_length = len(self.rewards)
            elapsed = time.time() - self.t_start
            episode_info = {"r": round(episode_return, 6), "l": episode_length, "t": round(elapsed, 6)}
            for key in self.info_keywords:
                episode_info[key] = info[key]
            self.episode_returns.append(episode_return)
            self.episode_lengths.append(episode_length)
            self.episode_times.append(elapsed)
            episode_info.update(self.current_reset_info)
            if self.results_writer is not None:
                self.results_writer.write_row(episode_info)
            info["episode"] = episode_info
        self.total_steps += 1
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        """Close the environment and the log file."""
        super().close()
        if self.results_writer is not None:
            self.results_writer.close()

    def get_total_steps(self) -> int:
        """
        :return: the number of steps taken so far, over all episodes
        """
        return self.total_steps

    def get_episode_rewards(self) -> list[float]:
        """
        :return: the return (sum of rewards) of each finished episode
        """
        return self.episode_returns

    def get_episode_lengths(self) -> list[int]:
        """
        :return: the number of steps of each finished episode
        """
        return self.episode_lengths

    def get_episode_times(self) -> list[float]:
        """
        :return: for each finished episode, the seconds from the Monitor's creation to its end
        """
        return self.episode_times


class LoadMonitorResultsError(Exception):
    """Raised when no monitor log can be loaded."""


class ResultsWriter:
    """
    Writes episode records as CSV rows: a first line ``#`` + JSON header, then the column names ``r,l,t,...``.

    :param filename: the log file; ``.monitor.csv`` is appended when the name does not end with ``monitor.csv``,
        and a directory gets a ``monitor.csv`` inside it. Missing parent directories are created.
    :param header: metadata written as JSON on the first line (e.g. ``t_start``, ``env_id``)
    :param extra_keys: the columns after ``r``, ``l``, ``t``
    :param override_existing: True overwrites an existing file, False appends rows to it (no new header)
    """

    def __init__(
        self,
        filename: str = "",
        header: dict[str, float | str] | None = None,
        extra_keys: tuple[str, ...] = (),
        override_existing: bool = True,
    ):
        if header is None:
            header = {}
        if not filename.endswith(Monitor.EXT):
            if os.path.isdir(filename):
                filename = os.path.join(filename, Monitor.EXT)
            else:
                filename = f"{filename}.{Monitor.EXT}"
        filename = os.path.realpath(filename)
        os.makedirs(os.path.dirname(filename), exist_ok=True)
        # newline="\n" keeps rows free of "\r\r\n" on Windows.
        self.file_handler = open(filename, "wt" if override_existing else "at", newline="\n")  # noqa: SIM115
        self.logger = csv.DictWriter(self.file_handler, fieldnames=("r", "l", "t", *extra_keys))
        if override_existing:
            self.file_handler.write(f"#{json.dumps(header)}\n")
            self.logger.writeheader()
        self.file_handler.flush()

    def write_row(self, epinfo: dict[str, float]) -> None:
        """
        Append one episode record and flush it to disk.

        :param epinfo: the episode's values, keyed by column name
        """
        self.logger.writerow(epinfo)
        self.file_handler.flush()

    def close(self) -> None:
        """Close the file."""
        self.file_handler.close()


def get_monitor_files(path: str) -> list[str]:
    """
    :param path: a directory
    :return: the paths of the monitor logs (``*monitor.csv``) directly inside it
    """
    return glob(os.path.join(path, "*" + Monitor.EXT))


def load_results(path: str) -> "pandas.DataFrame":
    """
    Load and merge every monitor log of a directory, sorted by episode end time. ``t`` is expressed in seconds
    since the earliest ``t_start`` among the files.

    :param path: the directory holding the ``*monitor.csv`` files
    :return: a DataFrame with columns ``index``, ``r``, ``l``, ``t`` and any extra logged keys
    :raises LoadMonitorResultsError: when the directory holds no monitor log
    """
    try:
        import pandas
    except ImportError as e:
        raise ImportError(
            "pandas is required for loading results. "
            "Install it with `pip install pandas` or install the extra dependencies with "
            "`pip install 'mlx-baselines3[extra]'`."
        ) from e
    monitor_files = get_monitor_files(path)
    if len(monitor_files) == 0:
        raise LoadMonitorResultsError(f"No monitor files of the form *{Monitor.EXT} found in {path}")
    data_frames, headers = [], []
    for file_name in monitor_files:
        with open(file_name) as file_handler:
            first_line = file_handler.readline()
            if not first_line.startswith("#"):
                raise LoadMonitorResultsError(f"{file_name} is not a monitor log: its first line must be '#' + JSON header")
            header = json.loads(first_line[1:])
            data_frame = pandas.read_csv(file_handler, index_col=None)
        data_frame["t"] += header["t_start"]
        headers.append(header)
        data_frames.append(data_frame)
    data_frames = [df for df in data_frames if not df.empty]
    if not data_frames:
        # Same columns as a non-empty result, so that callers can index them unconditionally.
        return pandas.DataFrame(columns=["r", "l", "t"]).reset_index()
    data_frame = pandas.concat(data_frames).sort_values("t").reset_index()
    data_frame["t"] -= min(header["t_start"] for header in headers)
    return data_frame
