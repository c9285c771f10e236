"""
Log PPO training to TensorBoard, with extra values from a callback: a histogram of the actions taken, an image of
the rollout's observations, a matplotlib figure and the hyperparameters. Reads the events back at the end.

Needs ``pip install "mlx-baselines3[extra]"``. Run: ``python examples/tensorboard_logging.py``, then
``tensorboard --logdir logs/tensorboard``.
"""

import argparse
import glob
import os

import matplotlib.pyplot as plt
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlx_baselines3 import PPO
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.logger import Figure, HParam, Image

# Media only go to TensorBoard: the console, CSV and JSON outputs cannot show them.
TEXT_FORMATS = ("stdout", "log", "json", "csv")


class TensorBoardExtras(BaseCallback):
    """
    Record hyperparameters at the start, then after each rollout a histogram of the actions taken, the observations
    as an image (one row per step, one column per observation feature) and a figure of the rewards.
    """

    def _on_training_start(self) -> None:
        hparams = {
            "algorithm": type(self.model).__name__,
            "learning rate": self.model.learning_rate,
            "gamma": self.model.gamma,
        }
        # TensorBoard shows these metrics next to the hyperparameters; the algorithm logs them as scalars.
        metrics = {"rollout/ep_len_mean": 0.0, "train/value_loss": 0.0}
        self.logger.record("hparams", HParam(hparams, metrics), exclude=TEXT_FORMATS)

    def _on_rollout_end(self) -> None:
        actions = self.model.rollout_buffer.actions
        rewards = self.model.rollout_buffer.rewards
        self.logger.record("rollout/actions", actions.ravel(), exclude=TEXT_FORMATS)
        observations = self.model.rollout_buffer.observations.reshape(len(rewards), -1)
        # Scale each feature to [0, 1]: float images are read as intensities in that range.
        low, high = observations.min(axis=0), observations.max(axis=0)
        pixels = (observations - low) / np.maximum(high - low, 1e-8)
        self.logger.record("rollout/observations", Image(pixels, "HW"), exclude=TEXT_FORMATS)
        figure, axis = plt.subplots(figsize=(4, 2))
        axis.plot(rewards.sum(axis=1))
        axis.set_xlabel("step of the rollout")
        axis.set_ylabel("reward, all envs")
        self.logger.record("rollout/rewards_figure", Figure(figure, close=True), exclude=TEXT_FORMATS)

    def _on_step(self) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timesteps", type=int, default=4_096)
    parser.add_argument("--log-dir", default="logs/tensorboard")
    args = parser.parse_args()

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=512, seed=0, verbose=1, tensorboard_log=args.log_dir)
    model.learn(args.timesteps, callback=TensorBoardExtras(), tb_log_name="PPO_cartpole")

    run_dir = sorted(glob.glob(os.path.join(args.log_dir, "PPO_cartpole_*")), key=os.path.getmtime)[-1]
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    print(f"Events in {run_dir}:")
    for kind in ("scalars", "histograms", "images"):
        print(f"  {kind}: {sorted(tags[kind])}")
    rewards = [event.value for event in events.Scalars("rollout/ep_rew_mean")]
    print(f"rollout/ep_rew_mean went from {rewards[0]:.1f} to {rewards[-1]:.1f} over {len(rewards)} dumps")
    print(f"mean action in the last rollout: {np.mean(model.rollout_buffer.actions):.2f}")


if __name__ == "__main__":
    main()
