"""Twin Delayed DDPG (TD3): deterministic off-policy actor-critic with clipped double-Q, delayed actor updates and
target policy smoothing."""

from typing import Any, ClassVar, TypeVar, cast

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from mlx_baselines3.common.policies import BasePolicy, ContinuousCritic
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import get_parameters_by_name, polyak_update  # noqa: F401  (SB3 exposes them here)
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.sac.policies import critic_optimized_parameters, soft_update_target
from mlx_baselines3.td3.policies import Actor, CnnPolicy, MlpPolicy, MultiInputPolicy, TD3Policy

SelfTD3 = TypeVar("SelfTD3", bound="TD3")


class TD3(OffPolicyAlgorithm):
    """
    Twin Delayed DDPG (Fujimoto et al., 2018, https://arxiv.org/abs/1802.09477).

    Each gradient step is one compiled MLX function, traced once: there are two variants, the critic update alone and
    the critic update followed by the delayed actor update and the Polyak updates of both targets, and the host picks
    one per step. The replay data of a ``train()`` call is sampled at once and the losses are read back once per call.

    :param policy: the policy class or alias (``"MlpPolicy"``, ``"CnnPolicy"``, ``"MultiInputPolicy"``)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate of the optimizers, constant or a schedule of the remaining progress
    :param buffer_size: replay buffer capacity
    :param learning_starts: number of steps with random actions before learning starts
    :param batch_size: minibatch size of each gradient step
    :param tau: soft update coefficient of the target networks, in [0, 1]
    :param gamma: discount factor
    :param train_freq: update every ``train_freq`` steps, or a tuple such as ``(5, "step")`` or ``(2, "episode")``
    :param gradient_steps: gradient steps after each rollout (-1: as many as environment steps collected)
    :param action_noise: exploration noise added to the actor's actions (e.g. ``NormalActionNoise``)
    :param replay_buffer_class: replay buffer class (None: chosen from the observation space)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: store each observation once in the replay buffer
    :param n_steps: n-step returns (> 1 uses the NStepReplayBuffer when ``replay_buffer_class`` is None)
    :param policy_delay: update the actor and the targets once every ``policy_delay`` critic updates
    :param target_policy_noise: standard deviation of the Gaussian noise added to the target actions (smoothing)
    :param target_noise_clip: bound of the absolute value of that noise
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy
    :param verbose: 0 silent, 1 info (training statistics), 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: TD3Policy
    actor: Actor
    actor_target: Actor
    critic: ContinuousCritic
    critic_target: ContinuousCritic

    def __init__(
        self,
        policy: str | type[TD3Policy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        policy_delay: int = 2,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: "mx.Device | str" = "auto",
        _init_setup_model: bool = True,
    ):
        check_hyperparameters(
            self, policy_delay=policy_delay, target_policy_noise=target_policy_noise, target_noise_clip=target_noise_clip
        )
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Box,),
            support_multi_env=True,
        )
        self.policy_delay = policy_delay
        self.target_noise_clip = target_noise_clip
        self.target_policy_noise = target_policy_noise
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._create_aliases()
        # The arrays the compiled steps read and write; refreshed at each train() call so that replaced optimizer
        # states are picked up.
        self._step_state: list[Any] = []
        self._train_steps = {
            update_actor: mx.compile(self._make_train_step(update_actor), inputs=self._step_state, outputs=self._step_state)
            for update_actor in (True, False)
        }

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.actor_target = self.policy.actor_target
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    def _refresh_step_state(self) -> None:
        # Both optimizers are built with the policy in _setup_model.
        assert self.actor.optimizer is not None and self.critic.optimizer is not None
        self._step_state[:] = [self.policy, self.actor.optimizer.state, self.critic.optimizer.state]

    def _make_train_step(self, update_actor: bool):
        """
        Build one TD3 gradient step as a pure function of its inputs and of ``self._step_state``: targets from the
        target networks with smoothed target actions, the critic update and, when ``update_actor``, the deterministic
        policy gradient update of the actor against the updated critic and the Polyak updates of both targets.

        Two compiled variants (with and without the actor) cost less than one variant that masks the actor update,
        which would compute it at every step.

        :param update_actor: whether this variant updates the actor and the targets
        :return: the step function (to be compiled)
        """

        def critic_loss_fn(params, obs, actions, target_q_values):
            self.critic.update(params)
            current_q_values = self.critic(obs, actions)
            return sum(nn.losses.mse_loss(current_q, target_q_values) for current_q in current_q_values)

        def actor_loss_fn(params, obs):
            self.actor.update(params)
            return -mx.mean(self.critic.q1_forward(obs, self.actor(obs)))

        critic_value_and_grad = mx.value_and_grad(critic_loss_fn)
        actor_value_and_grad = mx.value_and_grad(actor_loss_fn)

        def step(obs, actions, next_obs, dones, rewards, discounts, noise, target_policy_noise, target_noise_clip, tau):
            # Target policy smoothing: clipped Gaussian noise on the target actions
            noise = mx.clip(noise * target_policy_noise, -target_noise_clip, target_noise_clip)
            next_actions = mx.clip(self.actor_target(next_obs) + noise, -1, 1)
            # Clipped double-Q: min over all target critics
            next_q_values = mx.min(mx.concatenate(self.critic_target(next_obs, next_actions), axis=1), axis=1, keepdims=True)
            target_q_values = mx.stop_gradient(rewards + (1 - dones) * discounts * next_q_values)

            critic_loss, grads = critic_value_and_grad(critic_optimized_parameters(self.critic), obs, actions, target_q_values)
            self.critic.update(self.critic.optimizer.apply_gradients(grads, self.critic))
            if not update_actor:
                return mx.stack([critic_loss, mx.array(0.0)])

            actor_loss, grads = actor_value_and_grad(self.actor.trainable_parameters(), obs)
            self.actor.update(self.actor.optimizer.apply_gradients(grads, self.actor))
            soft_update_target(self.critic, self.critic_target, tau)
            soft_update_target(self.actor, self.actor_target, tau)
            return mx.stack([critic_loss, actor_loss])

        return step

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """
        Run ``gradient_steps`` critic updates (and the delayed actor updates) on minibatches from the replay buffer.

        :param gradient_steps: number of gradient steps
        :param batch_size: minibatch size
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        self._refresh_step_state()

        tau = mx.array(self.tau, dtype=mx.float32)
        gamma = mx.array(self.gamma, dtype=mx.float32)
        target_policy_noise = mx.array(self.target_policy_noise, dtype=mx.float32)
        target_noise_clip = mx.array(self.target_noise_clip, dtype=mx.float32)
        # Target smoothing noise of every step, drawn at once (standard normal, scaled inside the step).
        noise = mx.random.normal((gradient_steps, batch_size, int(np.prod(cast(spaces.Box, self.action_space).shape))))

        stats, actor_updated = [], []
        for gradient_step, replay_data in enumerate(self._replay_batches(gradient_steps, batch_size)):
            self._n_updates += 1
            # For n-step replay, discount factor is gamma**n_steps (when no early termination)
            discounts = replay_data.discounts if replay_data.discounts is not None else gamma
            # Delayed policy updates
            update_actor = self._n_updates % self.policy_delay == 0
            step_stats = self._train_steps[update_actor](
                replay_data.observations,
                replay_data.actions,
                replay_data.next_observations,
                replay_data.dones,
                replay_data.rewards,
                discounts,
                noise[gradient_step],
                target_policy_noise,
                target_noise_clip,
                tau,
            )
            # One evaluation per gradient step, asynchronous so that the next minibatch is prepared meanwhile.
            mx.async_eval(step_stats, self._step_state)
            stats.append(step_stats)
            actor_updated.append(update_actor)

        critic_losses, actor_losses = np.array(mx.stack(stats)).T
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if any(actor_updated):
            self.logger.record("train/actor_loss", float(np.mean(actor_losses[np.array(actor_updated)])))
        self.logger.record("train/critic_loss", float(np.mean(critic_losses)))

    def learn(
        self: SelfTD3,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "TD3",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfTD3:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "actor",
            "critic",
            "actor_target",
            "critic_target",
            "_step_state",
            "_train_steps",
        ]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "actor.optimizer", "critic.optimizer"], []
