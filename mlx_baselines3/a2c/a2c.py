from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from gymnasium import spaces

from mlx_baselines3.common.buffers import RolloutBuffer
from mlx_baselines3.common.compiled import compile_update
from mlx_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, BasePolicy, MultiInputActorCriticPolicy
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import explained_variance

SelfA2C = TypeVar("SelfA2C", bound="A2C")


class A2C(OnPolicyAlgorithm):
    """
    Advantage Actor Critic, the synchronous variant of A3C (Mnih et al., 2016, https://arxiv.org/abs/1602.01783),
    following SB3's implementation and defaults: one gradient step per rollout, RMSprop with torch's update rule.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate, constant or a schedule of the remaining progress (from 1 to 0)
    :param n_steps: steps per environment per update (the rollout holds ``n_steps * n_envs`` transitions)
    :param gamma: discount factor
    :param gae_lambda: bias/variance trade-off of Generalized Advantage Estimation (1: classic advantage)
    :param ent_coef: entropy coefficient of the loss
    :param vf_coef: value function coefficient of the loss
    :param max_grad_norm: maximum norm for gradient clipping
    :param rms_prop_eps: RMSprop epsilon (stabilizes the square root; the default matches SB3 and torch)
    :param use_rms_prop: RMSprop (default) or Adam as optimizer
    :param use_sde: use generalized State-Dependent Exploration instead of action noise
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param rollout_buffer_class: rollout buffer class (None: chosen from the observation space)
    :param rollout_buffer_kwargs: keyword arguments for the rollout buffer
    :param normalize_advantage: normalize the advantages
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy
    :param verbose: 0 silent, 1 info (training statistics), 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ActorCriticPolicy,
        "CnnPolicy": ActorCriticCnnPolicy,
        "MultiInputPolicy": MultiInputActorCriticPolicy,
    }

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 7e-4,
        n_steps: int = 5,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        rms_prop_eps: float = 1e-5,
        use_rms_prop: bool = True,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        normalize_advantage: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: "mx.Device | str" = "auto",
        _init_setup_model: bool = True,
    ):
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=(
                spaces.Box,
                spaces.Discrete,
                spaces.MultiDiscrete,
                spaces.MultiBinary,
            ),
        )

        self.normalize_advantage = normalize_advantage

        # Update optimizer inside the policy if we want to use RMSProp
        # (original implementation) rather than Adam
        if use_rms_prop and "optimizer_class" not in self.policy_kwargs:
            self.policy_kwargs["optimizer_class"] = optim.RMSprop
            self.policy_kwargs["optimizer_kwargs"] = dict(alpha=0.99, eps=rms_prop_eps, weight_decay=0)

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._train_step = self._make_train_step()

    def _make_train_step(self):
        """
        Build the compiled update: policy-gradient + value + entropy loss over the whole rollout, its gradient,
        gradient clipping and the optimizer step. The coefficients are array inputs (no retrace when they change).
        """
        policy = self.policy
        optimizer = policy.optimizer
        discrete = isinstance(self.action_space, spaces.Discrete)
        normalize_advantage = self.normalize_advantage
        max_grad_norm = self.max_grad_norm

        def loss_fn(obs, actions, old_values, old_log_prob, advantages, returns, scalars):
            if discrete:
                # Convert discrete action from float to long
                actions = actions.reshape(-1)
            values, log_prob, entropy = policy.evaluate_actions(obs, actions)
            values = values.reshape(-1)
            if normalize_advantage:
                advantages = (advantages - advantages.mean()) / (mx.std(advantages, ddof=1) + 1e-8)
            policy_loss = -(advantages * log_prob).mean()
            value_loss = nn.losses.mse_loss(values, returns)
            # Entropy loss favors exploration; approximate it with -log_prob when there is no closed form
            entropy_loss = mx.mean(log_prob) if entropy is None else -mx.mean(entropy)
            loss = policy_loss + scalars["ent_coef"] * entropy_loss + scalars["vf_coef"] * value_loss
            return loss, dict(policy_loss=policy_loss, value_loss=value_loss, entropy_loss=entropy_loss)

        loss_and_grad = nn.value_and_grad(policy, loss_fn)

        def step(batch, scalars):
            (_, stats), grads = loss_and_grad(*batch, scalars)
            grads, _ = optim.clip_grad_norm(grads, max_grad_norm)
            optimizer.update(policy, grads)
            return stats

        return compile_update(step, [policy.state, optimizer.state])

    def train(self) -> None:
        """Update the policy with the rollout in the buffer (one gradient step over all of it)."""
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)
        scalars = {"ent_coef": mx.array(self.ent_coef, dtype=mx.float32), "vf_coef": mx.array(self.vf_coef, dtype=mx.float32)}
        # This will only loop once (get all data in one go)
        for rollout_data in self.rollout_buffer.get(batch_size=None):
            stats = self._train_step(tuple(rollout_data), scalars)
        mx.eval(stats)
        stats = {key: value.item() for key, value in stats.items()}

        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())

        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/explained_variance", explained_var)
        self.logger.record("train/entropy_loss", stats["entropy_loss"])
        self.logger.record("train/policy_loss", stats["policy_loss"])
        self.logger.record("train/value_loss", stats["value_loss"])
        if "log_std" in self.policy:
            self.logger.record("train/std", mx.exp(self.policy.log_std).mean().item())

    def learn(
        self: SelfA2C,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 100,
        tb_log_name: str = "A2C",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfA2C:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
