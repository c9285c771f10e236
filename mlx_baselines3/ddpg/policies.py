# DDPG uses TD3's policies (a deterministic actor, Q-networks and their targets).
from mlx_baselines3.td3.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
