"""
A custom callback: follow the training episodes, log a custom value, save the model whenever the recent mean
training reward improves, and stop after a time budget.

Run: ``python examples/custom_callback.py --timesteps 10000``.
"""

import argparse
import os
import time
from collections import deque

import numpy as np

from mlx_baselines3 import A2C
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.env_util import make_vec_env


class SaveOnBestTrainingReward(BaseCallback):
    """
    Track the rewards of finished training episodes (from the ``Monitor`` in ``infos``), log their running mean as
    ``custom/mean_episode_reward``, save the model when that mean beats its best, and stop after ``max_seconds``.

    :param save_path: where to save ``best_training_model.zip``
    :param window: number of recent episodes in the mean
    :param max_seconds: training time budget, in seconds
    :param verbose: 1 prints each new best
    """

    def __init__(self, save_path: str, window: int = 20, max_seconds: float = 120.0, verbose: int = 0):
        super().__init__(verbose)
        self.save_path = save_path
        self.recent_rewards: deque[float] = deque(maxlen=window)
        self.best_mean_reward = -np.inf
        self.max_seconds = max_seconds
        self.n_episodes = 0

    def _init_callback(self) -> None:
        os.makedirs(self.save_path, exist_ok=True)

    def _on_training_start(self) -> None:
        self.start_time = time.time()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.recent_rewards.append(info["episode"]["r"])
                self.n_episodes += 1
        if self.recent_rewards:
            mean_reward = float(np.mean(self.recent_rewards))
            self.logger.record("custom/mean_episode_reward", mean_reward)
            if len(self.recent_rewards) == self.recent_rewards.maxlen and mean_reward > self.best_mean_reward:
                self.best_mean_reward = mean_reward
                self.model.save(os.path.join(self.save_path, "best_training_model"))
                if self.verbose >= 1:
                    print(f"t={self.num_timesteps}: new best mean training reward {mean_reward:.2f}, model saved")
        return time.time() - self.start_time < self.max_seconds

    def _on_training_end(self) -> None:
        print(f"Saw {self.n_episodes} episodes in {self.n_calls} calls ({self.num_timesteps} timesteps)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timesteps", type=int, default=10_000)
    parser.add_argument("--log-dir", default="logs/custom_callback")
    args = parser.parse_args()

    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = A2C("MlpPolicy", env, seed=0, verbose=1)
    callback = SaveOnBestTrainingReward(args.log_dir, verbose=1)
    model.learn(args.timesteps, callback=callback, log_interval=100)
    print(f"Best mean training reward {callback.best_mean_reward:.2f}")


if __name__ == "__main__":
    main()
