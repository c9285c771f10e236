import warnings
from typing import Any, ClassVar, NamedTuple, TypeVar

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from gymnasium import spaces
from mlx.utils import tree_flatten, tree_unflatten

from mlx_baselines3.common.buffers import RolloutBuffer
from mlx_baselines3.common.compiled import CompiledFunction, compile_update
from mlx_baselines3.common.distributions import kl_divergence
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from mlx_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from mlx_baselines3.common.type_aliases import (
    GymEnv,
    MaybeCallback,
    RolloutBufferSamples,  # noqa: F401  (sb3-contrib exposes it here)
    Schedule,
)
from mlx_baselines3.common.utils import explained_variance
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.contrib.common.utils import conjugate_gradient_solver, flat_grad, flatten_arrays, unflatten_vector
from mlx_baselines3.contrib.trpo.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

SelfTRPO = TypeVar("SelfTRPO", bound="TRPO")


class PolicyStepStats(NamedTuple):
    """What one trust-region step reports: the surrogate objective and KL of the accepted step (the initial objective
    and 0 when the line search failed) and whether the line search succeeded."""

    policy_objective: mx.array
    kl_divergence: mx.array
    line_search_success: mx.array


class TRPO(OnPolicyAlgorithm):
    """
    Trust Region Policy Optimization (Schulman et al., 2015, https://arxiv.org/abs/1502.05477), as sb3-contrib
    implements it: the policy step maximizes the surrogate objective under a KL constraint, with a search direction
    from conjugate gradient on Fisher-vector products (second derivatives of the KL by MLX autodiff) and a backtracking
    line search; the value function is trained separately with Adam (``n_critic_updates`` epochs of minibatches).

    The whole policy step (gradients, conjugate gradient, step size, every line-search candidate, the choice of the
    first acceptable one) is one compiled MLX function with no host synchronization; so is each critic minibatch step.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate of the value function, constant or a schedule of the remaining progress
    :param n_steps: steps per environment per update (the rollout holds ``n_steps * n_envs`` transitions, which must
        be > 1 with advantage normalization)
    :param batch_size: minibatch size of the value function updates
    :param gamma: discount factor
    :param cg_max_steps: iterations of the conjugate gradient solver for the search direction
    :param cg_damping: damping added to the Fisher-vector products (``(F + damping I) v``)
    :param line_search_shrinking_factor: step-size reduction factor of the backtracking line search
        (``theta_new = theta + alpha ** i * step``)
    :param line_search_max_iter: maximum number of line-search candidates
    :param n_critic_updates: epochs of value function updates per policy update
    :param gae_lambda: bias/variance trade-off of Generalized Advantage Estimation
    :param use_sde: use generalized State-Dependent Exploration
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param rollout_buffer_class: rollout buffer class (None: chosen from the observation space)
    :param rollout_buffer_kwargs: keyword arguments for the rollout buffer
    :param normalize_advantage: normalize the advantages
    :param target_kl: the KL divergence bound of a policy step (the trust region); typical values 0.01 to 0.05
    :param sub_sampling_factor: use every ``sub_sampling_factor``-th transition for the policy step (faster; see
        p40-42 of John Schulman's thesis, http://joschu.net/docs/thesis.pdf)
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_steps: int = 2048,
        batch_size: int = 128,
        gamma: float = 0.99,
        cg_max_steps: int = 15,
        cg_damping: float = 0.1,
        line_search_shrinking_factor: float = 0.8,
        line_search_max_iter: int = 10,
        n_critic_updates: int = 10,
        gae_lambda: float = 0.95,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        normalize_advantage: bool = True,
        target_kl: float = 0.01,
        sub_sampling_factor: int = 1,
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
            # No entropy bonus, and the value function is trained on its own.
            ent_coef=0.0,
            vf_coef=0.0,
            max_grad_norm=0.0,
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
            supported_action_spaces=(spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
        )
        self.normalize_advantage = normalize_advantage
        check_hyperparameters(self, batch_size=batch_size, target_kl=target_kl)
        if self.env is not None:
            # Advantage normalization of a single transition divides by a zero (NaN) standard deviation.
            buffer_size = self.env.num_envs * self.n_steps
            if normalize_advantage and buffer_size <= 1:
                raise UsageError(
                    "`n_steps * n_envs` must be greater than 1. "
                    f"Currently n_steps={self.n_steps} and n_envs={self.env.num_envs}"
                )
            untruncated_batches = buffer_size // batch_size
            if buffer_size % batch_size > 0:
                warnings.warn(
                    f"You have specified a mini-batch size of {batch_size},"
                    f" but because the `RolloutBuffer` is of size `n_steps * n_envs = {buffer_size}`,"
                    f" after every {untruncated_batches} untruncated mini-batches,"
                    f" there will be a truncated mini-batch of size {buffer_size % batch_size}\n"
                    f"We recommend using a `batch_size` that is a factor of `n_steps * n_envs`.\n"
                    f"Info: (n_steps={self.n_steps} and n_envs={self.env.num_envs})"
                )
        self.batch_size = batch_size
        self.cg_max_steps = cg_max_steps
        self.cg_damping = cg_damping
        self.line_search_shrinking_factor = line_search_shrinking_factor
        self.line_search_max_iter = line_search_max_iter
        self.target_kl = target_kl
        self.n_critic_updates = n_critic_updates
        self.sub_sampling_factor = sub_sampling_factor

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._policy_step = self._make_policy_step()
        self._critic_step = self._make_critic_step()

    def _actor_keys(self) -> list[str]:
        """
        The names of the parameters that the trust-region step moves: those the action distribution depends on, except
        any with "value" in their name (sb3-contrib's rule, which keeps a shared value head out). The dependence is
        read off the gradient of the log-likelihood of actions near the mode, at observations sampled from the
        observation space: parameters outside the actor's path get exact zeros.
        """
        policy = self.policy
        observations = [self.observation_space.sample() for _ in range(8)]
        obs, _ = policy.obs_to_tensor(
            {key: np.stack([o[key] for o in observations]) for key in observations[0]}
            if isinstance(self.observation_space, spaces.Dict)
            else np.stack(observations)
        )

        def log_likelihood(model: ActorCriticPolicy) -> mx.array:
            distribution = model.get_distribution(obs)
            actions = mx.stop_gradient(distribution.mode())
            if isinstance(self.action_space, spaces.Box):
                actions = actions + 0.5
            return distribution.log_prob(actions).sum()

        grads = nn.value_and_grad(policy, lambda: log_likelihood(policy))()[1]
        return [key for key, grad in tree_flatten(grads) if "value" not in key and mx.any(grad != 0).item()]

    def _make_policy_step(self):
        """
        Build the trust-region step on the actor's parameters, seen as one vector ``theta``:

        1. the surrogate objective ``mean(A * exp(log_prob - old_log_prob))`` and its gradient ``g``;
        2. the search direction ``s ~ F^-1 g`` by conjugate gradient, where ``F v`` is the gradient of
           ``grad(KL) . v`` (a Hessian-vector product of the KL to the rollout policy) plus ``cg_damping * v``;
        3. the largest step ``sqrt(2 target_kl / s.F s)`` and ``line_search_max_iter`` candidates
           ``theta + shrink ** i * step * s``: the first that improves the objective with a KL below ``target_kl`` is
           taken, else ``theta`` is kept.

        Three small functions are compiled once (objective and gradient, Fisher-vector product, objective and KL of a
        candidate) and called from an uncompiled driver that never synchronizes with the host: the solver's early stop
        and the line search's "first acceptable candidate" are array selections, which is what sb3-contrib's loops
        with ``break`` compute. (One compiled function unrolling all of it takes minutes to build on CPU.)

        :return: the step, a function of the rollout data and of ``target_kl``, ``cg_damping`` and the shrinking
            factor as arrays, returning ``PolicyStepStats``
        """
        policy = self.policy
        keys = self._actor_keys()
        self._actor_param_keys = keys
        n_line_search = self.line_search_max_iter
        cg_max_steps = self.cg_max_steps

        def actor_params() -> list[mx.array]:
            flat = dict(tree_flatten(policy.trainable_parameters()))
            return [flat[key] for key in keys]

        def set_actor(arrays: list[mx.array]) -> None:
            policy.update(tree_unflatten(list(zip(keys, arrays, strict=True))))

        def distributions(theta, obs):
            # The rollout policy (the module's current parameters: a constant for derivatives in `theta`) and the
            # policy at `theta`; the module's parameters are left as they were.
            like = actor_params()
            old_distribution = policy.get_distribution(obs)
            set_actor(unflatten_vector(theta, like))
            distribution = policy.get_distribution(obs)
            set_actor(like)
            return old_distribution, distribution

        def kl(theta, obs):
            return kl_divergence(*distributions(theta, obs)).mean()

        def objective_and_kl(theta, obs, actions, old_log_prob, advantages):
            old_distribution, distribution = distributions(theta, obs)
            ratio = mx.exp(distribution.log_prob(actions) - old_log_prob)
            return (advantages * ratio).mean(), kl_divergence(distribution, old_distribution).mean()

        def objective_and_gradient(obs, actions, old_log_prob, advantages):
            theta0 = flatten_arrays(actor_params())
            objective = objective_and_kl(theta0, obs, actions, old_log_prob, advantages)[0]
            data = (obs, actions, old_log_prob, advantages)
            gradient = flat_grad(lambda params: objective_and_kl(params[0], *data)[0], [theta0])
            return theta0, objective, gradient

        def fisher_vector_product(vector, cg_damping, obs):
            theta0 = flatten_arrays(actor_params())
            grad_kl = mx.grad(kl)
            return flat_grad(lambda params: (grad_kl(params[0], obs) * vector).sum(), [theta0]) + cg_damping * vector

        # The pieces leave the policy as they found it; its arrays are their inputs (and outputs: they are restored).
        state = [policy.state]
        compiled_gradient = CompiledFunction(objective_and_gradient, inputs=state, outputs=state)
        compiled_fvp = CompiledFunction(fisher_vector_product, inputs=state, outputs=state)
        compiled_evaluate = CompiledFunction(objective_and_kl, inputs=state, outputs=state)

        def step(obs, actions, old_log_prob, advantages, target_kl, cg_damping, shrinking_factor) -> PolicyStepStats:
            theta0, policy_objective, objective_gradient = compiled_gradient(obs, actions, old_log_prob, advantages)
            fvp = lambda vector: compiled_fvp(vector, cg_damping, obs)  # noqa: E731
            search_direction = conjugate_gradient_solver(fvp, objective_gradient, max_iter=cg_max_steps)
            max_step_size = mx.sqrt(2 * target_kl / (search_direction @ fvp(search_direction)))

            success = mx.array(False)
            new_theta, new_objective, new_kl = theta0, policy_objective, mx.array(0.0)
            coefficient = mx.array(1.0)
            for _ in range(n_line_search):
                candidate = theta0 + coefficient * max_step_size * search_direction
                objective, kl = compiled_evaluate(candidate, obs, actions, old_log_prob, advantages)
                accept = mx.logical_and(mx.logical_not(success), mx.logical_and(kl < target_kl, objective > policy_objective))
                new_theta = mx.where(accept, candidate, new_theta)
                new_objective = mx.where(accept, objective, new_objective)
                new_kl = mx.where(accept, kl, new_kl)
                success = mx.logical_or(success, accept)
                coefficient = coefficient * shrinking_factor
            set_actor(unflatten_vector(new_theta, actor_params()))
            return PolicyStepStats(new_objective, new_kl, success)

        return step

    def _make_critic_step(self):
        """
        Build the compiled value-function step: the mean squared error to the returns, its gradient with the actor's
        parameters left out (their gradient is zero: a shared features extractor is not moved by the critic, which
        would defeat the KL constraint) and the Adam step.
        """
        policy = self.policy
        optimizer = policy.optimizer
        actor_keys = set(self._actor_param_keys)

        def loss_fn(obs, returns):
            values = policy._predict_values(obs)
            return nn.losses.mse_loss(values.reshape(-1), returns)

        loss_and_grad = nn.value_and_grad(policy, loss_fn)

        def step(obs, returns):
            loss, grads = loss_and_grad(obs, returns)
            grads = tree_unflatten(
                [(key, mx.zeros_like(grad) if key in actor_keys else grad) for key, grad in tree_flatten(grads)]
            )
            optimizer.update(policy, grads)
            return loss

        return compile_update(step, [policy.state, optimizer.state])

    def train(self) -> None:
        """Update the policy (one trust-region step) and the value function with the rollout in the buffer."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)

        # The whole rollout at once (shuffled, as sb3-contrib draws it), optionally sub-sampled.
        rollout_data = next(self.rollout_buffer.get(batch_size=None))
        stride = self.sub_sampling_factor
        observations = (
            {key: value[::stride] for key, value in rollout_data.observations.items()}
            if isinstance(rollout_data.observations, dict)
            else rollout_data.observations[::stride]
        )
        scalars = [
            mx.array(value, dtype=mx.float32) for value in (self.target_kl, self.cg_damping, self.line_search_shrinking_factor)
        ]
        actions = rollout_data.actions[::stride]
        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.reshape(-1)
        advantages = rollout_data.advantages[::stride]
        if self.normalize_advantage:
            # torch's std is the unbiased one.
            advantages = (advantages - advantages.mean()) / (mx.std(advantages, ddof=1) + 1e-8)
        stats = self._policy_step(observations, actions, rollout_data.old_log_prob[::stride], advantages, *scalars)
        mx.async_eval(stats)

        value_losses = []
        for _ in range(self.n_critic_updates):
            for batch in self.rollout_buffer.get(self.batch_size):
                loss = self._critic_step(batch.observations, batch.returns)
                mx.async_eval(loss)
                value_losses.append(loss)

        self._n_updates += 1
        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())

        self.logger.record("train/policy_objective", stats.policy_objective.item())
        self.logger.record("train/value_loss", float(np.mean(np.array(mx.stack(value_losses)))))
        self.logger.record("train/kl_divergence_loss", stats.kl_divergence.item())
        self.logger.record("train/explained_variance", explained_var)
        self.logger.record("train/is_line_search_success", float(stats.line_search_success.item()))
        if "log_std" in self.policy:
            self.logger.record("train/std", mx.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")

    def learn(
        self: SelfTRPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "TRPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfTRPO:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_policy_step", "_critic_step", "_actor_param_keys"]
