"""TQC's policies: SAC's squashed Gaussian actor and a critic of ``n_critics`` quantile networks, with sb3-contrib's
names (``actor``, ``critic.qf0``..., ``critic_target``) so that the parameters map 1:1 onto its state-dict keys."""

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
)
from mlx_baselines3.common.preprocessing import get_action_dim
from mlx_baselines3.common.torch_layers import (  # noqa: F401
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    as_mlx_module_class,
    create_mlp,
    get_actor_critic_arch,
)
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule
from mlx_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, Actor, SACPolicy  # noqa: F401


class Critic(BaseModel):
    """
    TQC's critic: ``n_critics`` MLPs ``qf0``, ``qf1``... each giving ``n_quantiles`` quantiles of the return
    distribution of ``(s, a)``.

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param net_arch: hidden layer sizes
    :param features_extractor: the features extractor (possibly the actor's)
    :param features_dim: number of features
    :param activation_fn: activation class
    :param normalize_images: divide image observations by 255
    :param n_quantiles: quantiles per network
    :param n_critics: number of networks
    :param share_features_extractor: the extractor is the actor's; it then gets no gradient from the critic loss
    """

    action_space: spaces.Box
    features_extractor: BaseFeaturesExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_quantiles: int = 25,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        action_dim = get_action_dim(self.action_space)
        self.share_features_extractor = share_features_extractor
        self.n_quantiles = n_quantiles
        self.n_critics = n_critics
        self.quantiles_total = n_quantiles * n_critics
        activation_fn = as_mlx_module_class(activation_fn)
        for idx in range(n_critics):
            setattr(
                self, f"qf{idx}", nn.Sequential(*create_mlp(features_dim + action_dim, n_quantiles, net_arch, activation_fn))
            )

    @property
    def q_networks(self) -> list[nn.Module]:
        """The quantile networks, in order."""
        return [getattr(self, f"qf{idx}") for idx in range(self.n_critics)]

    def __call__(self, obs: PyTorchObs, action: mx.array) -> mx.array:
        """
        :param obs: a batch of raw observations
        :param action: a batch of actions (scaled to [-1, 1])
        :return: the quantiles, ``(batch, n_critics, n_quantiles)``
        """
        features = self.extract_features(obs, self.features_extractor)
        if self.share_features_extractor:
            # The actor's loss alone trains a shared extractor.
            features = mx.stop_gradient(features)
        qvalue_input = mx.concatenate([features, action], axis=1)
        return mx.stack([qf(qvalue_input) for qf in self.q_networks], axis=1)

    def forward(self, obs: PyTorchObs, action: mx.array) -> mx.array:
        """sb3-contrib's name for the call: the quantiles of every network."""
        return self(obs, action)


class TQCPolicy(SACPolicy):
    """
    TQC's policy: SAC's actor, a quantile ``Critic`` and its target, each network with its own optimizer.

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param lr_schedule: the learning rate schedule (its value at progress 1 sets the optimizers' initial rate)
    :param net_arch: hidden layers, shared by the actor and the critic (list) or ``dict(pi=[...], qf=[...])``;
        default ``[256, 256]``
    :param activation_fn: activation class
    :param use_sde: use generalized State-Dependent Exploration
    :param log_std_init: gSDE: initial log standard deviation
    :param use_expln: gSDE: keep the std positive with expln instead of exp
    :param clip_mean: gSDE: clip the mean of the Gaussian into [-clip_mean, clip_mean]
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (MLX, or torch's by name)
    :param optimizer_kwargs: keyword arguments for the optimizers (torch names accepted)
    :param n_quantiles: quantiles per critic network
    :param n_critics: number of critic networks
    :param share_features_extractor: the critic uses the actor's features extractor
    """

    critic: Critic  # type: ignore[assignment]
    critic_target: Critic  # type: ignore[assignment]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_quantiles: int = 25,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ):
        # Read by make_critic, which SACPolicy's constructor calls.
        _set_config(self, n_quantiles=n_quantiles)
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

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(n_quantiles=self.n_quantiles)
        return data

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> Critic:  # type: ignore[override]
        """
        :param features_extractor: an extractor to use (e.g. the actor's), or None to build a new one
        :return: a new quantile critic
        """
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return Critic(**critic_kwargs, n_quantiles=self.n_quantiles)


MlpPolicy = TQCPolicy


class CnnPolicy(TQCPolicy):
    """``TQCPolicy`` with the NatureCNN features extractor (image observations); same parameters."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MultiInputPolicy(TQCPolicy):
    """``TQCPolicy`` for Dict observations, with the CombinedExtractor; same parameters."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Box, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


__all__ = ["Actor", "CnnPolicy", "Critic", "MlpPolicy", "MultiInputPolicy", "TQCPolicy"]
