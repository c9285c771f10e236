"""Soft Actor-Critic (SAC): off-policy maximum-entropy RL with a stochastic squashed-Gaussian actor."""

from typing import Any, ClassVar, TypeVar, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.compiled import value_and_grad
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.off_policy_actor_critic import OffPolicyActorCritic
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm  # noqa: F401  (SB3 exposes it here)
from mlx_baselines3.common.policies import (
    BasePolicy,
    ContinuousCritic,
    EntropyCoefficient,
    critic_optimized_parameters,
    make_optimizer,
)
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import get_parameters_by_name, polyak_update, update_target_network  # noqa: F401  (SB3 exposes them here)
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.sac.policies import Actor, CnnPolicy, MlpPolicy, MultiInputPolicy, SACPolicy

SelfSAC = TypeVar("SelfSAC", bound="SAC")


class SAC(OffPolicyActorCritic):
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
        # Entropy coefficient (entropy temperature): the inverse of the reward scale.
        self.ent_coef = ent_coef
        self.target_update_interval = target_update_interval
        # The learned coefficient (ent_coef="auto...") and its optimizer, or the fixed one.
        self.ent_coef_module: EntropyCoefficient | None = None
        self.ent_coef_optimizer: optim.Optimizer | None = None
        if _init_setup_model:
            self._setup_model()

    @property
    def log_ent_coef(self) -> mx.array | None:
        """The log of the learned entropy coefficient (held by ``ent_coef_module``), or None when it is fixed."""
        return None if self.ent_coef_module is None else self.ent_coef_module.log_ent_coef

    @log_ent_coef.setter
    def log_ent_coef(self, value: mx.array) -> None:
        if self.ent_coef_module is None:
            raise ValueError(f"This SAC has a fixed ent_coef={self.ent_coef!r}: it has no log_ent_coef to set.")
        self.ent_coef_module.log_ent_coef = value

    def _setup_learned_parameters(self) -> None:
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
                    raise UsageError(f"The initial value of ent_coef must be greater than 0, got {self.ent_coef!r}")
            self.ent_coef_module = EntropyCoefficient(init_value)
            # Adam whatever the policy's optimizer class, as in SB3.
            self.ent_coef_optimizer = make_optimizer(optim.Adam, self.lr_schedule(1))
            self.ent_coef_optimizer.init(self.ent_coef_module.trainable_parameters())
        else:
            # Fails on strings other than "auto..."
            self.ent_coef_tensor = mx.array(float(self.ent_coef))

    def _optimizers(self) -> list[optim.Optimizer]:
        optimizers = super()._optimizers()
        return optimizers if self.ent_coef_optimizer is None else [*optimizers, self.ent_coef_optimizer]

    def _train_state(self) -> list[Any]:
        state = super()._train_state()
        return state if self.ent_coef_module is None else [*state, self.ent_coef_module.state]

    _step_variants = (True, False)

    def _step_variant(self, gradient_step: int) -> bool:
        # Whether this step updates the target critic.
        return gradient_step % self.target_update_interval == 0

    def _step_scalars(self) -> dict[str, mx.array]:
        scalars = super()._step_scalars()
        # _setup_model turned target_entropy into a float.
        scalars["target_entropy"] = mx.array(cast(float, self.target_entropy), dtype=mx.float32)
        if self.ent_coef_module is None:
            scalars["ent_coef"] = self.ent_coef_tensor
        return scalars

    def _step_noise(self, gradient_steps: int, batch_size: int) -> mx.array:
        # Reparameterization noise: for the current and the next observations, or with gSDE the weights of one
        # exploration matrix per step.
        action_dim = int(np.prod(cast(spaces.Box, self.action_space).shape))
        if self.use_sde:
            # gSDE's latent_sde_dim is set when the actor builds its distribution.
            return mx.random.normal((gradient_steps, cast(int, self.actor.action_dist.latent_sde_dim), action_dim))
        return mx.random.normal((gradient_steps, 2, batch_size, action_dim))

    def _make_train_step(self, update_target: bool):
        """
        Build one SAC gradient step: soft Bellman targets from the target critic, the critic update, the actor update
        against the updated critic, the entropy coefficient update and (when ``update_target``) the Polyak update of
        the target critic.

        SB3 updates the entropy coefficient first, but the critic and actor losses use its value from before the
        update, so doing it last gives the same result and reuses the actor's log-probabilities.

        :param update_target: whether this variant updates the target critic
        :return: the step function (to be compiled)
        """
        actor, critic, critic_target = self.actor, self.critic, self.critic_target
        ent_coef_module, ent_coef_optimizer = self.ent_coef_module, self.ent_coef_optimizer
        use_sde = self.use_sde

        def critic_loss_fn(obs, actions, target_q_values):
            # Every critic against the same target: the sum of their mean squared errors, halved as in SB3.
            current_q_values = critic.q_values(obs, actions)
            return 0.5 * mx.sum(mx.mean(mx.square(current_q_values - target_q_values), axis=(1, 2)))

        def actor_loss_fn(obs, noise, ent_coef):
            actions_pi, log_prob = actor.action_log_prob(obs, noise)
            log_prob = log_prob.reshape(-1, 1)
            # Min over all critic networks
            min_qf_pi = mx.min(critic.q_values(obs, actions_pi), axis=0)
            return mx.mean(ent_coef * log_prob - min_qf_pi), log_prob

        def ent_coef_loss_fn(log_prob, target_entropy):
            return -mx.mean(ent_coef_module.log_ent_coef * (log_prob + target_entropy))

        critic_value_and_grad = value_and_grad(critic, critic_loss_fn, critic_optimized_parameters)
        actor_value_and_grad = nn.value_and_grad(actor, actor_loss_fn)
        if ent_coef_module is not None:
            ent_coef_value_and_grad = nn.value_and_grad(ent_coef_module, ent_coef_loss_fn)

        def step(batch, noise, scalars):
            obs, actions, next_obs, dones, rewards, discounts = batch
            # gSDE: one exploration matrix for the whole step (SB3 resets the noise once per gradient step)
            obs_noise, next_noise = (noise, noise) if use_sde else (noise[0], noise[1])
            # The coefficient is a constant for the other losses (https://github.com/rail-berkeley/softlearning/issues/60).
            ent_coef = scalars["ent_coef"] if ent_coef_module is None else mx.stop_gradient(ent_coef_module())

            # Soft Bellman target from the target critic, actions from the current policy
            next_actions, next_log_prob = actor.action_log_prob(next_obs, next_noise)
            next_q_values = mx.min(critic_target.q_values(next_obs, next_actions), axis=0)
            next_q_values = next_q_values - ent_coef * next_log_prob.reshape(-1, 1)
            target_q_values = mx.stop_gradient(rewards + (1 - dones) * discounts * next_q_values)

            critic_loss, grads = critic_value_and_grad(obs, actions, target_q_values)
            critic.optimizer.update(critic, grads)

            (actor_loss, log_prob), grads = actor_value_and_grad(obs, obs_noise, ent_coef)
            actor.optimizer.update(actor, grads)
            stats = {"ent_coef": ent_coef.reshape(()), "actor_loss": actor_loss, "critic_loss": critic_loss}

            if ent_coef_module is not None:
                ent_coef_loss, grads = ent_coef_value_and_grad(mx.stop_gradient(log_prob), scalars["target_entropy"])
                ent_coef_optimizer.update(ent_coef_module, grads)
                stats["ent_coef_loss"] = ent_coef_loss

            if update_target:
                update_target_network(critic, critic_target, scalars["tau"])
            return stats

        return step

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
        return [*super()._excluded_save_params(), "ent_coef_module"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, _ = super()._get_torch_save_params()
        if self.ent_coef_optimizer is not None:
            return [*state_dicts, "ent_coef_optimizer"], ["log_ent_coef"]
        return state_dicts, ["ent_coef_tensor"]
