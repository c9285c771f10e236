"""ARS's policies: a deterministic MLP (or linear map) from observations to actions, with sb3-contrib's names."""

from typing import Any

import mlx.core as mx
import mlx.nn as nn
from gymnasium import spaces

from mlx_baselines3.common.policies import BasePolicy, _set_config
from mlx_baselines3.common.preprocessing import get_action_dim
from mlx_baselines3.common.torch_layers import as_mlx_module_class, create_mlp
from mlx_baselines3.common.type_aliases import PyTorchObs


class ARSPolicy(BasePolicy):
    """
    The policy searched by ARS: an MLP ``action_net`` on the flattened observation. Continuous actions are its output
    (squashed by a tanh and rescaled, or clipped to the bounds), discrete actions its argmax. It has no optimizer: ARS
    moves the parameters itself.

    :param observation_space: the observation space
    :param action_space: the action space (Box or Discrete)
    :param net_arch: hidden layer sizes (default ``[64, 64]``)
    :param activation_fn: activation class
    :param with_bias: give the layers a bias
    :param squash_output: for Box actions, squash the output with a tanh (else the actions are clipped)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        with_bias: bool = True,
        squash_output: bool = True,
    ):
        super().__init__(observation_space, action_space, squash_output=isinstance(action_space, spaces.Box) and squash_output)
        if net_arch is None:
            net_arch = [64, 64]
        _set_config(self, net_arch=net_arch)
        self.features_extractor = self.make_features_extractor()
        self.features_dim = self.features_extractor.features_dim
        self.activation_fn = as_mlx_module_class(activation_fn)
        self.with_bias = with_bias
        if isinstance(action_space, spaces.Box):
            layers = create_mlp(
                self.features_dim,
                get_action_dim(action_space),
                net_arch,
                self.activation_fn,
                with_bias=with_bias,
                squash_output=squash_output,
            )
        elif isinstance(action_space, spaces.Discrete):
            layers = create_mlp(self.features_dim, int(action_space.n), net_arch, self.activation_fn, with_bias=with_bias)
        else:
            raise NotImplementedError(f"Error: ARS policy not implemented for action space of type {type(action_space)}.")
        self.action_net = nn.Sequential(*layers)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        # As sb3-contrib: no normalize_images (ARS does not preprocess images).
        return dict(
            observation_space=self.observation_space,
            action_space=self.action_space,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
        )

    def __call__(self, obs: PyTorchObs) -> mx.array:
        """
        :param obs: a batch of raw observations
        :return: the actions (Box: the network's output; Discrete: the argmax of its scores)
        """
        output = self.action_net(self.extract_features(obs, self.features_extractor))
        if isinstance(self.action_space, spaces.Discrete):
            return mx.argmax(output, axis=1)
        return output

    def forward(self, obs: PyTorchObs) -> mx.array:
        """sb3-contrib's name for the call: the actions."""
        return self(obs)

    def _actions(self, observation: PyTorchObs) -> mx.array:
        return self._to_action_dtype(self(observation))

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> mx.array:
        # The policy is deterministic: `deterministic` changes nothing (as in sb3-contrib).
        return self._compile_inference(self._actions)(observation)


class ARSLinearPolicy(ARSPolicy):
    """
    A linear policy for ARS (the paper's): ``action_net`` is a single linear layer.

    :param observation_space: the observation space
    :param action_space: the action space (Box or Discrete)
    :param with_bias: give the layer a bias
    :param squash_output: for Box actions, squash the output with a tanh (else the actions are clipped)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        with_bias: bool = False,
        squash_output: bool = False,
    ):
        super().__init__(observation_space, action_space, net_arch=[], with_bias=with_bias, squash_output=squash_output)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return dict(
            observation_space=self.observation_space,
            action_space=self.action_space,
            with_bias=self.with_bias,
            squash_output=self.squash_output,
        )


MlpPolicy = ARSPolicy
LinearPolicy = ARSLinearPolicy

__all__ = ["ARSLinearPolicy", "ARSPolicy", "LinearPolicy", "MlpPolicy"]
