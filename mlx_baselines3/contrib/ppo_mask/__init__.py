from mlx_baselines3.contrib.ppo_mask.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from mlx_baselines3.contrib.ppo_mask.ppo_mask import MaskablePPO

__all__ = ["CnnPolicy", "MaskablePPO", "MlpPolicy", "MultiInputPolicy"]
