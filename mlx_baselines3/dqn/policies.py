"""DQN's policies: a Q-network and its target network, with SB3's attribute names (``q_net``, ``q_net_target``)."""

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


class QNetwork(BasePolicy):
    """
    Action-value network: features extractor, then an MLP with one output per action, ``Q(s, ·)``.

    :param observation_space: the observation space
    :param action_space: the Discrete action space
    :param features_extractor: the features extractor
    :param features_dim: number of features
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
        self.q_net = nn.Sequential(*create_mlp(self.features_dim, int(self.action_space.n), self.net_arch, self.activation_fn))

    def __call__(self, obs: PyTorchObs) -> mx.array:
        """
        :param obs: a batch of raw observations
        :return: the Q-value of every action, ``(batch, n_actions)``
        """
        return self.q_net(self.extract_features(obs, self.features_extractor))

    def forward(self, obs: PyTorchObs) -> mx.array:
        """SB3's name for the call: the Q-values of every action."""
        return self(obs)

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> mx.array:
        # The greedy action (exploration is the algorithm's epsilon-greedy `predict`).
        return self._to_action_dtype(mx.argmax(self(observation), axis=1).reshape(-1))

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


class DQNPolicy(BasePolicy):
    """
    DQN's policy: the Q-network ``q_net``, its target ``q_net_target`` (frozen: it only changes by the algorithm's
    Polyak updates) and an optimizer over ``q_net`` alone.

    :param observation_space: the observation space
    :param action_space: the Discrete action space
    :param lr_schedule: the learning rate schedule (its value at progress 1 sets the optimizer's initial rate)
    :param net_arch: hidden layer sizes (default ``[64, 64]``, none with NatureCNN)
    :param activation_fn: activation class
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (MLX, or torch's by name)
    :param optimizer_kwargs: keyword arguments for the optimizer
    """

    q_net: QNetwork
    q_net_target: QNetwork
    _eval_only_networks = ("q_net_target",)

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
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
        _set_config(self, net_arch=net_arch)
        self.activation_fn = as_mlx_module_class(activation_fn)
        _set_config(
            self,
            net_args={
                "observation_space": self.observation_space,
                "action_space": self.action_space,
                "net_arch": self.net_arch,
                "activation_fn": self.activation_fn,
                "normalize_images": normalize_images,
            },
        )
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        """
        Create the Q-network, its target (a copy, frozen and in evaluation mode) and the optimizer.

        :param lr_schedule: the learning rate schedule
        """
        self.q_net = self.make_q_net()
        self.q_net_target = self.make_q_net()
        self.q_net_target.update(self.q_net.parameters())
        # Frozen: gradients and the optimizer only see `q_net`, as in SB3 where the optimizer covers `q_net` alone.
        self.q_net_target.freeze()
        self.q_net_target.eval()
        self.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        # The state mirrors the policy's trainable tree ({"q_net": ...}).
        self.optimizer.init(self.trainable_parameters())

    def make_q_net(self) -> QNetwork:
        """:return: a new Q-network with its own features extractor"""
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return QNetwork(**net_args)

    def __call__(self, obs: PyTorchObs, deterministic: bool = True) -> mx.array:
        """
        :param obs: a batch of raw observations
        :param deterministic: unused (the policy is greedy)
        :return: the greedy actions
        """
        return self.q_net._predict(obs, deterministic=deterministic)

    def forward(self, obs: PyTorchObs, deterministic: bool = True) -> mx.array:
        """SB3's name for the call: the greedy actions."""
        return self(obs, deterministic)

    def _predict(self, obs: PyTorchObs, deterministic: bool = True) -> mx.array:
        # Only q_net's arrays are inputs (flattened at every call): the target plays no part.
        return self._compile_inference(self.q_net._predict, self.q_net)(obs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
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


MlpPolicy = DQNPolicy


class CnnPolicy(DQNPolicy):
    """``DQNPolicy`` with the NatureCNN features extractor, for image observations."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete, lr_schedule: Schedule, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MultiInputPolicy(DQNPolicy):
    """``DQNPolicy`` with the CombinedExtractor, for Dict observations."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule: Schedule, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


__all__ = ["CnnPolicy", "DQNPolicy", "MlpPolicy", "MultiInputPolicy", "QNetwork"]
