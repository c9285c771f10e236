from mlx_baselines3.sac.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from mlx_baselines3.sac.sac import SAC

__all__ = ["SAC", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
