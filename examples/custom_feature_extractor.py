"""
Custom networks through ``policy_kwargs``: a features extractor written with ``mlx.nn`` layers, separate policy and
value layer sizes, another activation and another optimizer.

The extractor is a small two-layer CNN for the pixel task of ``ppo_image_env.py`` (name the third of the image that
holds a white square). Everything else is SB3's API: ``features_extractor_class``/``features_extractor_kwargs``,
``net_arch=dict(pi=..., vf=...)``, ``activation_fn``, ``optimizer_class``/``optimizer_kwargs``.

Run: ``python examples/custom_feature_extractor.py``.
"""

import argparse

import mlx_baselines3  # noqa: F401  first, before mlx.core: it loads OpenBLAS (docs/performance.md)

# isort: split
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from gymnasium import spaces
from ppo_image_env import SquareThirdEnv

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor


class SmallCNN(BaseFeaturesExtractor):
    """
    Two convolutions and a linear layer.

    Observations arrive as SB3 hands them to extractors: channel-first (C, H, W), scaled to [0, 1] for uint8 images.
    MLX's ``nn.Conv2d`` works channel-last, so the batch is transposed first.

    :param observation_space: a channel-first image space
    :param features_dim: number of features
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 64) -> None:
        super().__init__(observation_space, features_dim)
        n_channels, height, width = observation_space.shape
        self.cnn = nn.Sequential(
            nn.Conv2d(n_channels, 16, kernel_size=5, stride=2),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, stride=2),
            nn.ReLU(),
        )
        # Size after the convolutions, computed with one forward pass on a blank image.
        n_flatten = self.cnn(mx.zeros((1, height, width, n_channels))).size
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    # MLX modules implement __call__; a `forward` method, as in extractors written for SB3, works too.
    def __call__(self, observations: mx.array) -> mx.array:
        features = self.cnn(observations.transpose(0, 2, 3, 1))
        return self.linear(features.reshape(features.shape[0], -1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    env = make_vec_env(SquareThirdEnv, n_envs=4, seed=args.seed)
    policy_kwargs = dict(
        features_extractor_class=SmallCNN,
        features_extractor_kwargs=dict(features_dim=32),
        net_arch=dict(pi=[32], vf=[64, 64]),
        activation_fn=nn.ReLU,  # torch.nn.ReLU is accepted too (mapped by name)
        optimizer_class=optim.AdamW,  # torch.optim.AdamW too
        optimizer_kwargs=dict(weight_decay=1e-4),
    )
    model = PPO(
        "CnnPolicy", env, n_steps=64, batch_size=64, n_epochs=4, gamma=0.0, learning_rate=1e-3, policy_kwargs=policy_kwargs
    )
    policy = model.policy
    print(f"extractor: {type(policy.features_extractor).__name__} with {policy.features_dim} features")
    print(f"policy layers {[layer.weight.shape for layer in policy.mlp_extractor.policy_net.layers[::2]]}")
    print(f"value layers {[layer.weight.shape for layer in policy.mlp_extractor.value_net.layers[::2]]}")
    print(f"optimizer: {type(policy.optimizer).__name__}")

    model.learn(args.timesteps)
    mean_reward, _ = evaluate_policy(model, make_vec_env(SquareThirdEnv, n_envs=1, seed=args.seed + 1000), n_eval_episodes=20)
    print(f"mean return after {args.timesteps} steps: {mean_reward:.2f} (10 = always right, ~3.3 = guessing)")


if __name__ == "__main__":
    main()
