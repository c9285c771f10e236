"""Twin Delayed DDPG (TD3): deterministic off-policy actor-critic with clipped double-Q, delayed actor updates and
target policy smoothing."""

from typing import Any, ClassVar, TypeVar, cast

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.compiled import value_and_grad
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.off_policy_actor_critic import OffPolicyActorCritic
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm  # noqa: F401  (SB3 exposes it here)
from mlx_baselines3.common.policies import BasePolicy, ContinuousCritic, critic_optimized_parameters
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import get_parameters_by_name, polyak_update, update_target_network  # noqa: F401  (SB3 exposes them here)
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.td3.policies import Actor, CnnPolicy, MlpPolicy, MultiInputPolicy, TD3Policy

SelfTD3 = TypeVar("SelfTD3", bound="TD3")


class TD3(OffPolicyActorCritic):
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

    _step_variants = (True, False)

    def _step_variant(self, gradient_step: int) -> bool:
        # Delayed policy updates: whether this step updates the actor and the targets.
        return self._n_updates % self.policy_delay == 0

    def _step_scalars(self) -> dict[str, mx.array]:
        scalars = super()._step_scalars()
        scalars["target_policy_noise"] = mx.array(self.target_policy_noise, dtype=mx.float32)
        scalars["target_noise_clip"] = mx.array(self.target_noise_clip, dtype=mx.float32)
        return scalars

    def _step_noise(self, gradient_steps: int, batch_size: int) -> mx.array:
        # Target smoothing noise (standard normal, scaled inside the step).
        return mx.random.normal((gradient_steps, batch_size, int(np.prod(cast(spaces.Box, self.action_space).shape))))

    def _make_train_step(self, update_actor: bool):
        """
        Build one TD3 gradient step: targets from the target networks with smoothed target actions, the critic update
        and, when ``update_actor``, the deterministic policy gradient update of the actor against the updated critic
        and the Polyak updates of both targets.

        Two compiled variants (with and without the actor) cost less than one variant that masks the actor update,
        which would compute it at every step.

        :param update_actor: whether this variant updates the actor and the targets
        :return: the step function (to be compiled)
        """
        actor, actor_target, critic, critic_target = self.actor, self.actor_target, self.critic, self.critic_target

        def critic_loss_fn(obs, actions, target_q_values):
            # Every critic against the same target: the sum of their mean squared errors.
            current_q_values = critic.q_values(obs, actions)
            return mx.sum(mx.mean(mx.square(current_q_values - target_q_values), axis=(1, 2)))

        def actor_loss_fn(obs):
            return -mx.mean(critic.q1_forward(obs, actor(obs)))

        critic_value_and_grad = value_and_grad(critic, critic_loss_fn, critic_optimized_parameters)
        actor_value_and_grad = nn.value_and_grad(actor, actor_loss_fn)

        def step(batch, noise, scalars):
            obs, actions, next_obs, dones, rewards, discounts = batch
            # Target policy smoothing: clipped Gaussian noise on the target actions
            noise_clip = scalars["target_noise_clip"]
            noise = mx.clip(noise * scalars["target_policy_noise"], -noise_clip, noise_clip)
            next_actions = mx.clip(actor_target(next_obs) + noise, -1, 1)
            # Clipped double-Q: min over all target critics
            next_q_values = mx.min(critic_target.q_values(next_obs, next_actions), axis=0)
            target_q_values = mx.stop_gradient(rewards + (1 - dones) * discounts * next_q_values)

            critic_loss, grads = critic_value_and_grad(obs, actions, target_q_values)
            critic.optimizer.update(critic, grads)
            if not update_actor:
                return {"critic_loss": critic_loss}

            actor_loss, grads = actor_value_and_grad(obs)
            actor.optimizer.update(actor, grads)
            update_target_network(critic, critic_target, scalars["tau"])
            update_target_network(actor, actor_target, scalars["tau"])
            return {"critic_loss": critic_loss, "actor_loss": actor_loss}

        return step

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
