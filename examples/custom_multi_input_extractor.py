"""
SB3's "multiple inputs and Dict observations" example (docs: guide/custom_policy, ``CustomCombinedExtractor``),
translated from ``torch.nn`` to ``mlx.nn``. Each translated line carries the torch original in a comment.

It trains PPO's ``MultiInputPolicy`` on ``SimpleMultiObsEnv``, a grid world seen as ``{"vec": 5 numbers, "img": a 64x64
image}``: image keys are max-pooled and flattened, vector keys go through a 16-unit linear layer, and the results are
concatenated.

Run: ``python examples/custom_multi_input_extractor.py``.
"""

import argparse

import mlx_baselines3  # noqa: F401  first, before mlx.core: it loads OpenBLAS (docs/performance.md)

# isort: split
import gymnasium as gym
import mlx.core as mx  # torch: import torch as th
import mlx.nn as nn  # torch: from torch import nn
import numpy as np

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.envs import SimpleMultiObsEnv
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.preprocessing import is_image_space
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor


class PoolAndFlatten(nn.Module):
    """
    torch: ``nn.Sequential(nn.MaxPool2d(4), nn.Flatten())``. MLX pools channel-last images and has no Flatten layer.

    :param kernel_size: pooling window (and stride)
    """

    def __init__(self, kernel_size: int = 4):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size)

    def __call__(self, images: mx.array) -> mx.array:
        pooled = self.pool(images.transpose(0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)
        return pooled.reshape(pooled.shape[0], -1)


class CustomCombinedExtractor(BaseFeaturesExtractor):
    """
    :param observation_space: the Dict observation space (image keys channel-first, as the policy sees them)
    """

    def __init__(self, observation_space: gym.spaces.Dict):
        # We do not know features_dim here before going over all the items, so put something dummy for now.
        super().__init__(observation_space, features_dim=1)
        extractors = {}
        total_concat_size = 0
        for key, subspace in observation_space.spaces.items():
            # SB3's example tests `key == "image"`; testing the space works for any key names.
            if is_image_space(subspace):
                # Down-sample by 4 with max pooling, then flatten.
                extractors[key] = PoolAndFlatten(4)
                total_concat_size += subspace.shape[0] * (subspace.shape[1] // 4) * (subspace.shape[2] // 4)
            else:
                # Run through a simple MLP (torch: nn.Linear(subspace.shape[0], 16)).
                extractors[key] = nn.Linear(subspace.shape[0], 16)
                total_concat_size += 16
        # torch: self.extractors = nn.ModuleDict(extractors). In MLX a plain dict of modules is a module attribute.
        self.extractors = extractors
        # Update the features dim manually.
        self._features_dim = total_concat_size

    # torch: def forward(self, observations) -> th.Tensor:
    def __call__(self, observations: dict[str, mx.array]) -> mx.array:
        encoded_tensor_list = [extractor(observations[key]) for key, extractor in self.extractors.items()]
        # torch: th.cat(encoded_tensor_list, dim=1)
        return mx.concatenate(encoded_tensor_list, axis=1)


def main(argv: list[str] | None = None) -> tuple[PPO, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # The cells' vectors and images are drawn from NumPy's global generator when the env is built.
    np.random.seed(args.seed)
    env = make_vec_env(SimpleMultiObsEnv, n_envs=4, seed=args.seed)
    policy_kwargs = dict(features_extractor_class=CustomCombinedExtractor)
    model = PPO("MultiInputPolicy", env, n_steps=128, batch_size=64, policy_kwargs=policy_kwargs, seed=args.seed)
    model.learn(args.timesteps)
    mean_reward, _ = evaluate_policy(model, make_vec_env(SimpleMultiObsEnv, n_envs=1, seed=args.seed), n_eval_episodes=5)
    print(
        f"SimpleMultiObsEnv mean return after {args.timesteps} steps: {mean_reward:.2f} (best possible 0.50, -10.1 when lost)"
    )
    return model, mean_reward


if __name__ == "__main__":
    main()
