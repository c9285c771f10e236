"""
Probability distributions over actions, written with MLX array maths.

Each distribution follows SB3's protocol: ``proba_distribution_net`` builds the layer(s) that output its
parameters, ``proba_distribution(...)`` returns a distribution holding those parameters, and ``log_prob``,
``entropy``, ``sample``, ``mode`` work on batches. Everything is traceable by ``mx.compile``; sampling draws
from MLX's global generator (compiled functions must capture ``mx.random.state``).
"""

import copy
import math
from abc import ABC, abstractmethod
from typing import Any, TypeVar

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.preprocessing import get_action_dim

SelfDistribution = TypeVar("SelfDistribution", bound="Distribution")
SelfDiagGaussianDistribution = TypeVar("SelfDiagGaussianDistribution", bound="DiagGaussianDistribution")
SelfSquashedDiagGaussianDistribution = TypeVar(
    "SelfSquashedDiagGaussianDistribution", bound="SquashedDiagGaussianDistribution"
)
SelfCategoricalDistribution = TypeVar("SelfCategoricalDistribution", bound="CategoricalDistribution")
SelfMultiCategoricalDistribution = TypeVar("SelfMultiCategoricalDistribution", bound="MultiCategoricalDistribution")
SelfBernoulliDistribution = TypeVar("SelfBernoulliDistribution", bound="BernoulliDistribution")
SelfStateDependentNoiseDistribution = TypeVar("SelfStateDependentNoiseDistribution", bound="StateDependentNoiseDistribution")

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class Distribution(ABC):
    """Base class of the action distributions."""

    def __init__(self):
        super().__init__()
        self.distribution: Any = None

    @abstractmethod
    def proba_distribution_net(self, *args, **kwargs) -> "nn.Module | tuple[nn.Module, mx.array]":
        """
        Build the layer(s) mapping a latent vector to the distribution's parameters.

        :return: the layer, and for Gaussians the initial ``log_std`` parameter
        """

    @abstractmethod
    def proba_distribution(self: SelfDistribution, *args, **kwargs) -> SelfDistribution:
        """
        A distribution holding the given parameters (a copy of this one: SB3 returns ``self``, but sharing state
        between compiled traces and eager code would leak placeholder arrays).

        :return: the distribution
        """

    def _with(self: SelfDistribution, **params: Any) -> SelfDistribution:
        dist = copy.copy(self)
        dist.__dict__.update(params)
        return dist

    @abstractmethod
    def log_prob(self, x: mx.array) -> mx.array:
        """
        :param x: a batch of actions
        :return: their log-likelihood, one value per batch row
        """

    @abstractmethod
    def entropy(self) -> mx.array | None:
        """
        :return: the entropy per batch row, or None when it has no closed form
        """

    @abstractmethod
    def sample(self) -> mx.array:
        """
        :return: a batch of actions drawn from the distribution
        """

    @abstractmethod
    def mode(self) -> mx.array:
        """
        :return: the most likely actions
        """

    def get_actions(self, deterministic: bool = False) -> mx.array:
        """
        :param deterministic: return the mode instead of a sample
        :return: a batch of actions
        """
        return self.mode() if deterministic else self.sample()

    @abstractmethod
    def actions_from_params(self, *args, **kwargs) -> mx.array:
        """
        Build the distribution from its parameters and return actions.

        :return: a batch of actions
        """

    @abstractmethod
    def log_prob_from_params(self, *args, **kwargs) -> tuple[mx.array, mx.array]:
        """
        Build the distribution from its parameters and return actions with their log-likelihood.

        :return: actions and log-probabilities
        """


def sum_independent_dims(tensor: mx.array) -> mx.array:
    """
    Sum log-probabilities (or entropies) of independent action dimensions: ``(batch, n)`` becomes ``(batch,)``.

    :param tensor: the per-dimension values
    :return: the summed values
    """
    return tensor.sum(axis=1) if tensor.ndim > 1 else tensor.sum()


def _normal_log_prob(x: mx.array, mean: mx.array, log_std: mx.array) -> mx.array:
    return -0.5 * mx.square((x - mean) / mx.exp(log_std)) - log_std - _LOG_SQRT_2PI


