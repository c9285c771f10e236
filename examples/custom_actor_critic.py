"""
SB3's "advanced example" of a custom actor-critic network (docs: guide/custom_policy, ``CustomNetwork`` and
``CustomActorCriticPolicy``), translated from ``torch.nn`` to ``mlx.nn``. Each translated line carries the torch
original in a comment; the policy subclass is unchanged.

Run: ``python examples/custom_actor_critic.py``.
"""

import argparse
from collections.abc import Callable

import mlx_baselines3  # noqa: F401  first, before mlx.core: it loads OpenBLAS (docs/performance.md)

# isort: split
import mlx.core as mx  # torch: import torch as th
import mlx.nn as nn  # torch: from torch import nn
from gymnasium import spaces

from mlx_baselines3 import PPO
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.policies import ActorCriticPolicy


class CustomNetwork(nn.Module):
    """
    Separate policy and value networks after the features extractor.

    :param feature_dim: dimension of the features extracted with the features_extractor (e.g. features from a CNN)
    :param last_layer_dim_pi: number of units of the last layer of the policy network
    :param last_layer_dim_vf: number of units of the last layer of the value network
    """

    def __init__(self, feature_dim: int, last_layer_dim_pi: int = 64, last_layer_dim_vf: int = 64):
        super().__init__()
        # The policy reads these to size the action and value heads.
        self.latent_dim_pi = last_layer_dim_pi
        self.latent_dim_vf = last_layer_dim_vf
        self.policy_net = nn.Sequential(nn.Linear(feature_dim, last_layer_dim_pi), nn.ReLU())  # torch: same
        self.value_net = nn.Sequential(nn.Linear(feature_dim, last_layer_dim_vf), nn.ReLU())

    # torch: def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    def __call__(self, features: mx.array) -> tuple[mx.array, mx.array]:
        """:return: the latent policy and value vectors"""
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: mx.array) -> mx.array:
        return self.policy_net(features)

    def forward_critic(self, features: mx.array) -> mx.array:
        return self.value_net(features)


class CustomActorCriticPolicy(ActorCriticPolicy):
    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Callable[[float], float],
        *args,
        **kwargs,
    ):
        # Disable orthogonal initialization
        kwargs["ortho_init"] = False
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = CustomNetwork(self.features_dim)


def main(argv: list[str] | None = None) -> tuple[PPO, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model = PPO(CustomActorCriticPolicy, "CartPole-v1", seed=args.seed, verbose=0)
    model.learn(args.timesteps)
    mean_reward, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=10)
    print(f"CartPole-v1 mean return after {args.timesteps} steps: {mean_reward:.1f} (500 is the maximum)")
    return model, mean_reward


if __name__ == "__main__":
    main()
