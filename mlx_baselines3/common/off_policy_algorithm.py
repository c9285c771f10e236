"""Base class of the off-policy algorithms (DQN, SAC, TD3, DDPG): experience collection into a replay buffer, learn loop."""

import io
import pathlib
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any, TypeVar

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.base_class import BaseAlgorithm
from mlx_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer, ReplayBuffer
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.exceptions import LoadError, UsageError
from mlx_baselines3.common.noise import ActionNoise, VectorizedActionNoise
from mlx_baselines3.common.policies import BasePolicy, refuse_torch_objects
from mlx_baselines3.common.save_util import load_from_pkl, save_to_pkl
from mlx_baselines3.common.type_aliases import (
    DictReplayBufferSamples,
    GymEnv,
    MaybeCallback,
    ReplayBufferSamples,
    RolloutReturn,
    Schedule,
    TrainFreq,
    TrainFrequencyUnit,
)
from mlx_baselines3.common.utils import safe_mean, should_collect_more_steps
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.common.vec_env import VecEnv
from mlx_baselines3.her.her_replay_buffer import HerReplayBuffer

SelfOffPolicyAlgorithm = TypeVar("SelfOffPolicyAlgorithm", bound="OffPolicyAlgorithm")

# Replay data sampled at once for several gradient steps is kept below this size (bytes), so that image
# observations with many gradient steps per `train()` call do not need gigabytes at once.
_MAX_SAMPLE_BYTES = 64 * 1024 * 1024


