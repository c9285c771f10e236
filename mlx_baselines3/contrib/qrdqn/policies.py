"""QR-DQN's policies: a quantile network and its target, with sb3-contrib's attribute names (``quantile_net``,
``quantile_net_target``) so that the parameters map 1:1 onto its state-dict keys."""

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from gymnasium import spaces

from mlx_baselines3.common.policies import BasePolicy, _set_config, make_optimizer
from mlx_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    as_mlx_module_class,
    create_mlp,
)
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule


class QuantileNetwork(BasePolicy):
    """
    Quantile network: features extractor, then an MLP with ``n_quantiles`` outputs per action, the quantiles of the
    return distribution of each action.

    :param observation_space: the observation space
    :param action_space: the Discrete action space
    :param features_extractor: the features extractor
    :param features_dim: number of features
    :param n_quantiles: number of quantiles
    :param net_arch: hidden layer sizes (default ``[64, 64]``)
    :param activation_fn: activation class
    :param normalize_images: divide image observations by 255
    """

    action_space: spaces.Discrete

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        n_quantiles: int = 200,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        if net_arch is None:
            net_arch = [64, 64]
        _set_config(self, net_arch=net_arch)
        self.activation_fn = as_mlx_module_class(activation_fn)
        self.features_dim = features_dim
        self.n_quantiles = n_quantiles
        n_actions = int(self.action_space.n)
        self.quantile_net = nn.Sequential(
            *create_mlp(self.features_dim, n_actions * self.n_quantiles, self.net_arch, self.activation_fn)
        )

    def __call__(self, obs: PyTorchObs) -> mx.array:
        """
        :param obs: a batch of raw observations
        :return: the quantiles of every action, ``(batch, n_quantiles, n_actions)``
        """
        quantiles = self.quantile_net(self.extract_features(obs, self.features_extractor))
        return quantiles.reshape(-1, self.n_quantiles, int(self.action_space.n))

    def forward(self, obs: PyTorchObs) -> mx.array:
        """sb3-contrib's name for the call: the quantiles of every action."""
        return self(obs)

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> mx.array:
        # Greedy on the mean of the quantiles, the Q-value (exploration is the algorithm's epsilon-greedy `predict`).
        q_values = self(observation).mean(axis=1)
        return self._to_action_dtype(mx.argmax(q_values, axis=1).reshape(-1))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                n_quantiles=self.n_quantiles,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
            )
        )
        return data


class QRDQNPolicy(BasePolicy):
    """
    QR-DQN's policy: the quantile network ``quantile_net``, its target ``quantile_net_target`` (frozen: it only changes
    by the algorithm's target updates) and an optimizer over ``quantile_net`` alone.

    :param observation_space: the observation space
    :param action_space: the Discrete action space
    :param lr_schedule: the learning rate schedule (its value at progress 1 sets the optimizer's initial rate)
    :param n_quantiles: number of quantiles
    :param net_arch: hidden layer sizes (default ``[64, 64]``, none with NatureCNN)
    :param activation_fn: activation class
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (MLX, or torch's by name)
    :param optimizer_kwargs: keyword arguments for the optimizer
    """

    quantile_net: QuantileNetwork
    quantile_net_target: QuantileNetwork

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        n_quantiles: int = 200,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            normalize_images=normalize_images,
        )
        if net_arch is None:
            net_arch = [] if features_extractor_class == NatureCNN else [64, 64]
        self.n_quantiles = n_quantiles
        _set_config(self, net_arch=net_arch)
        self.activation_fn = as_mlx_module_class(activation_fn)
        _set_config(
            self,
            net_args={
                "observation_space": self.observation_space,
                "action_space": self.action_space,
                "n_quantiles": self.n_quantiles,
                "net_arch": self.net_arch,
                "activation_fn": self.activation_fn,
                "normalize_images": normalize_images,
            },
        )
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        """
        Create the quantile network, its target (a copy, frozen and in evaluation mode) and the optimizer.

        :param lr_schedule: the learning rate schedule
        """
        self.quantile_net = self.make_quantile_net()
        self.quantile_net_target = self.make_quantile_net()
        self.quantile_net_target.update(self.quantile_net.parameters())
        # Frozen: gradients and the optimizer only see `quantile_net`, as sb3-contrib's optimizer covers it alone.
        self.quantile_net_target.freeze()
        self.quantile_net_target.set_training_mode(False)
        self.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.optimizer.init(self.trainable_parameters())

    def make_quantile_net(self) -> QuantileNetwork:
        """:return: a new quantile network with its own features extractor"""
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return QuantileNetwork(**net_args)

    def __call__(self, obs: PyTorchObs, deterministic: bool = True) -> mx.array:
        """
        :param obs: a batch of raw observations
        :param deterministic: unused (the policy is greedy)
        :return: the greedy actions
        """
        return self.quantile_net._predict(obs, deterministic=deterministic)

    def forward(self, obs: PyTorchObs, deterministic: bool = True) -> mx.array:
        """sb3-contrib's name for the call: the greedy actions."""
        return self(obs, deterministic)

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> mx.array:
        return self._compile_inference(self.quantile_net._predict)(obs, deterministic)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                n_quantiles=self.net_args["n_quantiles"],
                net_arch=self.net_args["net_arch"],
                activation_fn=self.net_args["activation_fn"],
                lr_schedule=self._dummy_schedule,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
            )
        )
        return data

    def set_training_mode(self, mode: bool) -> None:
        """
        Switch ``quantile_net`` between training and evaluation behaviour (dropout, batch normalization); the target
        network stays in evaluation mode.

        :param mode: True for training
        """
        if mode == self.training and mode == self.quantile_net.training:
            return
        self.quantile_net.train(mode)
        self._set_training_mode(mode)


MlpPolicy = QRDQNPolicy


class CnnPolicy(QRDQNPolicy):
    """``QRDQNPolicy`` with the NatureCNN features extractor, for image observations."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, lr_schedule: Schedule, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MultiInputPolicy(QRDQNPolicy):
    """``QRDQNPolicy`` with the CombinedExtractor, for Dict observations."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule: Schedule, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "QRDQNPolicy", "QuantileNetwork"]
