import copy
import io
import pathlib
import sys
import time
import warnings
from functools import partial
from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.base_class import BaseAlgorithm
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.save_util import load_from_zip_file
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import FloatSchedule, safe_mean
from mlx_baselines3.contrib.ars.policies import ARSPolicy, LinearPolicy, MlpPolicy
from mlx_baselines3.contrib.common.vec_env.async_eval import AsyncEval

SelfARS = TypeVar("SelfARS", bound="ARS")


class ARS(BaseAlgorithm):
    """
    Augmented Random Search (Mania et al., 2018, https://arxiv.org/abs/1803.07055), as sb3-contrib implements it:
    each update perturbs the policy's parameter vector along ``n_delta`` random directions (both signs), evaluates the
    ``2 * n_delta`` candidates for ``n_eval_episodes`` episodes each, and steps along the ``n_top`` best directions,
    weighted by their return differences and scaled by the returns' standard deviation. No gradients: the policy's
    parameters are one vector, ``weights``.

    Candidates are evaluated in this process on ``env``, or in worker processes with ``learn(async_eval=AsyncEval(...))``.

    :param policy: the policy to train (``"LinearPolicy"``, ``"MlpPolicy"`` or an ``ARSPolicy`` class)
    :param env: the environment to train on (a registered id, a gymnasium env or a VecEnv)
    :param n_delta: the number of random directions per update
    :param n_top: the number of best directions used in the step (default: ``n_delta``)
    :param learning_rate: the step size, constant or a schedule of the remaining progress
    :param delta_std: the scale of the perturbations, constant or a schedule
    :param zero_policy: start from all-zero parameters
    :param alive_bonus_offset: added to the reward at every step (e.g. -1 to cancel an alive bonus of 1)
    :param n_eval_episodes: episodes per candidate
    :param policy_kwargs: keyword arguments for the policy
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param seed: seed of the random generators
    :param verbose: 0 silent, 1 info, 2 debug
    :param device: ``"cpu"`` by default (as sb3-contrib), or ``"auto"``, ``"gpu"``...
    :param _init_setup_model: build the policy at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "LinearPolicy": LinearPolicy,
    }
    policy: ARSPolicy
    weights: mx.array

    def __init__(
        self,
        policy: str | type[ARSPolicy],
        env: GymEnv | str,
        n_delta: int = 8,
        n_top: int | None = None,
        learning_rate: float | Schedule = 0.02,
        delta_std: float | Schedule = 0.05,
        zero_policy: bool = True,
        alive_bonus_offset: float = 0,
        n_eval_episodes: int = 1,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        seed: int | None = None,
        verbose: int = 0,
        device: "mx.Device | str" = "cpu",
        _init_setup_model: bool = True,
    ):
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            supported_action_spaces=(spaces.Box, spaces.Discrete),
            support_multi_env=True,
            seed=seed,
        )
        self.n_delta = n_delta
        self.pop_size = 2 * n_delta
        self.delta_std_schedule = FloatSchedule(delta_std)
        self.n_eval_episodes = n_eval_episodes
        if n_top is None:
            n_top = n_delta
        if n_top > n_delta:
            # sb3-contrib's message (which prints n_top twice).
            warnings.warn(f"n_top = {n_top} > n_delta = {n_top}, setting n_top = n_delta")
            n_top = n_delta
        self.n_top = n_top
        self.alive_bonus_offset = alive_bonus_offset
        self.zero_policy = zero_policy
        # Set in _setup_model.
        self.weights = None  # type: ignore[assignment]
        self.processes = None
        # Observation-statistics count already shared with the AsyncEval workers (VecNormalize syncing).
        self.old_count = 0

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(self.observation_space, self.action_space, **self.policy_kwargs)  # type: ignore[assignment]
        self.weights = mx.array(self.policy.parameters_to_vector())
        self.n_params = self.weights.size
        if self.zero_policy:
            self.weights = mx.zeros_like(self.weights)
            self.policy.load_from_vector(np.array(self.weights))

    def _mimic_monitor_wrapper(self, episode_rewards: list[float], episode_lengths: list[int]) -> None:
        """
        Record episodes as ``Monitor`` would (for the ``rollout/`` statistics).

        :param episode_rewards: the return of each episode
        :param episode_lengths: the length of each episode
        """
        infos = [
            {"episode": {"r": episode_reward, "l": episode_length}}
            for episode_reward, episode_length in zip(episode_rewards, episode_lengths, strict=True)
        ]
        self._update_info_buffer(infos)

    def _trigger_callback(
        self, _locals: dict[str, Any], _globals: dict[str, Any], callback: BaseCallback, n_envs: int
    ) -> None:
        """
        Called by ``evaluate_policy`` at every step of the single-process evaluation: count the steps and call the
        training callback.

        :param _locals: the evaluation's local variables
        :param _globals: its global variables
        :param callback: the training callback
        :param n_envs: the number of environments stepped at once
        """
        self.num_timesteps += n_envs
        callback.on_step()

    def evaluate_candidates(
        self, candidate_weights: mx.array, callback: BaseCallback, async_eval: AsyncEval | None
    ) -> np.ndarray:
        """
        The return of each candidate (the sum of its episodes' rewards, with ``alive_bonus_offset`` per step).

        :param candidate_weights: one row of parameters per candidate
        :param callback: called at every step (single process) or after the evaluation (worker processes)
        :param async_eval: the worker processes, or None to evaluate here
        :return: the returns, one per candidate
        """
        batch_steps = 0
        candidate_returns = np.zeros(self.pop_size, dtype=np.float32)
        # Only the candidates' episodes in the logs.
        self.ep_info_buffer = []  # type: ignore[assignment]
        callback.on_rollout_start()
        if async_eval is not None:
            async_eval.send_jobs(candidate_weights, self.pop_size)
            for weights_idx, (episode_rewards, episode_lengths) in async_eval.get_results():
                candidate_returns[weights_idx] = sum(episode_rewards) + self.alive_bonus_offset * sum(episode_lengths)
                batch_steps += int(np.sum(episode_lengths))
                self._mimic_monitor_wrapper(episode_rewards, episode_lengths)
            # Merge the workers' observation statistics and send the result back to all of them.
            for worker_obs_rms in async_eval.get_obs_rms():
                if self._vec_normalize_env is not None:
                    self._vec_normalize_env.obs_rms.combine(worker_obs_rms)
                    # The count shared at the last sync is in every worker's statistics: count it once.
                    self._vec_normalize_env.obs_rms.count -= self.old_count
            if self._vec_normalize_env is not None:
                async_eval.sync_obs_rms(self._vec_normalize_env.obs_rms.copy())
                self.old_count = self._vec_normalize_env.obs_rms.count
            # Callback events for the steps the workers made.
            for _ in range(batch_steps // len(async_eval.remotes)):
                self.num_timesteps += len(async_eval.remotes)
                callback.on_step()
        else:
            assert self.env is not None
            train_policy = copy.deepcopy(self.policy)
            candidates = np.array(candidate_weights)
            for weights_idx in range(self.pop_size):
                train_policy.load_from_vector(candidates[weights_idx])
                # num_timesteps grows in the callback (n_envs per step, a slight overcount with several envs).
                episode_rewards, episode_lengths = evaluate_policy(
                    train_policy,
                    self.env,
                    n_eval_episodes=self.n_eval_episodes,
                    return_episode_rewards=True,
                    callback=partial(self._trigger_callback, callback=callback, n_envs=self.env.num_envs),
                    warn=False,
                )
                candidate_returns[weights_idx] = sum(episode_rewards) + self.alive_bonus_offset * sum(episode_lengths)  # type: ignore[arg-type]
                batch_steps += sum(episode_lengths)  # type: ignore[arg-type]
                self._mimic_monitor_wrapper(episode_rewards, episode_lengths)  # type: ignore[arg-type]
        callback.on_rollout_end()
        return candidate_returns

    def dump_logs(self) -> None:
        """Write the logs: ``rollout/`` episode statistics, ``time/`` counters and what the update recorded."""
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed)
        if len(self.ep_info_buffer) > 0 and len(self.ep_info_buffer[0]) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep_info["r"] for ep_info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep_info["l"] for ep_info in self.ep_info_buffer]))
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)

    def _do_one_update(self, callback: BaseCallback, async_eval: AsyncEval | None) -> None:
        """
        Draw the perturbations, evaluate the candidates and step the weights.

        :param callback: called at every step
        :param async_eval: the worker processes, or None to evaluate here
        """
        delta_std = self.delta_std_schedule(self._current_progress_remaining)
        learning_rate = self.lr_schedule(self._current_progress_remaining)
        deltas = mx.random.normal((self.n_delta, self.n_params))
        policy_deltas = deltas * delta_std
        candidate_weights = mx.concatenate([self.weights + policy_deltas, self.weights - policy_deltas])
        candidate_returns = self.evaluate_candidates(candidate_weights, callback, async_eval)

        plus_returns, minus_returns = candidate_returns[: self.n_delta], candidate_returns[self.n_delta :]
        # The directions whose better side did best.
        top_returns = np.maximum(plus_returns, minus_returns)
        top_idx = np.argsort(-top_returns, kind="stable")[: self.n_top]
        plus_returns, minus_returns = plus_returns[top_idx], minus_returns[top_idx]
        # Smaller steps when the returns vary a lot (torch's std is the unbiased one).
        return_std = float(np.std(np.concatenate([plus_returns, minus_returns]), ddof=1))
        step_size = learning_rate / (self.n_top * return_std + 1e-6)
        self.weights = self.weights + step_size * (mx.array(plus_returns - minus_returns) @ deltas[mx.array(top_idx)])
        self.policy.load_from_vector(np.array(self.weights))

        self.logger.record("train/iterations", self._n_updates, exclude="tensorboard")
        self.logger.record("train/delta_std", delta_std)
        self.logger.record("train/learning_rate", learning_rate)
        self.logger.record("train/step_size", step_size)
        self.logger.record("rollout/return_std", return_std)
        self._n_updates += 1

    def learn(
        self: SelfARS,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "ARS",
        reset_num_timesteps: bool = True,
        async_eval: AsyncEval | None = None,
        progress_bar: bool = False,
    ) -> SelfARS:
        """
        Train: updates until ``total_timesteps`` environment steps were made.

        :param total_timesteps: the number of environment steps to train for (a lower bound)
        :param callback: callback(s) called at every step
        :param log_interval: log every ``log_interval`` updates
        :param tb_log_name: the name of the tensorboard run
        :param reset_num_timesteps: start counting from 0 (else continue the previous count and log run)
        :param async_eval: evaluate the candidates in these worker processes (closed at the end)
        :param progress_bar: show a progress bar (needs tqdm and rich)
        :return: the trained model
        """
        total_steps, callback = self._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        callback.on_training_start(locals(), globals())
        while self.num_timesteps < total_steps:
            self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
            self._do_one_update(callback, async_eval)
            if log_interval is not None and self._n_updates % log_interval == 0:
                self.dump_logs()
        if async_eval is not None:
            async_eval.close()
        callback.on_training_end()
        return self

    def set_parameters(
        self,
        load_path_or_dict: str | pathlib.Path | io.BufferedIOBase | dict[str, dict],
        exact_match: bool = True,
        device: "mx.Device | str" = "auto",
    ) -> None:
        """
        Load the policy's parameters (see ``BaseAlgorithm.set_parameters``); ``weights`` follows them, so that training
        continues from the loaded policy. Linear policies saved by sb3-contrib < 1.7 (``action_net.weight`` instead of
        ``action_net.0.weight``) load too.

        :param load_path_or_dict: the file, or state dicts by object name
        :param exact_match: require every parameter
        :param device: kept for SB3 compatibility
        """
        if isinstance(load_path_or_dict, dict):
            params = load_path_or_dict
        else:
            _, params, _ = load_from_zip_file(load_path_or_dict, device=device, load_data=False)
        policy_params = params.get("policy", {})
        for name in ("weight", "bias"):
            if f"action_net.{name}" in policy_params:
                policy_params[f"action_net.0.{name}"] = policy_params.pop(f"action_net.{name}")
        super().set_parameters(params, exact_match=exact_match, device=device)
        self.weights = mx.array(self.policy.parameters_to_vector())

    @classmethod
    def load(cls, path: str | pathlib.Path | io.BufferedIOBase, *args: Any, **kwargs: Any) -> "ARS":  # type: ignore[override]
        """
        ``BaseAlgorithm.load``; the saved ``weights`` (a torch tensor in sb3-contrib's files) are not read: they are the
        policy's parameters, loaded from the state dict.
        """
        custom_objects = {"weights": None, **(kwargs.pop("custom_objects", None) or {})}
        return super().load(path, *args, custom_objects=custom_objects, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        # The weights are the policy's parameters, saved in its state dict.
        return [*super()._excluded_save_params(), "weights"]