class OffPolicyAlgorithm(BaseAlgorithm):
    """
    The base of off-policy algorithms (DQN, SAC, TD3, DDPG): the policy acts in the environment, every transition goes
    into a replay buffer, and the networks are trained on batches sampled from it.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate, constant or a schedule of the remaining progress
    :param buffer_size: size of the replay buffer (transitions, over all environments)
    :param learning_starts: number of warm-up steps, with uniformly random actions, before training starts
    :param batch_size: minibatch size of each gradient step
    :param tau: soft update coefficient of the target networks ("Polyak update", between 0 and 1)
    :param gamma: discount factor
    :param train_freq: train every ``train_freq`` steps; an int (steps), a tuple ``(n, "step")`` or ``(n, "episode")``,
        or a ``TrainFreq``
    :param gradient_steps: gradient steps after each rollout; -1 does as many as environment steps were collected
    :param action_noise: noise added to the actions (continuous actions only), e.g. ``NormalActionNoise``
    :param replay_buffer_class: replay buffer class (None: chosen from the observation space and ``n_steps``)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: memory-efficient replay buffer (next observations are not stored separately)
    :param n_steps: n-step returns (``NStepReplayBuffer``) when greater than 1
    :param policy_kwargs: keyword arguments for the policy
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param verbose: 0 silent, 1 info, 2 debug
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param support_multi_env: the algorithm supports several parallel environments
    :param monitor_wrapper: wrap a plain gymnasium env in ``Monitor``
    :param seed: seed of the random generators
    :param use_sde: use generalized State-Dependent Exploration instead of action noise
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param use_sde_at_warmup: explore with gSDE during warm-up instead of uniform random actions
    :param sde_support: the algorithm supports gSDE (``use_sde`` is then passed to the policy)
    :param supported_action_spaces: the action space types the algorithm supports
    """

    actor: Any
    replay_buffer: ReplayBuffer | None

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] | TrainFreq = (1, "step"),
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        device: "mx.Device | str" = "auto",
        support_multi_env: bool = False,
        monitor_wrapper: bool = True,
        seed: int | None = None,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        sde_support: bool = True,
        supported_action_spaces: tuple[type[spaces.Space], ...] | None = None,
    ):
        check_hyperparameters(
            self,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            gradient_steps=gradient_steps,
            n_steps=n_steps,
        )
        super().__init__(
            policy=policy,
            env=env,
            learning_rate=learning_rate,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=support_multi_env,
            monitor_wrapper=monitor_wrapper,
            seed=seed,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            supported_action_spaces=supported_action_spaces,
        )
        self.buffer_size = buffer_size
        self.batch_size = batch_size
        self.learning_starts = learning_starts
        self.tau = tau
        self.gamma = gamma
        self.gradient_steps = gradient_steps
        self.action_noise = action_noise
        self.optimize_memory_usage = optimize_memory_usage
        self.replay_buffer = None
        self.replay_buffer_class = replay_buffer_class
        self.replay_buffer_kwargs = replay_buffer_kwargs or {}
        self.n_steps = n_steps
        # Converted to a TrainFreq in _setup_model (kept as given until then, as SB3 does).
        self.train_freq = train_freq
        if sde_support:
            self.policy_kwargs["use_sde"] = self.use_sde
        self.use_sde_at_warmup = use_sde_at_warmup

    def _convert_train_freq(self) -> None:
        """Turn ``train_freq`` (an int, a tuple ``(n, unit)`` or a ``TrainFreq``) into a ``TrainFreq``."""
        if isinstance(self.train_freq, TrainFreq):
            return
        train_freq = self.train_freq
        if not isinstance(train_freq, tuple):
            train_freq = (train_freq, "step")
        if len(train_freq) != 2:
            raise ValueError(f"`train_freq` must be an int or a tuple (frequency, unit), got {self.train_freq!r}")
        frequency, unit_name = train_freq
        try:
            unit = TrainFrequencyUnit(unit_name)
        except ValueError as error:
            raise ValueError(f"The unit of the `train_freq` must be either 'step' or 'episode' not '{unit_name}'!") from error
        if not isinstance(frequency, (int, np.integer)) or isinstance(frequency, bool):
            raise ValueError(f"The frequency of `train_freq` must be an integer and not {frequency}")
        if frequency <= 0:
            raise ValueError(f"The frequency of `train_freq` must be at least 1 (step or episode), got {frequency}")
        self.train_freq = TrainFreq(int(frequency), unit)

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)

        if self.n_steps > 1 and self.replay_buffer_class is not None:
            warnings.warn(
                f"`n_steps={self.n_steps}` is ignored because a custom `replay_buffer_class` "
                f"(`{self.replay_buffer_class.__name__}`) was passed: n-step returns are only set up "
                "automatically when `replay_buffer_class` is `None`. "
                "To use n-step returns with a custom replay buffer, configure it explicitly, e.g. "
                f'`replay_buffer_kwargs={{"n_steps": {self.n_steps}, "gamma": {self.gamma}}}`.'
            )
        if self.replay_buffer_class is None:
            if isinstance(self.observation_space, spaces.Dict):
                if self.n_steps > 1:
                    raise UsageError(
                        f"N-step returns are not supported for Dict observation spaces yet. (n_steps={self.n_steps}: use "
                        "n_steps=1 with a Dict observation space.)"
                    )
                self.replay_buffer_class = DictReplayBuffer
            elif self.n_steps > 1:
                self.replay_buffer_class = NStepReplayBuffer
                self.replay_buffer_kwargs.update({"n_steps": self.n_steps, "gamma": self.gamma})
            else:
                self.replay_buffer_class = ReplayBuffer

        if self.replay_buffer is None:
            # A local copy: the env given to a HerReplayBuffer must not end up in the saved kwargs.
            replay_buffer_kwargs = self.replay_buffer_kwargs.copy()
            if issubclass(self.replay_buffer_class, HerReplayBuffer):
                if self.env is None:
                    raise ValueError("You must pass an environment when using `HerReplayBuffer`")
                replay_buffer_kwargs["env"] = self.env
            self.replay_buffer = self.replay_buffer_class(
                self.buffer_size,
                self.observation_space,
                self.action_space,
                device=self.device,
                n_envs=self.n_envs,
                optimize_memory_usage=self.optimize_memory_usage,
                **replay_buffer_kwargs,
            )

        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        )
        refuse_torch_objects(self.policy, "policy")
        self._choose_auto_device(self.batch_size)
        self._convert_train_freq()

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Save the replay buffer as a pickle file (a ``.pkl`` suffix is added to a path without one). HER buffers are
        saved without their environment.

        :param path: the file path (parent folders are created) or an open binary file
        """
        if self.replay_buffer is None:
            raise ValueError("The replay buffer is not defined")
        save_to_pkl(path, self.replay_buffer, self.verbose)

    def load_replay_buffer(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        truncate_last_traj: bool = True,
        trusted: bool = False,
    ) -> None:
        """
        Load a replay buffer saved with ``save_replay_buffer`` (by this library or by SB3).

        The file is decoded without running code from it (see ``docs/guide/security.md``): the buffer is built from its
        checked fields (this library's replay buffer classes, SB3's paths mapping to them).

        :param path: the file path or an open binary file
        :param truncate_last_traj: for a ``HerReplayBuffer``: True treats the last, unfinished trajectory in the buffer
            as finished (it is truncated); False continues it (the same episode goes on)
        :param trusted: unpickle with Python's pickle (runs code from the file), e.g. for a custom buffer class; only
            for files you trust
        :raises LoadError: when the file is corrupt or holds something other than a replay buffer
        """
        replay_buffer = load_from_pkl(path, self.verbose, trusted=trusted)
        if not isinstance(replay_buffer, ReplayBuffer):
            raise LoadError(f"The replay buffer must inherit from ReplayBuffer class, got {type(replay_buffer).__name__}")
        # Buffers saved before timeout handling existed (SB3 < 2.1): keep their behaviour.
        if not hasattr(replay_buffer, "handle_timeout_termination"):
            replay_buffer.handle_timeout_termination = False
            replay_buffer.timeouts = np.zeros_like(replay_buffer.dones)
        if isinstance(replay_buffer, HerReplayBuffer):
            if self.env is None:
                raise ValueError("You must pass an environment at load time when using `HerReplayBuffer`")
            replay_buffer.set_env(self.env)
            if truncate_last_traj:
                replay_buffer.truncate_last_trajectory()
        replay_buffer.device = self.device
        self.replay_buffer = replay_buffer

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        replay_buffer = self.replay_buffer
        # With the memory-efficient buffer, the next observation of the newest transition is the slot after it: a new
        # run (env reset) would overwrite it, so that transition is closed as terminal.
        # See https://github.com/DLR-RM/stable-baselines3/issues/46
        truncate_last_traj = (
            self.optimize_memory_usage
            and reset_num_timesteps
            and replay_buffer is not None
            and (replay_buffer.full or replay_buffer.pos > 0)
        )
        if truncate_last_traj:
            warnings.warn(
                "The last trajectory in the replay buffer will be truncated, "
                "see https://github.com/DLR-RM/stable-baselines3/issues/46."
                "You should use `reset_num_timesteps=False` or `optimize_memory_usage=False`"
                "to avoid that issue."
            )
            assert replay_buffer is not None
            replay_buffer.dones[(replay_buffer.pos - 1) % replay_buffer.buffer_size] = True

        if self.env is None:
            raise UsageError(
                "You must set the environment before calling _setup_learn(): pass env= to load() or call set_env()"
            )
        if (
            self.action_noise is not None
            and self.env.num_envs > 1
            and not isinstance(self.action_noise, VectorizedActionNoise)
        ):
            self.action_noise = VectorizedActionNoise(self.action_noise, self.env.num_envs)

        return super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)

    def learn(
        self: SelfOffPolicyAlgorithm,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "run",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOffPolicyAlgorithm:
        """
        Train the model: alternate experience collection (``train_freq``) and training (``gradient_steps``).

        :param total_timesteps: the number of environment steps to train for (a lower bound)
        :param callback: callback(s) called at every step
        :param log_interval: log every ``log_interval`` episodes
        :param tb_log_name: the name of the tensorboard run
        :param reset_num_timesteps: start counting from 0 (else continue the previous count and log run)
        :param progress_bar: show a progress bar (needs tqdm and rich)
        :return: the trained model
        """
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if self.learning_starts >= total_timesteps and self.gradient_steps != 0:
            warnings.warn(
                f"learning_starts={self.learning_starts} is not smaller than the training budget "
                f"(total_timesteps={total_timesteps}): the model only collects random warm-up transitions and is "
                "never trained. Lower `learning_starts` or raise `total_timesteps`."
            )

        callback.on_training_start(locals(), globals())
        assert self.env is not None
        assert isinstance(self.train_freq, TrainFreq)

        while self.num_timesteps < total_timesteps:
            rollout = self.collect_rollouts(
                self.env,
                train_freq=self.train_freq,
                action_noise=self.action_noise,
                callback=callback,
                learning_starts=self.learning_starts,
                replay_buffer=self.replay_buffer,  # type: ignore[arg-type]
                log_interval=log_interval,
            )
            if not rollout.continue_training:
                break

            if self.num_timesteps > 0 and self.num_timesteps > self.learning_starts:
                # gradient_steps=-1: as many gradient steps as environment steps were collected
                gradient_steps = self.gradient_steps if self.gradient_steps >= 0 else rollout.episode_timesteps
                if gradient_steps > 0:
                    self.train(batch_size=self.batch_size, gradient_steps=gradient_steps)

        callback.on_training_end()
        return self

    def train(self, gradient_steps: int, batch_size: int) -> None:
        """
        Sample the replay buffer and update the networks (implemented by each algorithm).

        :param gradient_steps: number of gradient steps
        :param batch_size: minibatch size of each step
        """
        raise NotImplementedError()

    def _replay_batches(self, gradient_steps: int, batch_size: int) -> Iterator[ReplayBufferSamples | DictReplayBufferSamples]:
        """
        The minibatches of one ``train()`` call. The replay data of many gradient steps is sampled at once (one
        NumPy gather and one conversion to MLX) and sliced per step, which costs far less than one sampling per step.

        :param gradient_steps: number of minibatches
        :param batch_size: minibatch size
        :return: an iterator over the minibatches
        """
        assert self.replay_buffer is not None
        check_hyperparameters(self, batch_size=batch_size)  # train() may be called directly, e.g. from a thread
        steps_per_sample = max(1, min(gradient_steps, _MAX_SAMPLE_BYTES // max(1, batch_size * self._transition_nbytes())))
        done = 0
        while done < gradient_steps:
            n_batches = min(steps_per_sample, gradient_steps - done)
            data = self.replay_buffer.sample_batches(batch_size, n_batches, env=self._vec_normalize_env)
            if n_batches == 1:
                yield data
            else:
                for idx in range(n_batches):
                    yield _slice_samples(data, idx * batch_size, (idx + 1) * batch_size)
            done += n_batches

    @staticmethod
    def _step_batch(replay_data: ReplayBufferSamples | DictReplayBufferSamples, gamma: mx.array) -> tuple[Any, ...]:
        """
        The arrays a compiled update step takes from a minibatch, in this order: observations, actions, next
        observations, dones, rewards and discounts (the buffer's own for n-step returns, else ``gamma``).

        :param replay_data: the minibatch
        :param gamma: the discount factor as an array
        :return: the step's batch
        """
        discounts = replay_data.discounts if replay_data.discounts is not None else gamma
        return (
            replay_data.observations,
            replay_data.actions,
            replay_data.next_observations,
            replay_data.dones,
            replay_data.rewards,
            discounts,
        )

    def _transition_nbytes(self) -> int:
        """:return: bytes of one sampled transition (observation and next observation dominate)"""
        space = self.observation_space
        subspaces = space.spaces.values() if isinstance(space, spaces.Dict) else [space]
        obs_nbytes = sum(int(np.prod(sub.shape or (1,))) * max(np.dtype(sub.dtype).itemsize, 4) for sub in subspaces)
        return 2 * obs_nbytes + 64

    def _sample_action(
        self,
        learning_starts: int,
        action_noise: ActionNoise | None = None,
        n_envs: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """
        The exploration actions: uniformly random during warm-up, else the policy's (stochastic) action, plus action
        noise for continuous actions.

        :param learning_starts: number of warm-up steps
        :param action_noise: noise added to continuous actions
        :param n_envs: number of environments
        :return: the actions to take in the environment, and the actions to store in the buffer (scaled to [-1, 1]
            for Box spaces; both are the same otherwise)
        """
        if self.num_timesteps < learning_starts and not (self.use_sde and self.use_sde_at_warmup):
            unscaled_action = np.array([self.action_space.sample() for _ in range(n_envs)])
        else:
            assert self._last_obs is not None, "self._last_obs was not set"
            # SAC's stochastic action; TD3's policy is deterministic anyway.
            unscaled_action, _ = self.predict(self._last_obs, deterministic=False)

        if isinstance(self.action_space, spaces.Box):
            scaled_action = self.policy.scale_action(unscaled_action)
            if action_noise is not None:
                scaled_action = np.clip(scaled_action + action_noise(), -1, 1)
            # The buffer keeps actions in [-1, 1]; the env gets them in its bounds.
            return self.policy.unscale_action(scaled_action), scaled_action
        return unscaled_action, unscaled_action

    def dump_logs(self) -> None:
        """Write the logs: ``time/`` counters, ``rollout/`` episode statistics and what ``train()`` recorded."""
        assert self.ep_info_buffer is not None
        assert self.ep_success_buffer is not None
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        if len(self.ep_info_buffer) > 0 and len(self.ep_info_buffer[0]) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep_info["r"] for ep_info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep_info["l"] for ep_info in self.ep_info_buffer]))
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        if self.use_sde:
            self.logger.record("train/std", mx.mean(self.actor.get_std()).item())
        if len(self.ep_success_buffer) > 0:
            self.logger.record("rollout/success_rate", safe_mean(self.ep_success_buffer))
        self.logger.dump(step=self.num_timesteps)

    def _on_step(self) -> None:
        """Called after each environment step (DQN updates its target network and exploration rate here)."""

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """
        Store a transition of every environment: the unnormalized observations (with VecNormalize), the scaled
        action, and as next observation the terminal observation where an episode ended (the VecEnv already reset).

        :param replay_buffer: the buffer
        :param buffer_action: the actions, scaled to [-1, 1] for Box spaces
        :param new_obs: the observations after the step (first observations of new episodes where ``dones``)
        :param reward: the rewards
        :param dones: the episode ends
        :param infos: the infos (terminal observations, time-limit truncation)
        """
        if self._vec_normalize_env is not None:
            new_obs_ = self._vec_normalize_env.get_original_obs()
            reward_ = self._vec_normalize_env.get_original_reward()
        else:
            self._last_original_obs, new_obs_, reward_ = self._last_obs, new_obs, reward

        # A copy: terminal observations are written into it.
        next_obs = {key: np.array(obs) for key, obs in new_obs_.items()} if isinstance(new_obs_, dict) else np.array(new_obs_)
        for idx, done in enumerate(dones):
            terminal_obs = infos[idx].get("terminal_observation") if done else None
            if terminal_obs is None:
                continue
            if self._vec_normalize_env is not None:
                # VecNormalize normalized the terminal observation too.
                terminal_obs = self._vec_normalize_env.unnormalize_obs(terminal_obs)
            if isinstance(next_obs, dict):
                for key in next_obs:
                    next_obs[key][idx] = terminal_obs[key]
            else:
                next_obs[idx] = terminal_obs

        replay_buffer.add(
            self._last_original_obs,  # type: ignore[arg-type]
            next_obs,  # type: ignore[arg-type]
            buffer_action,
            reward_,
            dones,
            infos,
        )
        self._last_obs = new_obs  # type: ignore[assignment]
        if self._vec_normalize_env is not None:
            self._last_original_obs = new_obs_

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        train_freq: TrainFreq,
        replay_buffer: ReplayBuffer,
        action_noise: ActionNoise | None = None,
        learning_starts: int = 0,
        log_interval: int | None = None,
    ) -> RolloutReturn:
        """
        Act in the environment and store the transitions, until ``train_freq`` steps or episodes are collected.
        One compiled policy call and one host synchronization per step, for all environments at once.

        :param env: the training environment
        :param callback: called at every step (and at the start and end of the rollout)
        :param train_freq: how much to collect: ``TrainFreq(n, STEP)`` or ``TrainFreq(n, EPISODE)``
        :param replay_buffer: the buffer to fill
        :param action_noise: noise added to continuous actions
        :param learning_starts: number of warm-up steps with random actions
        :param log_interval: dump the logs every ``log_interval`` episodes
        :return: the steps and episodes collected, and whether training should continue
        """
        # Evaluation mode (batch norm, dropout) while acting.
        self.policy.set_training_mode(False)
        num_collected_steps, num_collected_episodes = 0, 0

        if not isinstance(env, VecEnv):
            raise TypeError("You must pass a VecEnv")
        if train_freq.frequency <= 0:
            raise UsageError(f"Should at least collect one step or episode. Got train_freq={train_freq}.")
        if env.num_envs > 1 and train_freq.unit != TrainFrequencyUnit.STEP:
            raise UsageError(
                f"You must use only one env when doing episodic training. Got {env.num_envs} envs with train_freq="
                f"{train_freq}: use a step-based train_freq, or one env."
            )

        if self.use_sde:
            self.actor.reset_noise(env.num_envs)

        callback.on_rollout_start()
        continue_training = True
        while should_collect_more_steps(train_freq, num_collected_steps, num_collected_episodes):
            if self.use_sde and self.sde_sample_freq > 0 and num_collected_steps % self.sde_sample_freq == 0:
                self.actor.reset_noise(env.num_envs)

            actions, buffer_actions = self._sample_action(learning_starts, action_noise, env.num_envs)
            new_obs, rewards, dones, infos = env.step(actions)

            self.num_timesteps += env.num_envs
            num_collected_steps += 1

            callback.update_locals(locals())
            # Only a False return stops training, not None.
            if not callback.on_step():
                return RolloutReturn(num_collected_steps * env.num_envs, num_collected_episodes, continue_training=False)

            self._update_info_buffer(infos, dones)
            self._store_transition(replay_buffer, buffer_actions, new_obs, rewards, dones, infos)  # type: ignore[arg-type]
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
            # DQN's target update and exploration schedule; SAC/TD3 update their targets in train().
            self._on_step()

            for idx, done in enumerate(dones):
                if not done:
                    continue
                num_collected_episodes += 1
                self._episode_num += 1
                if action_noise is not None:
                    kwargs = dict(indices=[idx]) if env.num_envs > 1 else {}
                    action_noise.reset(**kwargs)
                if log_interval is not None and self._episode_num % log_interval == 0:
                    self.dump_logs()

        callback.on_rollout_end()
        return RolloutReturn(num_collected_steps * env.num_envs, num_collected_episodes, continue_training)

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []


def _slice_samples(
    data: ReplayBufferSamples | DictReplayBufferSamples, start: int, stop: int
) -> ReplayBufferSamples | DictReplayBufferSamples:
    """
    :param data: samples of several minibatches
    :param start: first row
    :param stop: row after the last
    :return: the rows ``start:stop`` of every field
    """

    def take(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            return {key: array[start:stop] for key, array in value.items()}
        return value[start:stop]

    return type(data)(*(take(value) for value in data))
