from mlx_baselines3.her.goal_selection_strategy import GoalSelectionStrategy
from mlx_baselines3.her.her_replay_buffer import HerReplayBuffer

__all__ = ["GoalSelectionStrategy", "HerReplayBuffer"]
