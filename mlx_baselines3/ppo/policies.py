# This file is here just to define MlpPolicy/CnnPolicy/MultiInputPolicy, which work for A2C and PPO.
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, MultiInputActorCriticPolicy

MlpPolicy = ActorCriticPolicy
CnnPolicy = ActorCriticCnnPolicy
MultiInputPolicy = MultiInputActorCriticPolicy