class DiagGaussianDistribution(Distribution):
    """
    Gaussian with a diagonal covariance; the log standard deviation is a state-independent parameter.

    :param action_dim: dimension of the action space
    """

    def __init__(self, action_dim: int):
        super().__init__()
        self.action_dim = action_dim
        self.mean_actions: mx.array | None = None
        self.log_std: mx.array | None = None

    def proba_distribution_net(self, latent_dim: int, log_std_init: float = 0.0) -> tuple[nn.Module, mx.array]:
        """
        :param latent_dim: size of the policy latent vector
        :param log_std_init: initial log standard deviation
        :return: the mean layer and the initial ``log_std`` parameter
        """
        return nn.Linear(latent_dim, self.action_dim), mx.full((self.action_dim,), log_std_init)

    def proba_distribution(
        self: SelfDiagGaussianDistribution, mean_actions: mx.array, log_std: mx.array
    ) -> SelfDiagGaussianDistribution:
        """
        :param mean_actions: batch of means
        :param log_std: log standard deviation (broadcast over the batch)
        :return: the distribution
        """
        return self._with(mean_actions=mean_actions, log_std=mx.broadcast_to(log_std, mean_actions.shape))

    @property
    def stddev(self) -> mx.array:
        return mx.exp(self.log_std)

    def log_prob(self, actions: mx.array) -> mx.array:
        return sum_independent_dims(_normal_log_prob(actions, self.mean_actions, self.log_std))

    def entropy(self) -> mx.array:
        return sum_independent_dims(0.5 + _LOG_SQRT_2PI + self.log_std)

    def sample(self) -> mx.array:
        return self.mean_actions + self.stddev * mx.random.normal(self.mean_actions.shape)

    def mode(self) -> mx.array:
        return self.mean_actions

    def actions_from_params(self, mean_actions: mx.array, log_std: mx.array, deterministic: bool = False) -> mx.array:
        return self.proba_distribution(mean_actions, log_std).get_actions(deterministic=deterministic)

    def log_prob_from_params(self, mean_actions: mx.array, log_std: mx.array) -> tuple[mx.array, mx.array]:
        dist = self.proba_distribution(mean_actions, log_std)
        actions = dist.sample()
        return actions, dist.log_prob(actions)


class TanhBijector:
    """
    The tanh squashing used to keep Gaussian actions in [-1, 1], with the log-det-Jacobian correction.

    :param epsilon: small value that keeps the logarithm finite at the bounds
    """

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = epsilon

    @staticmethod
    def forward(x: mx.array) -> mx.array:
        return mx.tanh(x)

    @staticmethod
    def atanh(x: mx.array) -> mx.array:
        """
        Inverse of tanh: ``0.5 * log((1 + x) / (1 - x))``.

        :param x: values in (-1, 1)
        :return: their inverse tanh
        """
        return 0.5 * (mx.log1p(x) - mx.log1p(-x))

    @staticmethod
    def inverse(y: mx.array) -> mx.array:
        """
        Inverse tanh with the input clipped just inside (-1, 1) so that the bounds stay finite.

        :param y: squashed values
        :return: pre-squash values
        """
        eps = float(np.finfo(np.float32).eps)
        return TanhBijector.atanh(mx.clip(y, -1.0 + eps, 1.0 - eps))

    def log_prob_correction(self, x: mx.array) -> mx.array:
        """
        :param x: pre-squash values
        :return: ``log(1 - tanh(x)^2)``, the log-det-Jacobian of the squashing
        """
        return mx.log(1.0 - mx.square(mx.tanh(x)) + self.epsilon)


