from mlx_baselines3.contrib.common.wrappers.action_masker import ActionMasker
from mlx_baselines3.contrib.common.wrappers.time_feature import TimeFeatureWrapper

__all__ = ["ActionMasker", "TimeFeatureWrapper"]
