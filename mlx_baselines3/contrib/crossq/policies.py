"""CrossQ's policies: SAC's actor and critic with Batch Renormalization before every linear layer, and no target
critic; sb3-contrib's names (``actor.latent_pi.0.ra_mean``, ``critic.qf0.1.weight``...)."""

import itertools
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from gymnasium import spaces

from mlx_baselines3.common.distributions import SquashedDiagGaussianDistribution, StateDependentNoiseDistribution  # noqa: F401  (sb3-contrib exposes them here)
from mlx_baselines3.common.policies import (
    BaseModel,
    BasePolicy,  # noqa: F401
    _set_config,
    as_mlx_optimizer_class,
    critic_optimized_parameters,
    make_optimizer,
)
from mlx_baselines3.common.preprocessing import get_action_dim
from mlx_baselines3.common.torch_layers import (  # noqa: F401
    BaseFeaturesExtractor,
    FlattenExtractor,
    as_mlx_module_class,
    create_mlp,
    get_actor_critic_arch,
)
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule
from mlx_baselines3.contrib.common.torch_layers import BatchRenorm1d
from mlx_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, SACPolicy  # noqa: F401
from mlx_baselines3.sac.policies import Actor as SACActor


def _batch_renorm_mlp(
    input_dim: int,
    output_dim: int,
    net_arch: list[int],
    activation_fn: type[nn.Module],
    batch_norm_kwargs: dict[str, Any] | None,
) -> list[nn.Module]:
    """
    The layers of an MLP with a ``BatchRenorm1d`` before every linear layer (sb3-contrib's ``create_mlp`` with
    ``pre_linear_modules``); with ``output_dim <= 0``, no output layer and a last ``BatchRenorm1d`` after the hidden
    layers (CrossQ's actor).

    :param input_dim: input size
    :param output_dim: output size, or 0 or less for none
    :param net_arch: hidden layer sizes
    :param activation_fn: activation class
    :param batch_norm_kwargs: ``BatchRenorm1d`` keyword arguments, or None for no normalization
    :return: the layers
    """
    layers: list[nn.Module] = []
    dims = [input_dim, *net_arch]
    for in_dim, out_dim in itertools.pairwise(dims):
        if batch_norm_kwargs is not None:
            layers.append(BatchRenorm1d(in_dim, **batch_norm_kwargs))
        layers += [nn.Linear(in_dim, out_dim), activation_fn()]
    if output_dim > 0:
        if batch_norm_kwargs is not None:
            layers.append(BatchRenorm1d(dims[-1], **batch_norm_kwargs))
        layers.append(nn.Linear(dims[-1], output_dim))
    elif batch_norm_kwargs is not None and net_arch:
        layers.append(BatchRenorm1d(dims[-1], **batch_norm_kwargs))
    return layers


def _set_batch_renorm_training(module: nn.Module, mode: bool) -> None:
    # Only the BatchRenorm layers: whether they use and update the batch statistics.
    for layer in module.modules():
        if isinstance(layer, BatchRenorm1d):
            layer._set_training_mode(mode)


