from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import mlx.nn as nn

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.compiled import value_and_grad
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm  # noqa: F401  (sb3-contrib exposes it here)
from mlx_baselines3.common.policies import BasePolicy, critic_optimized_parameters
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.contrib.crossq.policies import Actor, CrossQCritic, CrossQPolicy, MlpPolicy
from mlx_baselines3.sac.sac import SAC

SelfCrossQ = TypeVar("SelfCrossQ", bound="CrossQ")


class CrossQ(SAC):
    """
    CrossQ (Bhatt et al., 2024, https://openreview.net/forum?id=PczQtTsTIX), as sb3-contrib implements it: SAC without
    target networks, with Batch Renormalization in the actor and the critic. The critic evaluates the current and the
    next state-actions in one joint forward pass, so that its normalization statistics cover both distributions, and
    bootstraps from its own (gradient-stopped) next-state values; the actor (and the entropy coefficient) are updated
    every ``policy_delay`` gradient steps.

    Built on the off-policy actor-critic scaffold (``common.off_policy_actor_critic``) as a subclass of SAC: entropy
    coefficient, noise, scalars, saving and the ``train()`` loop are SAC's; this class states the update. Each gradient
    step is one compiled MLX function (two variants: with and without the actor update), built once.

    :param policy: the policy model to use (MlpPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate of every optimizer, constant or a schedule of the remaining progress
    :param buffer_size: size of the replay buffer
    :param learning_starts: number of warm-up steps, with random actions, before training starts
    :param batch_size: minibatch size of each gradient step
    :param gamma: discount factor
    :param train_freq: train every ``train_freq`` steps; an int, ``(n, "step")`` or ``(n, "episode")``
    :param gradient_steps: gradient steps after each rollout; -1 does as many as environment steps were collected
    :param action_noise: noise added to the actions during exploration
    :param replay_buffer_class: replay buffer class (None: chosen from the observation space and ``n_steps``)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: memory-efficient replay buffer (next observations are not stored separately)
    :param n_steps: n-step returns when greater than 1
    :param ent_coef: entropy coefficient; ``"auto"`` (or ``"auto_<init>"``) learns it
    :param target_entropy: target entropy of the learned coefficient (``"auto"``: ``-action_dim``)
    :param policy_delay: gradient steps per actor (and entropy coefficient) update
    :param use_sde: use generalized State-Dependent Exploration
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param use_sde_at_warmup: explore with gSDE instead of uniform random actions during warm-up
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy (``net_arch``, ``batch_norm``, ``batch_norm_momentum``,
        ``renorm_warmup_steps``...)
    :param verbose: 0 silent, 1 info (training statistics), 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {  # type: ignore[assignment]
        "MlpPolicy": MlpPolicy,
    }
    policy: CrossQPolicy  # type: ignore[assignment]
    actor: Actor  # type: ignore[assignment]
    critic: CrossQCritic  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[CrossQPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_entropy: str | float = "auto",
        policy_delay: int = 3,
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
        check_hyperparameters(self, policy_delay=policy_delay)
        self.policy_delay = policy_delay
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            # No target network (sb3-contrib stores tau=1.0).
            tau=1.0,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            ent_coef=ent_coef,
            target_entropy=target_entropy,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic

    # Variants of the step: with or without the delayed actor update.
    _step_variants = (True, False)

    def _step_variant(self, gradient_step: int) -> bool:
        # Whether this step updates the actor (_n_updates already counts it, as sb3-contrib's loop does).
        return self._n_updates % self.policy_delay == 0

    def _make_train_step(self, update_actor: bool):
        """
        Build one CrossQ gradient step:

        - next actions from the actor with its BatchRenorm layers in evaluation mode;
        - the critic on the current and next state-actions in one forward pass, its BatchRenorm layers in training mode
          (batch statistics of both, running statistics updated); the target is ``r + gamma (1 - done) (min_i
          Q_i(s', a') - ent_coef log_prob(a'))`` from that same pass, gradient stopped; the critic update;
        - when ``update_actor``: the actor's actions with its BatchRenorm layers in training mode, the entropy
          coefficient update, and the actor update against the updated critic in evaluation mode.

        The BatchRenorm modes are Python flags read while the step is traced, and set back afterwards.

        :param update_actor: whether this variant updates the actor and the entropy coefficient
        :return: the step function (to be compiled)
        """
        actor, critic = self.actor, self.critic
        ent_coef_module, ent_coef_optimizer = self.ent_coef_module, self.ent_coef_optimizer
        use_sde = self.use_sde

        def critic_loss_fn(obs, actions, next_obs, next_actions, next_log_prob, rewards, dones, discounts, ent_coef):
            batch_size = actions.shape[0]
            all_obs = (
                {key: mx.concatenate([obs[key], next_obs[key]]) for key in obs}
                if isinstance(obs, dict)
                else mx.concatenate([obs, next_obs])
            )
            critic.set_bn_training_mode(True)
            all_q_values = mx.concatenate(critic(all_obs, mx.concatenate([actions, next_actions])), axis=1)
            critic.set_bn_training_mode(False)
            current_q_values, next_q_values = all_q_values[:batch_size], all_q_values[batch_size:]
            next_q_values = mx.min(next_q_values, axis=1, keepdims=True) - ent_coef * next_log_prob.reshape(-1, 1)
            target_q_values = mx.stop_gradient(rewards + (1 - dones) * discounts * next_q_values)
            return 0.5 * sum(
                nn.losses.mse_loss(current_q_values[:, idx : idx + 1], target_q_values) for idx in range(critic.n_critics)
            )

        def actor_loss_fn(obs, noise, ent_coef):
            actor.set_bn_training_mode(True)
            actions_pi, log_prob = actor.action_log_prob(obs, noise)
            actor.set_bn_training_mode(False)
            log_prob = log_prob.reshape(-1, 1)
            min_qf_pi = mx.min(mx.concatenate(critic(obs, actions_pi), axis=1), axis=1, keepdims=True)
            return mx.mean(ent_coef * log_prob - min_qf_pi), log_prob

        def ent_coef_loss_fn(log_prob, target_entropy):
            return -mx.mean(ent_coef_module.log_ent_coef * (log_prob + target_entropy))

        critic_value_and_grad = value_and_grad(critic, critic_loss_fn, critic_optimized_parameters)
        actor_value_and_grad = nn.value_and_grad(actor, actor_loss_fn)
        if ent_coef_module is not None:
            ent_coef_value_and_grad = nn.value_and_grad(ent_coef_module, ent_coef_loss_fn)

        def step(batch, noise, scalars):
            obs, actions, next_obs, dones, rewards, discounts = batch
            obs_noise, next_noise = (noise, noise) if use_sde else (noise[0], noise[1])
            # The coefficient is a constant for the other losses (https://github.com/rail-berkeley/softlearning/issues/60).
            ent_coef = scalars["ent_coef"] if ent_coef_module is None else mx.stop_gradient(ent_coef_module())
            actor_bn_mode, critic_bn_mode = actor.training, critic.training

            actor.set_bn_training_mode(False)
            next_actions, next_log_prob = map(mx.stop_gradient, actor.action_log_prob(next_obs, next_noise))
            critic_loss, grads = critic_value_and_grad(
                obs, actions, next_obs, next_actions, next_log_prob, rewards, dones, discounts, ent_coef
            )
            critic.optimizer.update(critic, grads)
            stats = {"ent_coef": ent_coef.reshape(()), "critic_loss": critic_loss}

            if update_actor:
                (actor_loss, log_prob), grads = actor_value_and_grad(obs, obs_noise, ent_coef)
                actor.optimizer.update(actor, grads)
                stats["actor_loss"] = actor_loss
                if ent_coef_module is not None:
                    ent_coef_loss, grads = ent_coef_value_and_grad(mx.stop_gradient(log_prob), scalars["target_entropy"])
                    ent_coef_optimizer.update(ent_coef_module, grads)
                    stats["ent_coef_loss"] = ent_coef_loss

            actor.set_bn_training_mode(actor_bn_mode)
            critic.set_bn_training_mode(critic_bn_mode)
            return stats

        return step

    def learn(
        self: SelfCrossQ,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "CrossQ",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfCrossQ:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
