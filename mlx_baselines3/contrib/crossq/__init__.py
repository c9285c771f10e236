from mlx_baselines3.contrib.crossq.crossq import CrossQ
from mlx_baselines3.contrib.crossq.policies import MlpPolicy

__all__ = ["CrossQ", "MlpPolicy"]