class Actor(SACActor):
    """
    CrossQ's actor: SAC's squashed Gaussian actor whose ``latent_pi`` has a ``BatchRenorm1d`` before each linear layer
    and after the last one.

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param net_arch: hidden layer sizes
    :param features_extractor: the features extractor
    :param features_dim: number of features
    :param activation_fn: activation class
    :param use_sde: use generalized State-Dependent Exploration
    :param log_std_init: gSDE: initial log standard deviation
    :param full_std: gSDE: one std per latent unit and action dimension
    :param use_expln: gSDE: keep the std positive with expln instead of exp
    :param clip_mean: gSDE: clip the mean into [-clip_mean, clip_mean]
    :param normalize_images: divide image observations by 255
    :param batch_norm: use Batch Renormalization
    :param batch_norm_momentum: the rate of its running averages
    :param batch_norm_eps: added to its variances
    :param renorm_warmup_steps: its training calls with plain batch statistics
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        full_std: bool = True,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        normalize_images: bool = True,
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
    ):
        super().__init__(
            observation_space,
            action_space,
            net_arch,
            features_extractor,
            features_dim,
            activation_fn=activation_fn,
            use_sde=use_sde,
            log_std_init=log_std_init,
            full_std=full_std,
            use_expln=use_expln,
            clip_mean=clip_mean,
            normalize_images=normalize_images,
        )
        batch_norm_kwargs = (
            dict(momentum=batch_norm_momentum, eps=batch_norm_eps, warmup_steps=renorm_warmup_steps) if batch_norm else None
        )
        self.latent_pi = nn.Sequential(*_batch_renorm_mlp(features_dim, -1, net_arch, self.activation_fn, batch_norm_kwargs))

    def set_bn_training_mode(self, mode: bool) -> None:
        """
        Switch the BatchRenorm layers alone (True: batch statistics, running statistics updated).

        :param mode: True for training
        """
        _set_batch_renorm_training(self, mode)


class CrossQCritic(BaseModel):
    """
    CrossQ's critic: ``n_critics`` Q-networks ``qf0``, ``qf1``... with a ``BatchRenorm1d`` before each linear layer.

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param net_arch: hidden layer sizes
    :param features_extractor: the features extractor (possibly the actor's)
    :param features_dim: number of features
    :param activation_fn: activation class
    :param normalize_images: divide image observations by 255
    :param n_critics: number of Q-networks
    :param share_features_extractor: the extractor is the actor's; it then gets no gradient from the critic loss
    :param batch_norm: use Batch Renormalization
    :param batch_norm_momentum: the rate of its running averages
    :param batch_norm_eps: added to its variances
    :param renorm_warmup_steps: its training calls with plain batch statistics
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        action_dim = get_action_dim(self.action_space)
        self.share_features_extractor = share_features_extractor
        self.n_critics = n_critics
        batch_norm_kwargs = (
            dict(momentum=batch_norm_momentum, eps=batch_norm_eps, warmup_steps=renorm_warmup_steps) if batch_norm else None
        )
        activation_fn = as_mlx_module_class(activation_fn)
        for idx in range(n_critics):
            layers = _batch_renorm_mlp(features_dim + action_dim, 1, net_arch, activation_fn, batch_norm_kwargs)
            setattr(self, f"qf{idx}", nn.Sequential(*layers))

    @property
    def q_networks(self) -> list[nn.Module]:
        """The Q-networks, in order."""
        return [getattr(self, f"qf{idx}") for idx in range(self.n_critics)]

    def __call__(self, obs: PyTorchObs, actions: mx.array) -> tuple[mx.array, ...]:
        """
        :param obs: a batch of raw observations
        :param actions: a batch of actions (scaled to [-1, 1])
        :return: the Q-values of every network, each ``(batch, 1)``
        """
        features = self.extract_features(obs, self.features_extractor)
        if self.share_features_extractor:
            features = mx.stop_gradient(features)
        qvalue_input = mx.concatenate([features, actions], axis=1)
        return tuple(q_net(qvalue_input) for q_net in self.q_networks)

    def forward(self, obs: PyTorchObs, actions: mx.array) -> tuple[mx.array, ...]:
        """sb3-contrib's name for the call: the Q-values of every network."""
        return self(obs, actions)

    def set_bn_training_mode(self, mode: bool) -> None:
        """
        Switch the BatchRenorm layers alone (True: batch statistics, running statistics updated).

        :param mode: True for training
        """
        _set_batch_renorm_training(self, mode)


class CrossQPolicy(SACPolicy):
    """
    CrossQ's policy: the actor and the critic with Batch Renormalization, each with its own optimizer (Adam with
    ``betas=(0.5, 0.999)`` by default, as sb3-contrib), and no target critic.

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param lr_schedule: the learning rate schedule (its value at progress 1 sets the optimizers' initial rate)
    :param net_arch: hidden layers (list, or ``dict(pi=[...], qf=[...])``); default ``dict(pi=[256, 256],
        qf=[1024, 1024])``
    :param activation_fn: activation class
    :param batch_norm: use Batch Renormalization
    :param batch_norm_momentum: the rate of its running averages
    :param batch_norm_eps: added to its variances
    :param renorm_warmup_steps: its training calls with plain batch statistics
    :param use_sde: use generalized State-Dependent Exploration
    :param log_std_init: gSDE: initial log standard deviation
    :param use_expln: gSDE: keep the std positive with expln instead of exp
    :param clip_mean: gSDE: clip the mean of the Gaussian into [-clip_mean, clip_mean]
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (MLX, or torch's by name)
    :param optimizer_kwargs: keyword arguments for the optimizers (torch names accepted)
    :param n_critics: number of Q-networks
    :param share_features_extractor: the critic uses the actor's features extractor
    """

    actor: Actor  # type: ignore[assignment]
    critic: CrossQCritic  # type: ignore[assignment]
    _eval_only_networks = ()

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
        use_sde: bool = False,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ):
        if optimizer_kwargs is None:
            # CrossQ's Adam momentum (the paper's b1=0.5), unless other optimizer arguments are given.
            optimizer_kwargs = {}
            if as_mlx_optimizer_class(optimizer_class) in (optim.Adam, optim.AdamW):
                optimizer_kwargs["betas"] = (0.5, 0.999)
        if net_arch is None:
            # Wider critics work better (the paper's are [2048, 2048]); sb3-contrib's default.
            net_arch = {"pi": [256, 256], "qf": [1024, 1024]}
        # Read by make_actor/make_critic, which SACPolicy's constructor calls.
        _set_config(
            self,
            batch_norm_params={
                "batch_norm": batch_norm,
                "batch_norm_momentum": batch_norm_momentum,
                "batch_norm_eps": batch_norm_eps,
                "renorm_warmup_steps": renorm_warmup_steps,
            },
        )
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            use_sde=use_sde,
            log_std_init=log_std_init,
            use_expln=use_expln,
            clip_mean=clip_mean,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            n_critics=n_critics,
            share_features_extractor=share_features_extractor,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        """
        Create the actor and the critic (no target: CrossQ bootstraps from the critic itself) and their optimizers.

        :param lr_schedule: the learning rate schedule
        """
        self.actor = self.make_actor()
        self.actor.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.actor.optimizer.init(self.actor.trainable_parameters())
        shared_extractor = self.actor.features_extractor if self.share_features_extractor else None
        self.critic = self.make_critic(features_extractor=shared_extractor)
        self.critic.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.critic.optimizer.init(critic_optimized_parameters(self.critic))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self.batch_norm_params)
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Actor:  # type: ignore[override]
        """
        :param features_extractor: an extractor to use, or None to build a new one
        :return: a new actor
        """
        return Actor(**self._update_features_extractor(self.actor_kwargs, features_extractor), **self.batch_norm_params)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> CrossQCritic:  # type: ignore[override]
        """
        :param features_extractor: an extractor to use (e.g. the actor's), or None to build a new one
        :return: a new critic
        """
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return CrossQCritic(**critic_kwargs, **self.batch_norm_params)


MlpPolicy = CrossQPolicy

__all__ = ["Actor", "CrossQCritic", "CrossQPolicy", "MlpPolicy"]
