from mlx_baselines3.contrib.qrdqn.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from mlx_baselines3.contrib.qrdqn.qrdqn import QRDQN

__all__ = ["QRDQN", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
