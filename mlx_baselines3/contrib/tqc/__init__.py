from mlx_baselines3.contrib.tqc.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from mlx_baselines3.contrib.tqc.tqc import TQC

__all__ = ["TQC", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
