from mlx_baselines3.common._openblas import preload_openblas

# Must run before anything imports mlx.core (see common/_openblas.py).
preload_openblas()

from mlx_baselines3.a2c import A2C  # noqa: E402
from mlx_baselines3.common.utils import get_system_info  # noqa: E402
from mlx_baselines3.ddpg import DDPG  # noqa: E402
from mlx_baselines3.dqn import DQN  # noqa: E402
from mlx_baselines3.her.her_replay_buffer import HerReplayBuffer  # noqa: E402
from mlx_baselines3.ppo import PPO  # noqa: E402
from mlx_baselines3.sac import SAC  # noqa: E402
from mlx_baselines3.td3 import TD3  # noqa: E402
from mlx_baselines3.version import __version__  # noqa: E402

__all__ = ["A2C", "DDPG", "DQN", "PPO", "SAC", "TD3", "HerReplayBuffer", "__version__", "get_system_info"]