class SquashedDiagGaussianDistribution(DiagGaussianDistribution):
    """
    Diagonal Gaussian followed by tanh, so that actions lie in [-1, 1] (SAC's policy).

    :param action_dim: dimension of the action space
    :param epsilon: small value that keeps the log-probability finite at the bounds
    """

    def __init__(self, action_dim: int, epsilon: float = 1e-6):
        super().__init__(action_dim)
        self.epsilon = epsilon
        self.gaussian_actions: mx.array | None = None

    def proba_distribution(
        self: SelfSquashedDiagGaussianDistribution, mean_actions: mx.array, log_std: mx.array
    ) -> SelfSquashedDiagGaussianDistribution:
        return self._with(
            mean_actions=mean_actions, log_std=mx.broadcast_to(log_std, mean_actions.shape), gaussian_actions=None
        )

    def log_prob(self, actions: mx.array, gaussian_actions: mx.array | None = None) -> mx.array:
        """
        :param actions: squashed actions
        :param gaussian_actions: the same actions before squashing, when known (more precise than inverting tanh)
        :return: log-likelihood of the squashed actions
        """
        if gaussian_actions is None:
            gaussian_actions = TanhBijector.inverse(actions)
        log_prob = super().log_prob(gaussian_actions)
        return log_prob - mx.sum(mx.log(1 - mx.square(actions) + self.epsilon), axis=1)

    def entropy(self) -> None:
        # No closed form once squashed; SAC estimates it with -log_prob.
        return None

    def sample(self) -> mx.array:
        self.gaussian_actions = super().sample()
        return mx.tanh(self.gaussian_actions)

    def mode(self) -> mx.array:
        self.gaussian_actions = super().mode()
        return mx.tanh(self.gaussian_actions)

    def log_prob_from_params(self, mean_actions: mx.array, log_std: mx.array) -> tuple[mx.array, mx.array]:
        dist = self.proba_distribution(mean_actions, log_std)
        actions = dist.sample()
        return actions, dist.log_prob(actions, dist.gaussian_actions)


def _categorical_entropy(log_probs: mx.array) -> mx.array:
    return -mx.sum(mx.exp(log_probs) * log_probs, axis=-1)


def _take_log_prob(log_probs: mx.array, actions: mx.array) -> mx.array:
    return mx.take_along_axis(log_probs, actions.astype(mx.int32)[..., None], axis=-1).squeeze(-1)


class CategoricalDistribution(Distribution):
    """
    Categorical distribution over ``action_dim`` discrete actions.

    :param action_dim: number of actions
    """

    def __init__(self, action_dim: int):
        super().__init__()
        self.action_dim = action_dim
        self.log_probs: mx.array | None = None

    def proba_distribution_net(self, latent_dim: int) -> nn.Module:
        """
        :param latent_dim: size of the policy latent vector
        :return: the layer producing the logits
        """
        return nn.Linear(latent_dim, self.action_dim)

    def proba_distribution(self: SelfCategoricalDistribution, action_logits: mx.array) -> SelfCategoricalDistribution:
        """
        :param action_logits: unnormalized log-probabilities, ``(batch, action_dim)``
        :return: the distribution
        """
        return self._with(log_probs=nn.log_softmax(action_logits))

    @property
    def logits(self) -> mx.array:
        return self.log_probs

    @property
    def probs(self) -> mx.array:
        return mx.exp(self.log_probs)

    def log_prob(self, actions: mx.array) -> mx.array:
        return _take_log_prob(self.log_probs, actions.reshape(self.log_probs.shape[:-1]))

    def entropy(self) -> mx.array:
        return _categorical_entropy(self.log_probs)

    # Class indices are int64, as torch's (MLX's own sampling and argmax give uint32).
    def sample(self) -> mx.array:
        return mx.random.categorical(self.log_probs, axis=-1).astype(mx.int64)

    def mode(self) -> mx.array:
        return mx.argmax(self.log_probs, axis=-1).astype(mx.int64)

    def actions_from_params(self, action_logits: mx.array, deterministic: bool = False) -> mx.array:
        return self.proba_distribution(action_logits).get_actions(deterministic=deterministic)

    def log_prob_from_params(self, action_logits: mx.array) -> tuple[mx.array, mx.array]:
        dist = self.proba_distribution(action_logits)
        actions = dist.sample()
        return actions, dist.log_prob(actions)


