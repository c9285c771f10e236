from mlx_baselines3.contrib.common.vec_env.async_eval import AsyncEval

__all__ = ["AsyncEval"]
