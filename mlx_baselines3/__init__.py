from mlx_baselines3.common._openblas import preload_openblas

# Must run before anything imports mlx.core (see common/_openblas.py).
preload_openblas()

from mlx_baselines3.version import __version__  # noqa: E402

__all__ = ["__version__"]
