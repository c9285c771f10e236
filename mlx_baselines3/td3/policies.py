"""TD3's (and DDPG's) policies: a deterministic actor and Q-networks, each with a target copy, as ``mlx.nn.Module`` trees."""

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from gymnasium import spaces

from mlx_baselines3.common.policies import (
    BasePolicy,
    ContinuousCritic,
    _set_config,
    critic_optimized_parameters,
    make_optimizer,
)
from mlx_baselines3.common.preprocessing import get_action_dim
from mlx_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    as_mlx_module_class,
    create_mlp,
    get_actor_critic_arch,
)
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule


class Actor(BasePolicy):
    """
    TD3's actor: a deterministic MLP from the features to actions in [-1, 1] (tanh output).

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param net_arch: hidden layer sizes
    :param features_extractor: the features extractor
    :param features_dim: number of features
    :param activation_fn: activation class (MLX's, or torch's by name)
    :param normalize_images: divide image observations by 255
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
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=True,
        )
        _set_config(self, net_arch=net_arch)
        self.features_dim = features_dim
        self.activation_fn = as_mlx_module_class(activation_fn)
        action_dim = get_action_dim(self.action_space)
        self.mu = nn.Sequential(*create_mlp(features_dim, action_dim, net_arch, self.activation_fn, squash_output=True))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
            )
        )
        return data

    def __call__(self, obs: PyTorchObs) -> mx.array:
        """
        :param obs: a batch of raw observations
        :return: actions in [-1, 1]
        """
        return self.mu(self.extract_features(obs, self.features_extractor))

    def forward(self, obs: PyTorchObs) -> mx.array:
        """SB3's name for the call: deterministic actions in [-1, 1]."""
        return self(obs)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        # The actor is deterministic: ``deterministic`` changes nothing (exploration noise is added by the algorithm).
        return self._compile_inference(self._predict_actions)(observation)

    def _predict_actions(self, observation: PyTorchObs) -> mx.array:
        return self(observation)


class TD3Policy(BasePolicy):
    """
    TD3's policy: the actor, the critic (``n_critics`` Q-networks) and a target copy of each, with the optimizers
    ``actor.optimizer`` and ``critic.optimizer``.

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param lr_schedule: the learning rate schedule (its value at progress 1 sets the optimizers' initial rate)
    :param net_arch: hidden layers, shared by the actor and the critic (list) or ``dict(pi=[...], qf=[...])``;
        default ``[400, 300]`` (``[256, 256]`` with the NatureCNN extractor)
    :param activation_fn: activation class
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (MLX, or torch's by name)
    :param optimizer_kwargs: keyword arguments for the optimizers (torch names accepted)
    :param n_critics: number of Q-networks
    :param share_features_extractor: the critic uses the actor's features extractor (and the critic's target the
        actor's target's), which then learns from the actor's loss only
    """

    actor: Actor
    actor_target: Actor
    critic: ContinuousCritic
    critic_target: ContinuousCritic
    _eval_only_networks = ("actor_target", "critic_target")

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=True,
            normalize_images=normalize_images,
        )
        # Default network architecture, from the original paper
        if net_arch is None:
            net_arch = [256, 256] if features_extractor_class == NatureCNN else [400, 300]
        actor_arch, critic_arch = get_actor_critic_arch(net_arch)
        self.activation_fn = as_mlx_module_class(activation_fn)
        net_args = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "net_arch": actor_arch,
            "activation_fn": self.activation_fn,
            "normalize_images": normalize_images,
        }
        actor_kwargs = net_args.copy()
        critic_kwargs = net_args | {
            "n_critics": n_critics,
            "net_arch": critic_arch,
            "share_features_extractor": share_features_extractor,
        }
        _set_config(self, net_arch=net_arch, net_args=net_args, actor_kwargs=actor_kwargs, critic_kwargs=critic_kwargs)
        self.share_features_extractor = share_features_extractor
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        """
        Create the actor and the critic, their targets (copies) and their optimizers.

        :param lr_schedule: the learning rate schedule
        """
        self.actor = self.make_actor(features_extractor=None)
        self.actor_target = self.make_actor(features_extractor=None)
        self.actor_target.update(self.actor.parameters())
        self.actor.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.actor.optimizer.init(self.actor.trainable_parameters())

        if self.share_features_extractor:
            # The critic's target shares the actor's target's extractor, so the target extractor moves twice per
            # Polyak update (once with each network), as in SB3.
            self.critic = self.make_critic(features_extractor=self.actor.features_extractor)
            self.critic_target = self.make_critic(features_extractor=self.actor_target.features_extractor)
        else:
            self.critic = self.make_critic(features_extractor=None)
            self.critic_target = self.make_critic(features_extractor=None)
        self.critic_target.update(self.critic.parameters())
        # A shared extractor gets no gradient from the critic's loss: the critic's optimizer leaves it out.
        self.critic.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.critic.optimizer.init(critic_optimized_parameters(self.critic))

        # Target networks always run in evaluation mode.
        self.actor_target.eval()
        self.critic_target.eval()

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.net_args["activation_fn"],
                n_critics=self.critic_kwargs["n_critics"],
                lr_schedule=self._dummy_schedule,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
                share_features_extractor=self.share_features_extractor,
            )
        )
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Actor:
        """
        :param features_extractor: an extractor to use, or None to build a new one
        :return: a new actor
        """
        return Actor(**self._update_features_extractor(self.actor_kwargs, features_extractor))

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        """
        :param features_extractor: an extractor to use (e.g. the actor's), or None to build a new one
        :return: a new critic
        """
        return ContinuousCritic(**self._update_features_extractor(self.critic_kwargs, features_extractor))

    def __call__(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        """
        :param observation: a batch of raw observations
        :param deterministic: ignored (the actor is deterministic)
        :return: actions in [-1, 1]
        """
        return self.actor(observation)

    def forward(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        """SB3's name for the call: the actor's actions."""
        return self(observation, deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        # Compiled on the actor alone: the other networks' parameters are not inputs of inference.
        return self.actor._predict(observation, deterministic)


MlpPolicy = TD3Policy


class CnnPolicy(TD3Policy):
    """``TD3Policy`` with the NatureCNN features extractor (image observations); same parameters."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MultiInputPolicy(TD3Policy):
    """``TD3Policy`` for Dict observations, with the CombinedExtractor; same parameters."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Box, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