class MultiCategoricalDistribution(Distribution):
    """
    Independent categorical distributions, one per dimension of a MultiDiscrete space.

    :param action_dims: number of actions of each dimension
    """

    def __init__(self, action_dims: list[int]):
        super().__init__()
        self.action_dims = [int(n) for n in action_dims]
        self.log_probs: list[mx.array] = []

    def proba_distribution_net(self, latent_dim: int) -> nn.Module:
        """
        :param latent_dim: size of the policy latent vector
        :return: the layer producing all the logits, concatenated
        """
        return nn.Linear(latent_dim, sum(self.action_dims))

    def proba_distribution(
        self: SelfMultiCategoricalDistribution, action_logits: mx.array
    ) -> SelfMultiCategoricalDistribution:
        """
        :param action_logits: concatenated logits, ``(batch, sum(action_dims))``
        :return: the distribution
        """
        splits = np.cumsum(self.action_dims)[:-1].tolist()
        return self._with(log_probs=[nn.log_softmax(logits) for logits in mx.split(action_logits, splits, axis=1)])

    def log_prob(self, actions: mx.array) -> mx.array:
        actions = actions.reshape(actions.shape[0], len(self.action_dims))
        return mx.stack([_take_log_prob(lp, actions[:, i]) for i, lp in enumerate(self.log_probs)], axis=1).sum(axis=1)

    def entropy(self) -> mx.array:
        return mx.stack([_categorical_entropy(lp) for lp in self.log_probs], axis=1).sum(axis=1)

    def sample(self) -> mx.array:
        return mx.stack([mx.random.categorical(lp, axis=-1) for lp in self.log_probs], axis=1).astype(mx.int64)

    def mode(self) -> mx.array:
        return mx.stack([mx.argmax(lp, axis=-1) for lp in self.log_probs], axis=1).astype(mx.int64)

    def actions_from_params(self, action_logits: mx.array, deterministic: bool = False) -> mx.array:
        return self.proba_distribution(action_logits).get_actions(deterministic=deterministic)

    def log_prob_from_params(self, action_logits: mx.array) -> tuple[mx.array, mx.array]:
        dist = self.proba_distribution(action_logits)
        actions = dist.sample()
        return actions, dist.log_prob(actions)


class BernoulliDistribution(Distribution):
    """
    Independent Bernoulli distributions, one per dimension of a MultiBinary space.

    :param action_dims: number of binary actions
    """

    def __init__(self, action_dims: int):
        super().__init__()
        self.action_dims = action_dims
        self.logits: mx.array | None = None

    def proba_distribution_net(self, latent_dim: int) -> nn.Module:
        """
        :param latent_dim: size of the policy latent vector
        :return: the layer producing one logit per binary action
        """
        return nn.Linear(latent_dim, self.action_dims)

    def proba_distribution(self: SelfBernoulliDistribution, action_logits: mx.array) -> SelfBernoulliDistribution:
        """
        :param action_logits: logits of the probability of 1, ``(batch, action_dims)``
        :return: the distribution
        """
        return self._with(logits=action_logits)

    @property
    def probs(self) -> mx.array:
        return mx.sigmoid(self.logits)

    def log_prob(self, actions: mx.array) -> mx.array:
        # log p = -softplus(-l), log(1 - p) = -softplus(l): stable for large |logits|.
        log_p1 = -nn.softplus(-self.logits)
        log_p0 = -nn.softplus(self.logits)
        actions = actions.astype(self.logits.dtype)
        return sum_independent_dims(actions * log_p1 + (1 - actions) * log_p0)

    def entropy(self) -> mx.array:
        probs = self.probs
        return sum_independent_dims(probs * nn.softplus(-self.logits) + (1 - probs) * nn.softplus(self.logits))

    def sample(self) -> mx.array:
        return mx.random.bernoulli(self.probs).astype(mx.float32)

    def mode(self) -> mx.array:
        return (self.logits > 0).astype(mx.float32)

    def actions_from_params(self, action_logits: mx.array, deterministic: bool = False) -> mx.array:
        return self.proba_distribution(action_logits).get_actions(deterministic=deterministic)

    def log_prob_from_params(self, action_logits: mx.array) -> tuple[mx.array, mx.array]:
        dist = self.proba_distribution(action_logits)
        actions = dist.sample()
        return actions, dist.log_prob(actions)


