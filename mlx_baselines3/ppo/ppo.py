import warnings
from functools import partial
from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces
from mlx.utils import tree_map

from mlx_baselines3.common.buffers import RolloutBuffer
from mlx_baselines3.common.compiled import compile_update
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, BasePolicy, MultiInputActorCriticPolicy
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import FloatSchedule, explained_variance
from mlx_baselines3.common.validation import check_hyperparameters

SelfPPO = TypeVar("SelfPPO", bound="PPO")


def _mean(x: mx.array) -> mx.array:
    return x.mean()


def _masked_mean(x: mx.array, mask: mx.array) -> mx.array:
    return (x * mask).sum() / mask.sum()


class PPO(OnPolicyAlgorithm):
    """
    Proximal Policy Optimization with a clipped surrogate objective (Schulman et al., 2017,
    https://arxiv.org/abs/1707.06347), following SB3's implementation and defaults.

    Each minibatch update (loss, gradient, gradient clipping, Adam step) is one compiled MLX function, built once.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate, constant or a schedule of the remaining progress (from 1 to 0)
    :param n_steps: steps per environment per update (the rollout holds ``n_steps * n_envs`` transitions, which must be > 1)
    :param batch_size: minibatch size
    :param n_epochs: passes over the rollout per update
    :param gamma: discount factor
    :param gae_lambda: bias/variance trade-off of Generalized Advantage Estimation
    :param clip_range: clipping of the probability ratio, constant or a schedule
    :param clip_range_vf: clipping of the value function around the old values, constant or a schedule;
        None (default) disables it. It depends on the reward scale.
    :param normalize_advantage: normalize the advantages per minibatch
    :param ent_coef: entropy coefficient of the loss
    :param vf_coef: value function coefficient of the loss
    :param max_grad_norm: maximum norm for gradient clipping
    :param use_sde: use generalized State-Dependent Exploration instead of action noise
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param rollout_buffer_class: rollout buffer class (None: chosen from the observation space)
    :param rollout_buffer_kwargs: keyword arguments for the rollout buffer
    :param target_kl: stop the epochs of an update early when the approximate KL divergence of a minibatch exceeds
        ``1.5 * target_kl`` (None: no limit)
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
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        target_kl: float | None = None,
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

        # Sanity check, otherwise it will lead to noisy gradient and NaN
        # because of the advantage normalization
        if normalize_advantage and batch_size is not None and batch_size <= 1:
            raise UsageError(
                "`batch_size` must be greater than 1. See https://github.com/DLR-RM/stable-baselines3/issues/440 "
                f"(got batch_size={batch_size})"
            )

        # After SB3's own `batch_size` check above, so that its message comes first where both apply.
        # batch_size=None (the whole rollout) is allowed by the PPO variants of sb3-contrib.
        sizes = {} if batch_size is None else {"batch_size": batch_size}
        check_hyperparameters(self, **sizes, n_epochs=n_epochs, clip_range=clip_range, target_kl=target_kl)

        if self.env is not None:
            # Check that `n_steps * n_envs > 1` to avoid NaN when doing advantage normalization
            buffer_size = self.env.num_envs * self.n_steps
            if normalize_advantage and buffer_size <= 1:
                raise UsageError(
                    "`n_steps * n_envs` must be greater than 1. "
                    f"Currently n_steps={self.n_steps} and n_envs={self.env.num_envs}"
                )
            # Check that the rollout buffer size is a multiple of the mini-batch size
            # None: the whole rollout is one minibatch
            untruncated_batches = buffer_size // (batch_size or buffer_size)
            if batch_size is not None and buffer_size % batch_size > 0:
                warnings.warn(
                    f"You have specified a mini-batch size of {batch_size},"
                    f" but because the `RolloutBuffer` is of size `n_steps * n_envs = {buffer_size}`,"
                    f" after every {untruncated_batches} untruncated mini-batches,"
                    f" there will be a truncated mini-batch of size {buffer_size % batch_size}\n"
                    f"We recommend using a `batch_size` that is a factor of `n_steps * n_envs`.\n"
                    f"Info: (n_steps={self.n_steps} and n_envs={self.env.num_envs})"
                )
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.clip_range = clip_range
        self.clip_range_vf = clip_range_vf
        self.normalize_advantage = normalize_advantage
        self.target_kl = target_kl

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()

        # Initialize schedules for policy/value clipping
        self.clip_range = FloatSchedule(self.clip_range)
        if self.clip_range_vf is not None:
            check_hyperparameters(self, clip_range_vf=self.clip_range_vf)
            self.clip_range_vf = FloatSchedule(self.clip_range_vf)
        self._train_step = self._make_train_step()

    def _make_train_step(self):
        """
        Build the compiled minibatch update: clipped surrogate + value + entropy loss, its gradient, gradient clipping
        and the optimizer step. Scalars that may change (clip ranges, coefficients, the KL limit) are array inputs, so
        the function is traced once per minibatch shape.

        With ``target_kl``, SB3 skips the optimizer step of the minibatch whose approximate KL exceeds the limit and
        stops the update there. Here ``active`` carries that decision through the compiled steps: once it is False the
        step leaves parameters and optimizer state unchanged, and the host reads it once per epoch.
        """
        policy = self.policy
        optimizer = policy.optimizer
        clip_values = self.clip_range_vf is not None
        normalize_advantage = self.normalize_advantage
        max_grad_norm = self.max_grad_norm
        use_target_kl = self.target_kl is not None

        def loss_fn(batch, scalars):
            clip_range, clip_range_vf = scalars["clip_range"], scalars["clip_range_vf"]
            values, log_prob, entropy = self._evaluate_batch(batch)
            values = values.reshape(-1)
            advantages, old_log_prob = batch["advantages"], batch["old_log_prob"]
            old_values, returns = batch["old_values"], batch["returns"]
            # Padded sequences (RecurrentPPO's samples) flag their real steps in "mask": statistics run over those only.
            mask = batch.get("mask")
            mean = _mean if mask is None else partial(_masked_mean, mask=mask)
            # Normalize advantage (torch's std is the unbiased one)
            if normalize_advantage and advantages.shape[0] > 1:
                if mask is None:
                    std = mx.std(advantages, ddof=1)
                else:
                    std = mx.sqrt(mx.sum(mask * mx.square(advantages - mean(advantages))) / (mask.sum() - 1))
                advantages = (advantages - mean(advantages)) / (std + 1e-8)

            # ratio between old and new policy, should be one at the first iteration
            ratio = mx.exp(log_prob - old_log_prob)
            policy_loss_1 = advantages * ratio
            policy_loss_2 = advantages * mx.clip(ratio, 1 - clip_range, 1 + clip_range)
            policy_loss = -mean(mx.minimum(policy_loss_1, policy_loss_2))
            clip_fraction = mean((mx.abs(ratio - 1) > clip_range).astype(mx.float32))

            if clip_values:
                # Clip the difference between old and new value (depends on the reward scaling)
                values_pred = old_values + mx.clip(values - old_values, -clip_range_vf, clip_range_vf)
            else:
                values_pred = values
            value_loss = mean(mx.square(returns - values_pred))

            # Entropy loss favors exploration; approximate it with -log_prob when there is no closed form
            entropy_loss = mean(log_prob) if entropy is None else -mean(entropy)
            loss = policy_loss + scalars["ent_coef"] * entropy_loss + scalars["vf_coef"] * value_loss

            log_ratio = mx.stop_gradient(log_prob - old_log_prob)
            approx_kl = mean((mx.exp(log_ratio) - 1) - log_ratio)
            stats = dict(
                policy_gradient_loss=policy_loss,
                value_loss=value_loss,
                entropy_loss=entropy_loss,
                clip_fraction=clip_fraction,
                approx_kl=approx_kl,
            )
            return loss, stats

        loss_and_grad = nn.value_and_grad(policy, loss_fn)

        def step(batch, scalars, active):
            (loss, stats), grads = loss_and_grad(batch, scalars)
            if use_target_kl:
                active = mx.logical_and(active, stats["approx_kl"] <= 1.5 * scalars["target_kl"])
                old_params = policy.trainable_parameters()
                old_optimizer_state = tree_map(lambda x: x, optimizer.state)
            grads, _ = optim.clip_grad_norm(grads, max_grad_norm)
            optimizer.update(policy, grads)
            if use_target_kl:
                keep = lambda new, old: mx.where(active, new, old)  # noqa: E731
                policy.update(tree_map(keep, policy.trainable_parameters(), old_params))
                # In place: the compiled function tracks the state dict object it captured.
                optimizer.state.update(tree_map(keep, optimizer.state, old_optimizer_state))
            return {"loss": loss, **stats}, active

        return compile_update(step, [policy.state, optimizer.state])

    def _evaluate_batch(self, batch: dict[str, Any]) -> tuple[mx.array, mx.array, mx.array | None]:
        """
        Values, log-probabilities and entropy of a minibatch's actions under the current policy, inside the compiled
        update. The one place that knows which fields of the buffer's samples the policy needs: PPO variants whose
        buffers hold more (MaskablePPO's masks, RecurrentPPO's LSTM states) override it.

        :param batch: the minibatch, the buffer's samples as a dict by field name
        :return: values, log-probabilities, entropy (None when it has no closed form)
        """
        actions = batch["actions"]
        if isinstance(self.action_space, spaces.Discrete):
            # Convert discrete action from float to long
            actions = actions.reshape(-1)
        return self.policy.evaluate_actions(batch["observations"], actions)

    def train(self) -> None:
        """Update the policy with the rollout in the buffer."""
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)
        # Compute current clip range
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        # Optional: clip range for the value function
        clip_range_vf = 0.0
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]

        values = dict(clip_range=clip_range, clip_range_vf=clip_range_vf, ent_coef=self.ent_coef, vf_coef=self.vf_coef)
        values["target_kl"] = self.target_kl if self.target_kl is not None else np.inf
        scalars = {name: mx.array(value, dtype=mx.float32) for name, value in values.items()}
        active = mx.array(True)
        # Per minibatch: the statistics, and whether they count (SB3 computes minibatches up to and including the one
        # that triggers the early stop, and none after it); read once, after the last minibatch.
        steps: list[dict[str, mx.array]] = []
        epoch_start = 0
        continue_training = True

        # train for n_epochs epochs
        for epoch in range(self.n_epochs):
            stop_epoch = epoch
            epoch_start = len(steps)
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                was_active = active
                stats, active = self._train_step(rollout_data._asdict(), scalars, active)
                # Evaluating one output of the compiled step runs all of it; asynchronously, so that the host
                # prepares the next minibatch meanwhile.
                mx.async_eval(stats)
                steps.append({**stats, "counted": was_active})
            self._n_updates += 1
            if self.target_kl is not None and not active.item():
                continue_training = False
            if not continue_training:
                break

        # mx.stack accepts any sequence of arrays; its stub asks for a list.
        stats = {key: np.array(mx.stack([step[key] for step in steps])) for key in steps[0]}  # type: ignore[misc]
        counted = stats.pop("counted")
        last_epoch_kls = stats["approx_kl"][epoch_start:][counted[epoch_start:]]
        stats = {key: column[counted] for key, column in stats.items()}
        if not continue_training and self.verbose >= 1:
            print(f"Early stopping at step {stop_epoch} due to reaching max kl: {last_epoch_kls[-1]:.2f}")

        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())

        # Logs
        self.logger.record("train/entropy_loss", float(np.mean(stats["entropy_loss"])))
        self.logger.record("train/policy_gradient_loss", float(np.mean(stats["policy_gradient_loss"])))
        self.logger.record("train/value_loss", float(np.mean(stats["value_loss"])))
        self.logger.record("train/approx_kl", float(np.mean(last_epoch_kls)))
        self.logger.record("train/clip_fraction", float(np.mean(stats["clip_fraction"])))
        self.logger.record("train/loss", float(stats["loss"][-1]))
        self.logger.record("train/explained_variance", explained_var)
        if "log_std" in self.policy:
            self.logger.record("train/std", mx.exp(self.policy.log_std).mean().item())

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)

    def learn(
        self: SelfPPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "PPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfPPO:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
