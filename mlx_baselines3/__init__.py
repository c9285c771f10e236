from mlx_baselines3.common._openblas import preload_openblas

# Must run before anything imports mlx.core (see common/_openblas.py).
preload_openblas()

from mlx_baselines3.a2c import A2C  # noqa: E402
from mlx_baselines3.common._memory import raise_cache_limit  # noqa: E402
from mlx_baselines3.common.utils import get_system_info  # noqa: E402
from mlx_baselines3.ddpg import DDPG  # noqa: E402
from mlx_baselines3.dqn import DQN  # noqa: E402
from mlx_baselines3.her.her_replay_buffer import HerReplayBuffer  # noqa: E402
from mlx_baselines3.ppo import PPO  # noqa: E402
from mlx_baselines3.sac import SAC  # noqa: E402
from mlx_baselines3.td3 import TD3  # noqa: E402
from mlx_baselines3.version import __version__  # noqa: E402

# Reuse freed buffers across training steps instead of page-faulting fresh memory (see common/_memory.py).
raise_cache_limit()

__all__ = ["A2C", "DDPG", "DQN", "PPO", "SAC", "TD3", "HerReplayBuffer", "__version__", "get_system_info"]


def HER(*args, **kwargs):
    """SB3's former ``HER`` class: HER is a replay buffer now, ``HerReplayBuffer``, given as ``replay_buffer_class``."""
    raise ImportError(
        "Since Stable Baselines 2.1.0, `HER` is now a replay buffer class `HerReplayBuffer`.\n "
        "Please check the documentation for more information: https://stable-baselines3.readthedocs.io/"
    )