class StateDependentNoiseDistribution(Distribution):
    """
    Generalized State-Dependent Exploration (gSDE, Raffin et al., 2021, https://arxiv.org/abs/2005.05719).

    The exploration noise is ``latent_sde @ W`` with ``W ~ N(0, std^2)`` a matrix drawn by ``sample_weights`` and kept
    until the next draw, so that the noise is a smooth function of the state instead of independent at every step.
    As a distribution over actions it is the Gaussian ``N(mean, latent_sde^2 @ std^2)``.

    The exploration matrices live in the dict ``exploration_state``. A policy that samples from this distribution
    inside compiled functions must hold that same dict in its module tree under a private key (for instance
    ``self._exploration_state = action_dist.exploration_state``): compiled functions then read the current
    matrices instead of the ones seen when they were traced, and the matrices stay out of ``parameters()``
    (so out of the optimizer and of saved state dicts, as in SB3).

    :param action_dim: dimension of the action space
    :param full_std: one standard deviation per (latent feature, action) pair; else one per latent feature
    :param use_expln: keep the standard deviation positive with ``expln`` (grows like ``log`` above 0) instead of ``exp``
    :param squash_output: squash the actions into [-1, 1] with a tanh
    :param learn_features: let gradients flow into ``latent_sde`` (the features the noise is computed from)
    :param epsilon: small value keeping the standard deviation and the squashing correction finite
    """

    # Set by proba_distribution() on the distribution it returns.
    mean_actions: mx.array
    scale: mx.array
    _latent_sde: mx.array

    def __init__(
        self,
        action_dim: int,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        learn_features: bool = False,
        epsilon: float = 1e-6,
    ):
        super().__init__()
        self.action_dim = action_dim
        self.latent_sde_dim: int | None = None
        self.use_expln = use_expln
        self.full_std = full_std
        self.epsilon = epsilon
        self.learn_features = learn_features
        self.bijector = TanhBijector(epsilon) if squash_output else None
        self.exploration_state: dict[str, mx.array] = {}

    @property
    def exploration_mat(self) -> mx.array:
        """The exploration matrix ``(latent_sde_dim, action_dim)`` used for a single observation."""
        return self.exploration_state["exploration_mat"]

    @property
    def exploration_matrices(self) -> mx.array:
        """One exploration matrix per environment, ``(n_envs, latent_sde_dim, action_dim)``."""
        return self.exploration_state["exploration_matrices"]

    def get_std(self, log_std: mx.array) -> mx.array:
        """
        The standard deviation of the exploration weights, always ``(latent_sde_dim, action_dim)``.

        :param log_std: the learned parameter, ``(latent_sde_dim, action_dim)`` or ``(latent_sde_dim, 1)``
            without ``full_std``
        :return: the standard deviation
        """
        if self.use_expln:
            # expln(x) = exp(x) for x <= 0 and log(1 + x) + 1 above: positive, and slow to grow (gSDE paper).
            # Each branch only sees the inputs it is used for, so that the unused one cannot produce NaN gradients.
            below_threshold = log_std <= 0
            below = mx.exp(mx.where(below_threshold, log_std, 0.0))
            above = mx.log1p(mx.where(below_threshold, 0.0, log_std) + self.epsilon) + 1.0
            std = mx.where(below_threshold, below, above)
        else:
            std = mx.exp(log_std)
        if self.full_std:
            return std
        assert self.latent_sde_dim is not None, "proba_distribution_net() must be called first"
        return mx.broadcast_to(std, (self.latent_sde_dim, self.action_dim))

    def sample_weights(self, log_std: mx.array, batch_size: int = 1) -> None:
        """
        Draw new exploration matrices: one shared matrix, and ``batch_size`` matrices for parallel environments.
        They are stored in ``exploration_state`` (drawn by reparametrization, so gradients reach ``log_std``).

        :param log_std: the learned log standard deviation of the weights
        :param batch_size: number of matrices to draw (one per environment)
        """
        std = self.get_std(log_std)
        self.exploration_state["exploration_mat"] = std * mx.random.normal(std.shape)
        self.exploration_state["exploration_matrices"] = std * mx.random.normal((batch_size, *std.shape))

    def proba_distribution_net(
        self, latent_dim: int, log_std_init: float = -2.0, latent_sde_dim: int | None = None
    ) -> tuple[nn.Module, mx.array]:
        """
        Build the mean layer and the log standard deviation of the exploration weights, and draw a first
        exploration matrix.

        :param latent_dim: size of the policy latent vector (input of the mean layer)
        :param log_std_init: initial log standard deviation
        :param latent_sde_dim: size of the features the noise is computed from (default: ``latent_dim``)
        :return: the mean layer and the initial ``log_std``, ``(latent_sde_dim, action_dim)`` with ``full_std``,
            else ``(latent_sde_dim, 1)``
        """
        mean_actions_net = nn.Linear(latent_dim, self.action_dim)
        self.latent_sde_dim = latent_dim if latent_sde_dim is None else latent_sde_dim
        log_std = mx.full((self.latent_sde_dim, self.action_dim if self.full_std else 1), log_std_init, dtype=mx.float32)
        self.sample_weights(log_std)
        return mean_actions_net, log_std

    def proba_distribution(
        self: SelfStateDependentNoiseDistribution, mean_actions: mx.array, log_std: mx.array, latent_sde: mx.array
    ) -> SelfStateDependentNoiseDistribution:
        """
        :param mean_actions: batch of means (before squashing)
        :param log_std: the learned log standard deviation of the exploration weights
        :param latent_sde: batch of the features the noise is computed from
        :return: the distribution
        """
        if not self.learn_features:
            latent_sde = mx.stop_gradient(latent_sde)
        variance = mx.square(latent_sde) @ mx.square(self.get_std(log_std))
        return self._with(mean_actions=mean_actions, scale=mx.sqrt(variance + self.epsilon), _latent_sde=latent_sde)

    @property
    def stddev(self) -> mx.array:
        """The per-action standard deviation of the Gaussian (before squashing)."""
        return self.scale

    def log_prob(self, actions: mx.array) -> mx.array:
        gaussian_actions = actions if self.bijector is None else self.bijector.inverse(actions)
        log_prob = sum_independent_dims(_normal_log_prob(gaussian_actions, self.mean_actions, mx.log(self.scale)))
        if self.bijector is not None:
            log_prob = log_prob - mx.sum(self.bijector.log_prob_correction(gaussian_actions), axis=1)
        return log_prob

    def entropy(self) -> mx.array | None:
        if self.bijector is not None:
            # No closed form once squashed; PPO then estimates it with -log_prob.
            return None
        return sum_independent_dims(0.5 + _LOG_SQRT_2PI + mx.log(self.scale))

    def sample(self) -> mx.array:
        actions = self.mean_actions + self.get_noise(self._latent_sde)
        return actions if self.bijector is None else self.bijector.forward(actions)

    def mode(self) -> mx.array:
        return self.mean_actions if self.bijector is None else self.bijector.forward(self.mean_actions)

    def get_noise(self, latent_sde: mx.array) -> mx.array:
        """
        The exploration noise for a batch: with one matrix per row when the batch has one row per environment
        (as many rows as ``exploration_matrices``, more than one), else with the shared matrix.

        :param latent_sde: batch of the features the noise is computed from
        :return: the noise, ``(batch, action_dim)``
        """
        if not self.learn_features:
            latent_sde = mx.stop_gradient(latent_sde)
        matrices = self.exploration_matrices
        if latent_sde.shape[0] == 1 or latent_sde.shape[0] != matrices.shape[0]:
            return latent_sde @ self.exploration_mat
        return (latent_sde[:, None, :] @ matrices).squeeze(1)

    def actions_from_params(
        self, mean_actions: mx.array, log_std: mx.array, latent_sde: mx.array, deterministic: bool = False
    ) -> mx.array:
        return self.proba_distribution(mean_actions, log_std, latent_sde).get_actions(deterministic=deterministic)

    def log_prob_from_params(
        self, mean_actions: mx.array, log_std: mx.array, latent_sde: mx.array
    ) -> tuple[mx.array, mx.array]:
        dist = self.proba_distribution(mean_actions, log_std, latent_sde)
        actions = dist.sample()
        return actions, dist.log_prob(actions)


