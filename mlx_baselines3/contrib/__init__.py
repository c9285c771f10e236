"""The contrib algorithms (sb3-contrib's, on MLX): ``sb3_contrib`` -> ``mlx_baselines3.contrib``.

Each algorithm is imported on its own line, in sb3_contrib's order, as it lands.
"""

from mlx_baselines3.contrib.ars import ARS
from mlx_baselines3.contrib.crossq import CrossQ
from mlx_baselines3.contrib.ppo_mask import MaskablePPO
from mlx_baselines3.contrib.ppo_recurrent import RecurrentPPO
from mlx_baselines3.contrib.qrdqn import QRDQN
from mlx_baselines3.contrib.tqc import TQC
from mlx_baselines3.contrib.trpo import TRPO
from mlx_baselines3.version import __version__

__all__ = [
    "ARS",
    "CrossQ",
    "MaskablePPO",
    "QRDQN",
    "TQC",
    "TRPO",
    "RecurrentPPO",
    "__version__",
]
