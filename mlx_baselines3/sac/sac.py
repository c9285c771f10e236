"""Soft Actor-Critic (SAC): off-policy maximum-entropy RL with a stochastic squashed-Gaussian actor."""

from typing import Any, ClassVar, TypeVar, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from mlx_baselines3.common.policies import BasePolicy, ContinuousCritic, make_optimizer
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import get_parameters_by_name, polyak_update  # noqa: F401  (SB3 exposes them here)
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.sac.policies import (
    Actor,
    CnnPolicy,
    MlpPolicy,
    MultiInputPolicy,
    SACPolicy,
    critic_optimized_parameters,
    soft_update_target,
)

SelfSAC = TypeVar("SelfSAC", bound="SAC")


class SAC(OffPolicyAlgorithm):
    """
    Soft Actor-Critic (Haarnoja et al., 2018, https://arxiv.org/abs/1801.01290), with clipped double-Q targets and
    the automatic entropy tuning of https://arxiv.org/abs/1812.05905.

    Each gradient step (critic, actor, entropy coefficient and target updates) is one compiled MLX function, traced
    once; the replay data of a ``train()`` call is sampled at once and the losses are read back once per call.

    :param policy: the policy class or alias (``"MlpPolicy"``, ``"CnnPolicy"``, ``"MultiInputPolicy"``)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate of all the optimizers, constant or a schedule of the remaining progress
    :param buffer_size: replay buffer capacity
    :param learning_starts: number of steps with random actions before learning starts
    :param batch_size: minibatch size of each gradient step
    :param tau: soft update coefficient of the target networks, in [0, 1]
    :param gamma: discount factor
    :param train_freq: update every ``train_freq`` steps, or a tuple such as ``(5, "step")`` or ``(2, "episode")``
    :param gradient_steps: gradient steps after each rollout (-1: as many as environment steps collected)
    :param action_noise: noise added to the actions (SAC explores with its own stochastic policy, so usually None)
    :param replay_buffer_class: replay buffer class (None: chosen from the observation space)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: store each observation once in the replay buffer
    :param n_steps: n-step returns (> 1 uses the NStepReplayBuffer when ``replay_buffer_class`` is None)
    :param ent_coef: entropy coefficient (inverse of the reward scale): a float, ``"auto"`` to learn it starting from
        1, or ``"auto_0.1"`` to learn it starting from 0.1
    :param target_update_interval: update the target network every n gradient steps of a ``train()`` call
    :param target_entropy: the entropy the learned coefficient aims at (``"auto"``: ``-dim(action space)``)
    :param use_sde: explore with generalized State-Dependent Exploration instead of independent noise
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param use_sde_at_warmup: use gSDE instead of uniform random actions during warm-up
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
    policy: SACPolicy
    actor: Actor
    critic: ContinuousCritic
    critic_target: ContinuousCritic

    def __init__(
        self,
        policy: str | type[SACPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
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
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: "mx.Device | str" = "auto",
        _init_setup_model: bool = True,
    ):
        check_hyperparameters(self, target_update_interval=target_update_interval)
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
            action_noise,
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
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup,
            supported_action_spaces=(spaces.Box,),
            support_multi_env=True,
        )
        self.target_entropy = target_entropy
        self.log_ent_coef: mx.array | None = None
        # Entropy coefficient (entropy temperature): the inverse of the reward scale.
        self.ent_coef = ent_coef
        self.target_update_interval = target_update_interval
        self.ent_coef_optimizer: optim.Optimizer | None = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._create_aliases()
        if self.target_entropy == "auto":
            self.target_entropy = float(-np.prod(cast(spaces.Box, self.action_space).shape).astype(np.float32))
        else:
            # Fails on strings other than "auto".
            self.target_entropy = float(self.target_entropy)

        # Learned entropy coefficient (https://arxiv.org/abs/1812.05905); its log is optimized, which keeps it positive.
        if isinstance(self.ent_coef, str) and self.ent_coef.startswith("auto"):
            init_value = 1.0
            if "_" in self.ent_coef:
                init_value = float(self.ent_coef.split("_")[1])
                if init_value <= 0.0:
                    raise ValueError(f"The initial value of ent_coef must be greater than 0, got {self.ent_coef!r}")
            self.log_ent_coef = mx.log(mx.ones(1) * init_value)
            # Adam whatever the policy's optimizer class, as in SB3.
            self.ent_coef_optimizer = make_optimizer(optim.Adam, self.lr_schedule(1))
            self.ent_coef_optimizer.init({"log_ent_coef": self.log_ent_coef})
        else:
            # Fails on strings other than "auto..."
            self.ent_coef_tensor = mx.array(float(self.ent_coef))

        # The arrays the compiled steps read and write; refreshed at each train() call so that replaced optimizer
        # states or a loaded log_ent_coef are picked up.
        self._step_state: list[Any] = []
        self._train_steps = {
            update_target: mx.compile(self._make_train_step(update_target), inputs=self._step_state, outputs=self._step_state)
            for update_target in (True, False)
        }

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    def _refresh_step_state(self) -> None:
        ent_coef_state: dict[str, Any] = {}
        if self.ent_coef_optimizer is not None:
            ent_coef_state = {"log_ent_coef": self.log_ent_coef, "optimizer": self.ent_coef_optimizer.state}
        # Both optimizers are built with the policy in _setup_model.
        assert self.actor.optimizer is not None and self.critic.optimizer is not None
        self._step_state[:] = [self.policy, self.actor.optimizer.state, self.critic.optimizer.state, ent_coef_state]

    def _make_train_step(self, update_target: bool):
        """
        Build one SAC gradient step as a pure function of its inputs and of ``self._step_state``: soft Bellman targets
        from the target critic, the critic update, the actor update against the updated critic, the entropy
        coefficient update and (when ``update_target``) the Polyak update of the target critic.

        SB3 updates the entropy coefficient first, but the critic and actor losses use its value from before the
        update, so doing it last gives the same result and reuses the actor's log-probabilities.

        :param update_target: whether this variant updates the target critic
        :return: the step function (to be compiled)
        """

        def critic_loss_fn(params, obs, actions, target_q_values):
            self.critic.update(params)
            current_q_values = self.critic(obs, actions)
            return 0.5 * sum(nn.losses.mse_loss(current_q, target_q_values) for current_q in current_q_values)

        def actor_loss_fn(params, obs, noise, ent_coef):
            self.actor.update(params)
            actions_pi, log_prob = self.actor.action_log_prob(obs, noise)
            log_prob = log_prob.reshape(-1, 1)
            # Min over all critic networks
            min_qf_pi = mx.min(mx.concatenate(self.critic(obs, actions_pi), axis=1), axis=1, keepdims=True)
            return mx.mean(ent_coef * log_prob - min_qf_pi), log_prob

        def ent_coef_loss_fn(log_ent_coef, log_prob, target_entropy):
            return -mx.mean(log_ent_coef * (log_prob + target_entropy))

        critic_value_and_grad = mx.value_and_grad(critic_loss_fn)
        actor_value_and_grad = mx.value_and_grad(actor_loss_fn)
        ent_coef_value_and_grad = mx.value_and_grad(ent_coef_loss_fn)

        use_sde = self.use_sde

        def step(obs, actions, next_obs, dones, rewards, discounts, noise, tau, target_entropy, ent_coef_value):
            # gSDE: one exploration matrix for the whole step (SB3 resets the noise once per gradient step)
            obs_noise, next_noise = (noise, noise) if use_sde else (noise[0], noise[1])
            ent_coef_state = self._step_state[3]
            learn_ent_coef = bool(ent_coef_state)
            # The coefficient is a constant for the other losses (https://github.com/rail-berkeley/softlearning/issues/60).
            ent_coef = mx.exp(mx.stop_gradient(ent_coef_state["log_ent_coef"])) if learn_ent_coef else ent_coef_value

            # Soft Bellman target from the target critic, actions from the current policy
            next_actions, next_log_prob = self.actor.action_log_prob(next_obs, next_noise)
            next_q_values = mx.min(mx.concatenate(self.critic_target(next_obs, next_actions), axis=1), axis=1, keepdims=True)
            next_q_values = next_q_values - ent_coef * next_log_prob.reshape(-1, 1)
            target_q_values = mx.stop_gradient(rewards + (1 - dones) * discounts * next_q_values)

            critic_loss, grads = critic_value_and_grad(critic_optimized_parameters(self.critic), obs, actions, target_q_values)
            self.critic.update(self.critic.optimizer.apply_gradients(grads, self.critic))

            (actor_loss, log_prob), grads = actor_value_and_grad(self.actor.trainable_parameters(), obs, obs_noise, ent_coef)
            self.actor.update(self.actor.optimizer.apply_gradients(grads, self.actor))

            ent_coef_loss = mx.array(0.0)
            if learn_ent_coef:
                log_ent_coef = ent_coef_state["log_ent_coef"]
                ent_coef_loss, grad = ent_coef_value_and_grad(log_ent_coef, mx.stop_gradient(log_prob), target_entropy)
                updated = self.ent_coef_optimizer.apply_gradients({"log_ent_coef": grad}, {"log_ent_coef": log_ent_coef})
                ent_coef_state["log_ent_coef"] = updated["log_ent_coef"]

            if update_target:
                soft_update_target(self.critic, self.critic_target, tau)
            return mx.stack([critic_loss, actor_loss, ent_coef.reshape(()), ent_coef_loss])

        return step

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        """
        Run ``gradient_steps`` updates on minibatches sampled from the replay buffer.

        :param gradient_steps: number of gradient steps
        :param batch_size: minibatch size
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)
        self._refresh_step_state()

        tau = mx.array(self.tau, dtype=mx.float32)
        gamma = mx.array(self.gamma, dtype=mx.float32)
        # _setup_model turned target_entropy into a float.
        target_entropy = mx.array(cast(float, self.target_entropy), dtype=mx.float32)
        ent_coef_value = self.ent_coef_tensor if self.ent_coef_optimizer is None else mx.array(0.0)
        # Reparameterization noise of every step, drawn at once: for the current and the next observations, or with
        # gSDE the weights of one exploration matrix per step.
        action_dim = int(np.prod(cast(spaces.Box, self.action_space).shape))
        if self.use_sde:
            # gSDE's latent_sde_dim is set when the actor builds its distribution.
            noise = mx.random.normal((gradient_steps, cast(int, self.actor.action_dist.latent_sde_dim), action_dim))
        else:
            noise = mx.random.normal((gradient_steps, 2, batch_size, action_dim))

        stats = []
        for gradient_step, replay_data in enumerate(self._replay_batches(gradient_steps, batch_size)):
            # For n-step replay, discount factor is gamma**n_steps (when no early termination)
            discounts = replay_data.discounts if replay_data.discounts is not None else gamma
            train_step = self._train_steps[gradient_step % self.target_update_interval == 0]
            step_stats = train_step(
                replay_data.observations,
                replay_data.actions,
                replay_data.next_observations,
                replay_data.dones,
                replay_data.rewards,
                discounts,
                noise[gradient_step],
                tau,
                target_entropy,
                ent_coef_value,
            )
            # One evaluation per gradient step, asynchronous so that the next minibatch is prepared meanwhile.
            mx.async_eval(step_stats, self._step_state)
            stats.append(step_stats)
        if self.ent_coef_optimizer is not None:
            self.log_ent_coef = self._step_state[3]["log_ent_coef"]

        critic_losses, actor_losses, ent_coefs, ent_coef_losses = np.array(mx.stack(stats)).T
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", float(np.mean(ent_coefs)))
        self.logger.record("train/actor_loss", float(np.mean(actor_losses)))
        self.logger.record("train/critic_loss", float(np.mean(critic_losses)))
        if self.ent_coef_optimizer is not None:
            self.logger.record("train/ent_coef_loss", float(np.mean(ent_coef_losses)))

    def learn(
        self: SelfSAC,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "SAC",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSAC:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target", "_step_state", "_train_steps"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer"]
        if self.ent_coef_optimizer is not None:
            saved_pytorch_variables = ["log_ent_coef"]
            state_dicts.append("ent_coef_optimizer")
        else:
            saved_pytorch_variables = ["ent_coef_tensor"]
        return state_dicts, saved_pytorch_variables