def make_proba_distribution(
    action_space: spaces.Space, use_sde: bool = False, dist_kwargs: dict[str, Any] | None = None
) -> Distribution:
    """
    The distribution that fits an action space.

    :param action_space: the action space
    :param use_sde: use generalized State-Dependent Exploration (Box actions only)
    :param dist_kwargs: keyword arguments for the distribution
    :return: the distribution
    """
    dist_kwargs = dist_kwargs or {}
    if isinstance(action_space, spaces.Box):
        cls = StateDependentNoiseDistribution if use_sde else DiagGaussianDistribution
        return cls(get_action_dim(action_space), **dist_kwargs)
    if isinstance(action_space, spaces.Discrete):
        return CategoricalDistribution(int(action_space.n), **dist_kwargs)
    if isinstance(action_space, spaces.MultiDiscrete):
        return MultiCategoricalDistribution(list(action_space.nvec.reshape(-1)), **dist_kwargs)
    if isinstance(action_space, spaces.MultiBinary):
        return BernoulliDistribution(get_action_dim(action_space), **dist_kwargs)
    raise NotImplementedError(
        f"Error: probability distribution, not implemented for action space of type {type(action_space)}. "
        "Must be of type Gym Spaces: Box, Discrete, MultiDiscrete or MultiBinary."
    )


