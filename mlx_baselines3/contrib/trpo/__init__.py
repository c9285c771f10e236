from mlx_baselines3.contrib.trpo.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from mlx_baselines3.contrib.trpo.trpo import TRPO

__all__ = ["TRPO", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
