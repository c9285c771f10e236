"""Networks written with torch for SB3 are refused at construction with a message that names them and the fix."""

import gymnasium as gym
import mlx.nn as nn
import pytest

from mlx_baselines3 import PPO, SAC
from mlx_baselines3.common.policies import ActorCriticPolicy, refuse_torch_objects
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor

th = pytest.importorskip("torch")


class TorchLayersExtractor(BaseFeaturesExtractor):
    # SB3's documented custom extractor, ported by changing only the import of BaseFeaturesExtractor.
    def __init__(self, observation_space: gym.Space, features_dim: int = 16):
        super().__init__(observation_space, features_dim)
        self.linear = th.nn.Sequential(th.nn.Linear(observation_space.shape[0], features_dim), th.nn.ReLU())

    def __call__(self, observations):
        return self.linear(observations)


class TorchNetwork(th.nn.Module):
    # SB3's documented custom actor-critic network.
    def __init__(self, feature_dim: int, last_layer_dim_pi: int = 8, last_layer_dim_vf: int = 8):
        super().__init__()
        self.latent_dim_pi, self.latent_dim_vf = last_layer_dim_pi, last_layer_dim_vf
        self.policy_net = th.nn.Sequential(th.nn.Linear(feature_dim, last_layer_dim_pi), th.nn.ReLU())
        self.value_net = th.nn.Sequential(th.nn.Linear(feature_dim, last_layer_dim_vf), th.nn.ReLU())


class TorchNetworkPolicy(ActorCriticPolicy):
    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = TorchNetwork(self.features_dim)


class TorchTensorExtractor(BaseFeaturesExtractor):
    def __init__(self, observation_space: gym.Space):
        super().__init__(observation_space, 4)
        self.layer = nn.Linear(observation_space.shape[0], 4)
        self.scales = [th.ones(4)]  # a torch tensor hidden in a list


def test_features_extractor_with_torch_layers():
    policy_kwargs = dict(features_extractor_class=TorchLayersExtractor)
    with pytest.raises(TypeError) as error:
        PPO("MlpPolicy", "CartPole-v1", policy_kwargs=policy_kwargs, n_steps=16, batch_size=16)
    message = str(error.value)
    assert message.startswith("The features extractor (TorchLayersExtractor).linear is a torch module ")
    assert "torch.nn.modules.container.Sequential" in message
    assert "mlx.nn" in message and "docs/guide/custom_policy.md" in message


def test_sb3_torch_extractor_class_itself():
    from stable_baselines3.common.torch_layers import FlattenExtractor as TorchFlattenExtractor

    with pytest.raises(TypeError, match=r"The features extractor \(FlattenExtractor\) is a torch module"):
        SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(features_extractor_class=TorchFlattenExtractor))


def test_mlp_extractor_with_torch_layers():
    with pytest.raises(TypeError, match=r"^policy\.mlp_extractor is a torch module \(.*TorchNetwork\)"):
        PPO(TorchNetworkPolicy, "CartPole-v1", n_steps=16, batch_size=16)


def test_tensor_hidden_in_a_list():
    with pytest.raises(TypeError, match=r"\.scales\[0\] is a torch tensor \(torch\.Tensor\)"):
        PPO(
            "MlpPolicy",
            "CartPole-v1",
            policy_kwargs=dict(features_extractor_class=TorchTensorExtractor),
            n_steps=16,
            batch_size=16,
        )


def test_parameter_and_plain_policy():
    with pytest.raises(TypeError, match=r"^x\.w is a torch parameter \(torch\.nn\.parameter\.Parameter\)"):
        refuse_torch_objects({"w": th.nn.Parameter(th.zeros(1))}, "x")
    # torch classes (not instances) are fine: policy_kwargs map them by name.
    model = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn=th.nn.ReLU), n_steps=16, batch_size=16)
    refuse_torch_objects(model.policy, "policy")
    assert model.policy.activation_fn is nn.ReLU
