# A2C uses the same policies as PPO; SB3 also exposes the actor-critic classes from this module.
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, MultiInputActorCriticPolicy
from mlx_baselines3.ppo.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = [
    "ActorCriticCnnPolicy",
    "ActorCriticPolicy",
    "CnnPolicy",
    "MlpPolicy",
    "MultiInputActorCriticPolicy",
    "MultiInputPolicy",
]
