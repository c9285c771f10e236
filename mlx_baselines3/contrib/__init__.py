"""The contrib algorithms (sb3-contrib's, on MLX): ``sb3_contrib`` -> ``mlx_baselines3.contrib``.

Each algorithm is imported on its own line, in sb3_contrib's order, as it lands.
"""

from mlx_baselines3.contrib.ppo_mask import MaskablePPO
from mlx_baselines3.contrib.ppo_recurrent import RecurrentPPO
from mlx_baselines3.version import __version__

__all__ = [
    "MaskablePPO",
    "RecurrentPPO",
    "__version__",
]
