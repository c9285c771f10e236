"""Base class of the on-policy algorithms (A2C, PPO): rollout collection and the learn loop."""

import sys
import time
import warnings
from typing import Any, TypeVar

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.base_class import BaseAlgorithm
from mlx_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.policies import ActorCriticPolicy, refuse_torch_objects
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import obs_as_tensor, safe_mean
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.common.vec_env import VecEnv

SelfOnPolicyAlgorithm = TypeVar("SelfOnPolicyAlgorithm", bound="OnPolicyAlgorithm")


class OnPolicyAlgorithm(BaseAlgorithm):
    """
    The base for on-policy algorithms (e.g. A2C/PPO).

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate, constant or a schedule of the remaining progress
    :param n_steps: number of steps to run for each environment per update
    :param gamma: discount factor
    :param gae_lambda: bias/variance trade-off of Generalized Advantage Estimation (1: classic advantage)
    :param ent_coef: entropy coefficient of the loss
    :param vf_coef: value function coefficient of the loss
    :param max_grad_norm: maximum norm for gradient clipping
    :param use_sde: use generalized State-Dependent Exploration instead of action noise
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param rollout_buffer_class: rollout buffer class (None: chosen from the observation space)
    :param rollout_buffer_kwargs: keyword arguments for the rollout buffer
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param monitor_wrapper: wrap a plain gymnasium env in ``Monitor``
    :param policy_kwargs: keyword arguments for the policy
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    :param supported_action_spaces: the action space types the algorithm supports
    """

    rollout_buffer: RolloutBuffer
    policy: ActorCriticPolicy

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule,
        n_steps: int,
        gamma: float,
        gae_lambda: float,
        ent_coef: float,
        vf_coef: float,
        max_grad_norm: float,
        use_sde: bool,
        sde_sample_freq: int,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        monitor_wrapper: bool = True,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: "mx.Device | str" = "auto",
        _init_setup_model: bool = True,
        supported_action_spaces: tuple[type[spaces.Space], ...] | None = None,
    ):
        check_hyperparameters(self, n_steps=n_steps, gamma=gamma, gae_lambda=gae_lambda, max_grad_norm=max_grad_norm)
        super().__init__(
            policy=policy,
            env=env,
            learning_rate=learning_rate,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            support_multi_env=True,
            monitor_wrapper=monitor_wrapper,
            seed=seed,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            supported_action_spaces=supported_action_spaces,
        )
        self.n_steps = n_steps
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.ent_coef = ent_coef
        self.vf_coef = vf_coef
        self.max_grad_norm = max_grad_norm
        self.rollout_buffer_class = rollout_buffer_class
        self.rollout_buffer_kwargs = rollout_buffer_kwargs or {}

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)

        if self.rollout_buffer_class is None:
            if isinstance(self.observation_space, spaces.Dict):
                self.rollout_buffer_class = DictRolloutBuffer
            else:
                self.rollout_buffer_class = RolloutBuffer

        self.rollout_buffer = self.rollout_buffer_class(
            self.n_steps,
            self.observation_space,  # type: ignore[arg-type]
            self.action_space,
            device=self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
            **self.rollout_buffer_kwargs,
        )
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, use_sde=self.use_sde, **self.policy_kwargs
        )
        refuse_torch_objects(self.policy, "policy")
        # PPO trains on minibatches, A2C on the whole rollout.
        gpu_pays_off = self._choose_auto_device(getattr(self, "batch_size", self.n_steps * self.n_envs))
        self._maybe_recommend_cpu(gpu_pays_off=gpu_pays_off)

    def _maybe_recommend_cpu(self, mlp_class_name: str = "ActorCriticPolicy", gpu_pays_off: bool = False) -> None:
        """
        Warn when a small MLP policy runs on the GPU, where per-call overheads outweigh the compute (as SB3 does; here
        only below the work from which the GPU was measured faster, see ``_choose_auto_device``).

        :param mlp_class_name: name of the MLP policy class of the algorithm
        :param gpu_pays_off: whether the policy is large enough for the GPU to be faster
        """
        if self.device == mx.gpu and not gpu_pays_off and self.policy_class.__name__ == mlp_class_name:
            warnings.warn(
                f"You are trying to run {self.__class__.__name__} on the GPU, "
                "but it is primarily intended to run on the CPU when not using a CNN policy "
                f"(you are using {self.policy_class.__name__} which should be a MlpPolicy). "
                "See https://github.com/DLR-RM/stable-baselines3/issues/1245 "
                "for more info. "
                "You can pass `device='cpu'` or `export CUDA_VISIBLE_DEVICES=` to force using the CPU."
                "Note: The model will train, but the GPU utilization will be poor and "
                "the training might take longer than on CPU.",
                UserWarning,
            )

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """
        Run the current policy in the environment and fill the rollout buffer. One compiled policy call and one
        host synchronization per step, for all environments at once.

        :param env: the training environment
        :param callback: called at every step
        :param rollout_buffer: the buffer to fill
        :param n_rollout_steps: number of steps to collect per environment
        :return: False when a callback asked to stop training
        """
        assert self._last_obs is not None, "No previous observation was provided"
        # Switch to eval mode (this affects batch norm / dropout)
        self.policy.set_training_mode(False)

        n_steps = 0
        rollout_buffer.reset()
        # Sample new weights for the state dependent exploration
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()

        # The policy's MLX actions become numpy arrays in the same variable (callbacks see it through locals()).
        actions: Any
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                # Sample a new noise matrix
                self.policy.reset_noise(env.num_envs)

            actions, values, log_probs, buffer_kwargs = self._rollout_step(env)
            actions = np.asarray(actions)

            # Rescale and perform action
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    # Unscale the actions to match env bounds if they were previously squashed (scaled in [-1, 1])
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    # Otherwise, clip the actions to avoid out of bound error as we are sampling from an unbounded Gaussian
                    clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)

            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                return False

            self._update_info_buffer(infos, dones)
            n_steps += 1

            if isinstance(self.action_space, spaces.Discrete):
                # Reshape in case of discrete action
                actions = actions.reshape(-1, 1)

            # Handle timeout by bootstrapping with value function
            # see GitHub issue #633
            for idx, done in enumerate(dones):
                if (
                    done
                    and infos[idx].get("terminal_observation") is not None
                    and infos[idx].get("TimeLimit.truncated", False)
                ):
                    rewards[idx] += self.gamma * self._terminal_value(idx, infos[idx]["terminal_observation"])

            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                values,
                log_probs,
                **buffer_kwargs,
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones

        rollout_buffer.compute_returns_and_advantage(last_values=self._bootstrap_values(new_obs, dones), dones=dones)

        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _rollout_step(self, env: VecEnv) -> tuple[mx.array, mx.array, mx.array, dict[str, Any]]:
        """
        The policy's step of rollout collection, for all environments at once: one compiled call, one evaluation.
        Algorithms whose policies need more than the observation (action masks, recurrent states) override it.

        :param env: the training environment
        :return: actions, values, log-probabilities (evaluated), and extra keyword arguments for the buffer's ``add``
        """
        actions, values, log_probs = self.policy.act(obs_as_tensor(self._last_obs))  # type: ignore[arg-type]  # set by _setup_learn
        mx.eval(actions, values, log_probs)
        return actions, values, log_probs, {}

    def _terminal_value(self, env_index: int, terminal_observation: Any) -> float:
        """
        The value of the last observation of an episode cut by a time limit, added to its reward (SB3 issue #633).

        :param env_index: the environment whose episode was truncated
        :param terminal_observation: its last observation
        :return: the value estimate
        """
        terminal_obs = self.policy.obs_to_tensor(terminal_observation)[0]
        return np.asarray(self.policy.predict_values(terminal_obs)).item()

    def _bootstrap_values(self, new_obs: Any, dones: np.ndarray) -> np.ndarray:
        """
        :param new_obs: the observations after the last step of the rollout
        :param dones: whether that step ended each environment's episode
        :return: their value estimates, to bootstrap the returns from
        """
        return np.asarray(self.policy.predict_values(obs_as_tensor(new_obs)))

    def train(self) -> None:
        """Consume the current rollout data and update the policy (implemented by each algorithm)."""
        raise NotImplementedError

    def dump_logs(self, iteration: int = 0) -> None:
        """
        Write the logs of the current iteration.

        :param iteration: the iteration number
        """
        assert self.ep_info_buffer is not None
        assert self.ep_success_buffer is not None

        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        fps = int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed)
        if iteration > 0:
            self.logger.record("time/iterations", iteration, exclude="tensorboard")
        if len(self.ep_info_buffer) > 0 and len(self.ep_info_buffer[0]) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep_info["r"] for ep_info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep_info["l"] for ep_info in self.ep_info_buffer]))
        self.logger.record("time/fps", fps)
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        if len(self.ep_success_buffer) > 0:
            self.logger.record("rollout/success_rate", safe_mean(self.ep_success_buffer))
        self.logger.dump(step=self.num_timesteps)

    def learn(
        self: SelfOnPolicyAlgorithm,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "OnPolicyAlgorithm",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOnPolicyAlgorithm:
        iteration = 0

        total_timesteps, callback = self._setup_learn(
            total_timesteps,
            callback,
            reset_num_timesteps,
            tb_log_name,
            progress_bar,
        )

        callback.on_training_start(locals(), globals())

        assert self.env is not None

        while self.num_timesteps < total_timesteps:
            continue_training = self.collect_rollouts(self.env, callback, self.rollout_buffer, n_rollout_steps=self.n_steps)

            if not continue_training:
                break

            iteration += 1
            self._update_current_progress_remaining(self.num_timesteps, total_timesteps)

            # Display training infos
            if log_interval is not None and iteration % log_interval == 0:
                assert self.ep_info_buffer is not None
                self.dump_logs(iteration)

            self.train()

        callback.on_training_end()

        return self

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "policy.optimizer"]
        return state_dicts, []
