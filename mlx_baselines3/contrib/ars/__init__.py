from mlx_baselines3.contrib.ars.ars import ARS
from mlx_baselines3.contrib.ars.policies import LinearPolicy, MlpPolicy

__all__ = ["ARS", "LinearPolicy", "MlpPolicy"]
