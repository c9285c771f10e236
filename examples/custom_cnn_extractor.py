"""
SB3's "custom features extractor" example (docs: guide/custom_policy, ``CustomCNN``), translated line by line from
``torch.nn`` to ``mlx.nn``. Each translated line carries the torch original in a comment.

SB3 trains it on Breakout; here it trains on the small pixel task of ``ppo_image_env.py`` (name the third of a 36x36
image that holds a white square), which learns in seconds. The policy code is the same for any image env.

Run: ``python examples/custom_cnn_extractor.py``.
"""

import argparse

import mlx_baselines3  # noqa: F401  first, before mlx.core: it loads OpenBLAS (docs/performance.md)

# isort: split
import gymnasium as gym
import mlx.core as mx  # torch: import torch as th
import mlx.nn as nn  # torch: import torch.nn as nn
from ppo_image_env import SquareThirdEnv

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor


class CustomCNN(BaseFeaturesExtractor):
    """
    :param observation_space: the (channel-first) image space, as the policy sees it
    :param features_dim: number of features extracted; the number of units of the last layer
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 256):
        super().__init__(observation_space, features_dim)
        # SB3 hands extractors channel-first images (C x H x W), as torch's Conv2d wants them.
        n_input_channels = observation_space.shape[0]
        self.cnn = nn.Sequential(
            nn.Conv2d(n_input_channels, 32, kernel_size=8, stride=4, padding=0),  # torch: same arguments
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=0),
            nn.ReLU(),
            # torch: nn.Flatten() -> a reshape in __call__ (MLX has no Flatten layer).
        )
        # torch: with th.no_grad(): n_flatten = self.cnn(th.as_tensor(observation_space.sample()[None]).float()).shape[1]
        # MLX records no gradients outside mx.grad, and its convolutions read channel-last (N x H x W x C) input.
        channels_last_sample = mx.array(observation_space.sample()[None]).astype(mx.float32).transpose(0, 2, 3, 1)
        n_flatten = self.cnn(channels_last_sample).reshape(1, -1).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    # torch: def forward(self, observations: th.Tensor) -> th.Tensor:  (``forward`` works here too)
    def __call__(self, observations: mx.array) -> mx.array:
        # (N, C, H, W) -> (N, H, W, C) for MLX's Conv2d, then flatten (torch: nn.Flatten()).
        features = self.cnn(observations.transpose(0, 2, 3, 1))
        return self.linear(features.reshape(features.shape[0], -1))


def main(argv: list[str] | None = None) -> tuple[PPO, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    policy_kwargs = dict(
        features_extractor_class=CustomCNN,
        features_extractor_kwargs=dict(features_dim=128),
    )
    env = make_vec_env(SquareThirdEnv, n_envs=4, seed=args.seed)
    model = PPO(
        "CnnPolicy", env, n_steps=64, batch_size=64, n_epochs=4, gamma=0.0, policy_kwargs=policy_kwargs, seed=args.seed
    )
    model.learn(args.timesteps)
    mean_reward, _ = evaluate_policy(model, make_vec_env(SquareThirdEnv, n_envs=1, seed=args.seed + 1000), n_eval_episodes=10)
    print(f"mean return after {args.timesteps} steps: {mean_reward:.2f} (10 = always right, ~3.3 = guessing)")
    return model, mean_reward


if __name__ == "__main__":
    main()
