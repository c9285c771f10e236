"""Evaluate many candidate policies at once in worker processes (population-based methods: ARS, CEM, ES)."""

import multiprocessing as mp
from collections import defaultdict
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.running_mean_std import RunningMeanStd
from mlx_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize
from mlx_baselines3.common.vec_env.base_vec_env import CloudpickleWrapper


def _worker(
    remote: Connection,
    parent_remote: Connection,
    worker_env_wrapper: CloudpickleWrapper,
    train_policy_wrapper: CloudpickleWrapper,
    n_eval_episodes: int = 1,
) -> None:
    """
    A worker process: builds its VecEnv and its copy of the policy, then answers the parent's commands (evaluate
    candidate weights, seed, set reset options, send or replace the observation statistics of a VecNormalize, close).

    :param remote: this worker's end of the pipe
    :param parent_remote: the parent's end (closed here)
    :param worker_env_wrapper: a function making the VecEnv
    :param train_policy_wrapper: the policy that loads each candidate's weights
    :param n_eval_episodes: episodes per candidate
    """
    parent_remote.close()
    vec_env: VecEnv = worker_env_wrapper.var()
    train_policy: BasePolicy = train_policy_wrapper.var
    vec_normalize = unwrap_vec_normalize(vec_env)
    obs_rms = vec_normalize.obs_rms if vec_normalize is not None else None
    while True:
        try:
            cmd, data = remote.recv()
        except EOFError:
            break
        if cmd == "eval":
            results = []
            for weights_idx, candidate_weights in data:
                train_policy.load_from_vector(candidate_weights)
                episode_rewards, episode_lengths = evaluate_policy(
                    train_policy, vec_env, n_eval_episodes=n_eval_episodes, return_episode_rewards=True, warn=False
                )
                results.append((weights_idx, (episode_rewards, episode_lengths)))
            remote.send(results)
        elif cmd == "seed":
            # Effective at the next reset.
            remote.send(vec_env.seed(seed=data))
        elif cmd == "set_options":
            remote.send(vec_env.set_options(data))
        elif cmd == "get_obs_rms":
            remote.send(obs_rms)
        elif cmd == "sync_obs_rms":
            if vec_normalize is None:
                raise RuntimeError("Tried to call `sync_obs_rms` when not using VecNormalize")
            vec_normalize.obs_rms = data
            obs_rms = data
        elif cmd == "close":
            vec_env.close()
            remote.close()
            break
        else:
            raise NotImplementedError(f"`{cmd}` is not implemented in the worker")


class AsyncEval:
    """
    Evaluate the candidate weights of a population in worker processes, one VecEnv each.

    Only the 'forkserver' and 'spawn' start methods are safe with threads (and with MLX, whose runtime holds threads):
    they start fresh processes, at a small cost, and need the script's code under ``if __name__ == "__main__":``.

    :param envs_fn: one function per worker that makes its VecEnv
    :param train_policy: the policy that loads each candidate's weights (copied to every worker)
    :param start_method: the ``multiprocessing`` start method; default 'forkserver' where available, else 'spawn'
    :param n_eval_episodes: episodes per candidate
    """

    def __init__(
        self,
        envs_fn: list[Callable[[], VecEnv]],
        train_policy: BasePolicy,
        start_method: str | None = None,
        n_eval_episodes: int = 1,
    ):
        self.waiting = False
        self.closed = False
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(start_method)
        self.remotes, self.work_remotes = zip(*[ctx.Pipe() for _ in range(len(envs_fn))], strict=True)
        self.processes = []
        for work_remote, remote, worker_env in zip(self.work_remotes, self.remotes, envs_fn, strict=True):
            args = (work_remote, remote, CloudpickleWrapper(worker_env), CloudpickleWrapper(train_policy), n_eval_episodes)
            # daemon: the workers die with the main process instead of hanging.
            process = ctx.Process(target=_worker, args=args, daemon=True)  # type: ignore[attr-defined]
            process.start()
            self.processes.append(process)
            work_remote.close()

    def send_jobs(self, candidate_weights: Any, pop_size: int) -> None:
        """
        Send the candidates to the workers (round robin), to be evaluated in parallel.

        :param candidate_weights: one row of weights per candidate (MLX or NumPy)
        :param pop_size: the number of candidates
        """
        candidate_weights = np.asarray(candidate_weights)
        jobs_per_worker = defaultdict(list)
        for weights_idx in range(pop_size):
            jobs_per_worker[weights_idx % len(self.remotes)].append((weights_idx, candidate_weights[weights_idx]))
        for remote_idx, remote in enumerate(self.remotes):
            remote.send(("eval", jobs_per_worker[remote_idx]))
        self.waiting = True

    def seed(self, seed: int | None = None) -> list[int | None]:
        """
        Seed the workers' environments (``seed + worker index``), effective at their next reset.

        :param seed: the seed; None does nothing
        :return: what each worker's ``VecEnv.seed`` returned
        """
        if seed is None:
            return []
        for idx, remote in enumerate(self.remotes):
            remote.send(("seed", seed + idx))
        return [remote.recv() for remote in self.remotes]

    def set_options(self, options: list[dict] | dict | None = None) -> list[int | None]:
        """
        Set the reset options of the workers' environments (a dict: the same for all), effective at their next reset.

        :param options: the options
        :return: what each worker returned
        """
        for remote in self.remotes:
            remote.send(("set_options", options))
        return [remote.recv() for remote in self.remotes]

    def get_results(self) -> list[tuple[int, tuple[np.ndarray, np.ndarray]]]:
        """
        Wait for the results of ``send_jobs``.

        :return: ``(candidate index, (episode rewards, episode lengths))`` for every candidate
        """
        results = [remote.recv() for remote in self.remotes]
        self.waiting = False
        return [result for worker_results in results for result in worker_results]

    def get_obs_rms(self) -> list[RunningMeanStd]:
        """
        :return: the observation statistics of each worker's VecNormalize (None without one), to be combined by the
            parent and sent back with ``sync_obs_rms``
        """
        for remote in self.remotes:
            remote.send(("get_obs_rms", None))
        return [remote.recv() for remote in self.remotes]

    def sync_obs_rms(self, obs_rms: RunningMeanStd) -> None:
        """
        Give every worker's VecNormalize the same observation statistics.

        :param obs_rms: the statistics
        """
        for remote in self.remotes:
            remote.send(("sync_obs_rms", obs_rms))

    def close(self) -> None:
        """Stop the workers (after collecting pending results) and wait for them."""
        if self.closed:
            return
        if self.waiting:
            for remote in self.remotes:
                remote.recv()
        for remote in self.remotes:
            remote.send(("close", None))
        for process in self.processes:
            process.join()
        self.closed = True