def _gaussian_log_std(dist: Distribution) -> mx.array:
    if isinstance(dist, StateDependentNoiseDistribution):
        return mx.log(dist.scale)
    assert isinstance(dist, DiagGaussianDistribution) and dist.log_std is not None
    return dist.log_std


def kl_divergence(dist_true: Distribution, dist_pred: Distribution) -> mx.array:
    """
    Closed-form KL divergence ``KL(dist_true || dist_pred)`` between two distributions of the same type.

    As in SB3, Gaussian and Bernoulli divergences are per action dimension (as torch returns them); categorical ones are
    per batch row (summed over the components for MultiDiscrete).

    :param dist_true: the reference distribution p
    :param dist_pred: the approximating distribution q
    :return: the divergence
    """
    if type(dist_true) is not type(dist_pred):
        raise UsageError(
            f"Error: input distributions should be the same type, {type(dist_true).__name__} != {type(dist_pred).__name__}"
        )
    if isinstance(dist_true, (DiagGaussianDistribution, StateDependentNoiseDistribution)):
        # Squashed Gaussians and gSDE compare their Gaussians before any squashing, as SB3 (torch's Normal) does.
        log_std_p, log_std_q = _gaussian_log_std(dist_true), _gaussian_log_std(dist_pred)
        var_ratio = mx.exp(2 * (log_std_p - log_std_q))
        mean_term = mx.square((dist_true.mean_actions - dist_pred.mean_actions) / mx.exp(log_std_q))
        return 0.5 * (var_ratio + mean_term - 1) - (log_std_p - log_std_q)
    if isinstance(dist_true, CategoricalDistribution):
        return mx.sum(mx.exp(dist_true.log_probs) * (dist_true.log_probs - dist_pred.log_probs), axis=-1)
    if isinstance(dist_true, MultiCategoricalDistribution):
        if dist_true.action_dims != dist_pred.action_dims:  # type: ignore[attr-defined]
            raise UsageError(
                f"Error: distributions must have the same input space: {dist_pred.action_dims} != {dist_true.action_dims}"  # type: ignore[attr-defined]
            )
        return mx.stack(
            [mx.sum(mx.exp(p) * (p - q), axis=-1) for p, q in zip(dist_true.log_probs, dist_pred.log_probs, strict=True)],
            axis=1,
        ).sum(axis=1)
    if isinstance(dist_true, BernoulliDistribution):
        p, q = dist_true, dist_pred
        return p.probs * (nn.softplus(-q.logits) - nn.softplus(-p.logits)) + (1 - p.probs) * (
            nn.softplus(q.logits) - nn.softplus(p.logits)
        )
    raise NotImplementedError(f"No KL divergence for {type(dist_true).__name__}")
