# Import the package before any test module imports mlx.core, so that OpenBLAS is preloaded (see common/_openblas.py).
import mlx_baselines3  # noqa: F401
