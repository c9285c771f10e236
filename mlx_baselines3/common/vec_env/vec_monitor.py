"""Episode statistics for a VecEnv whose sub-environments are not wrapped with ``Monitor``."""

import time
import warnings

import numpy as np

from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn, VecEnvWrapper


class VecMonitor(VecEnvWrapper):
    """
    ``Monitor`` at the level of a VecEnv, for vectorized environments built without access to their sub-environments
    (procgen, gym3, envpool ...). At the end of an episode, the info gets ``info["episode"] = {"r", "l", "t"}`` and,
    with a ``filename``, a row is written to a monitor CSV file.

    :param venv: the VecEnv to monitor
    :param filename: where to write the CSV log (see ``ResultsWriter``); None writes no log
    :param info_keywords: keys of the last step's info whose values are logged with each episode
    """

    def __init__(self, venv: VecEnv, filename: str | None = None, info_keywords: tuple[str, ...] = ()):
        # Imported here: monitor.py is outside the vec_env package, which must import on its own.
        from mlx_baselines3.common.monitor import Monitor, ResultsWriter

        # VecEnvs built by other libraries may not implement env_is_wrapped.
        try:
            is_wrapped_with_monitor = venv.env_is_wrapped(Monitor)[0]
        except AttributeError:
            is_wrapped_with_monitor = False
        if is_wrapped_with_monitor:
            warnings.warn(
                "The environment is already wrapped with a `Monitor` wrapper "
                "but you are wrapping it with a `VecMonitor` wrapper, the `Monitor` statistics will be "
                "overwritten by the `VecMonitor` ones.",
                UserWarning,
            )
        VecEnvWrapper.__init__(self, venv)
        self.episode_count = 0
        self.t_start = time.time()
        env_id = None
        if hasattr(venv, "spec") and venv.spec is not None:
            env_id = venv.spec.id
        self.results_writer: ResultsWriter | None = None
        if filename:
            self.results_writer = ResultsWriter(
                filename, header={"t_start": self.t_start, "env_id": str(env_id)}, extra_keys=info_keywords
            )
        self.info_keywords = info_keywords
        self.episode_returns = np.zeros(self.num_envs, dtype=np.float32)
        self.episode_lengths = np.zeros(self.num_envs, dtype=np.int32)

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self.episode_returns = np.zeros(self.num_envs, dtype=np.float32)
        self.episode_lengths = np.zeros(self.num_envs, dtype=np.int32)
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        self.episode_returns += rewards
        self.episode_lengths += 1
        new_infos = list(infos)
        for env_idx in np.flatnonzero(dones):
            # A copy, so that the wrapped VecEnv's info dicts are not modified.
            info = infos[env_idx].copy()
            episode_info = {
                "r": self.episode_returns[env_idx],
                "l": self.episode_lengths[env_idx],
                "t": round(time.time() - self.t_start, 6),
            }
            for key in self.info_keywords:
                episode_info[key] = info[key]
            info["episode"] = episode_info
            self.episode_count += 1
            self.episode_returns[env_idx] = 0
            self.episode_lengths[env_idx] = 0
            if self.results_writer is not None:
                self.results_writer.write_row(episode_info)
            new_infos[env_idx] = info
        return obs, rewards, dones, new_infos

    def close(self) -> None:
        """Close the log file and the wrapped VecEnv."""
        if self.results_writer is not None:
            self.results_writer.close()
        return self.venv.close()
