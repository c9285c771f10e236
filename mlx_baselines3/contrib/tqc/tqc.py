from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import mlx.nn as nn

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.compiled import value_and_grad
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm  # noqa: F401  (sb3-contrib exposes it here)
from mlx_baselines3.common.policies import BasePolicy, critic_optimized_parameters
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback
from mlx_baselines3.common.utils import get_parameters_by_name, polyak_update, update_target_network  # noqa: F401  (sb3-contrib exposes them here)
from mlx_baselines3.contrib.common.utils import quantile_huber_loss
from mlx_baselines3.contrib.tqc.policies import Actor, CnnPolicy, Critic, MlpPolicy, MultiInputPolicy, TQCPolicy  # noqa: F401  (sb3-contrib exposes them here)
from mlx_baselines3.sac.sac import SAC

SelfTQC = TypeVar("SelfTQC", bound="TQC")


class TQC(SAC):
    """
    Truncated Quantile Critics (Kuznetsov et al., 2020, https://arxiv.org/abs/2005.04269), as sb3-contrib implements
    it: SAC with distributional critics. Each of the ``n_critics`` networks predicts ``n_quantiles`` quantiles of the
    return; the target pools the target critic's quantiles of all networks, drops the ``top_quantiles_to_drop_per_net
    * n_critics`` largest (controlling overestimation), and every network is trained on the rest with the quantile
    Huber loss; the actor maximizes the mean of all quantiles minus the entropy term.

    Built on the off-policy actor-critic scaffold (``common.off_policy_actor_critic``, shared with SAC): entropy
    coefficient, noise, scalars, target updates, saving and the ``train()`` loop are SAC's; this class states the
    update's maths. Each gradient step is one compiled MLX function, built once.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate of every optimizer, constant or a schedule of the remaining progress
    :param buffer_size: size of the replay buffer
    :param learning_starts: number of warm-up steps, with random actions, before training starts
    :param batch_size: minibatch size of each gradient step
    :param tau: soft update coefficient of the target critic
    :param gamma: discount factor
    :param train_freq: train every ``train_freq`` steps; an int, ``(n, "step")`` or ``(n, "episode")``
    :param gradient_steps: gradient steps after each rollout; -1 does as many as environment steps were collected
    :param action_noise: noise added to the actions during exploration
    :param replay_buffer_class: replay buffer class (None: chosen from the observation space and ``n_steps``)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: memory-efficient replay buffer (next observations are not stored separately)
    :param n_steps: n-step returns when greater than 1
    :param ent_coef: entropy coefficient; ``"auto"`` (or ``"auto_<init>"``) learns it
    :param target_update_interval: gradient steps between target critic updates
    :param target_entropy: target entropy of the learned coefficient (``"auto"``: ``-action_dim``)
    :param top_quantiles_to_drop_per_net: quantiles dropped from the target, per network
    :param use_sde: use generalized State-Dependent Exploration
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param use_sde_at_warmup: explore with gSDE instead of uniform random actions during warm-up
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy (``n_quantiles``, ``n_critics``, ``net_arch``...)
    :param verbose: 0 silent, 1 info (training statistics), 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {  # type: ignore[assignment]
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: TQCPolicy  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[TQCPolicy],
        env: GymEnv | str,
        learning_rate: float | Callable = 3e-4,
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
        top_quantiles_to_drop_per_net: int = 2,
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
        # Read by _make_train_step, which SAC's constructor reaches through _setup_model.
        self.top_quantiles_to_drop_per_net = top_quantiles_to_drop_per_net
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            ent_coef=ent_coef,
            target_update_interval=target_update_interval,
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

    def _make_train_step(self, update_target: bool):
        """
        Build one TQC gradient step: truncated target quantiles (the target critic's quantiles of all networks at the
        next state, sorted, without the largest, minus the entropy term, discounted), the critic update with the
        quantile Huber loss (averaged over the quantiles), the actor update on the mean quantile of the updated critic,
        the entropy coefficient update and (when ``update_target``) the Polyak update of the target critic.

        :param update_target: whether this variant updates the target critic
        :return: the step function (to be compiled)
        """
        actor, critic, critic_target = self.actor, self.critic, self.critic_target
        ent_coef_module, ent_coef_optimizer = self.ent_coef_module, self.ent_coef_optimizer
        use_sde = self.use_sde
        n_target_quantiles = critic.quantiles_total - self.top_quantiles_to_drop_per_net * critic.n_critics

        def critic_loss_fn(obs, actions, target_quantiles):
            return quantile_huber_loss(critic(obs, actions), target_quantiles, sum_over_quantiles=False)

        def actor_loss_fn(obs, noise, ent_coef):
            actions_pi, log_prob = actor.action_log_prob(obs, noise)
            log_prob = log_prob.reshape(-1, 1)
            qf_pi = critic(obs, actions_pi).mean(axis=2).mean(axis=1, keepdims=True)
            return mx.mean(ent_coef * log_prob - qf_pi), log_prob

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

            next_actions, next_log_prob = actor.action_log_prob(next_obs, next_noise)
            # (batch, n_critics * n_quantiles), sorted; the largest are dropped to control overestimation.
            next_quantiles = mx.sort(critic_target(next_obs, next_actions).reshape(next_actions.shape[0], -1), axis=1)
            next_quantiles = next_quantiles[:, :n_target_quantiles] - ent_coef * next_log_prob.reshape(-1, 1)
            # (batch, 1, n_target_quantiles): every network learns the same target quantiles.
            target_quantiles = mx.stop_gradient(rewards + (1 - dones) * discounts * next_quantiles)[:, None, :]

            critic_loss, grads = critic_value_and_grad(obs, actions, target_quantiles)
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
        self: SelfTQC,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "TQC",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfTQC:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
