"""
Evaluate PPO on CartPole while it trains, keep the best model, save checkpoints, and stop early.

Stops as soon as the best evaluation reaches ``--reward-threshold``, or when several evaluations in a row bring no
improvement. Run: ``python examples/callbacks_eval_early_stop.py --timesteps 20000``.
"""

import argparse
import os

import gymnasium as gym
import numpy as np

from mlx_baselines3 import PPO
from mlx_baselines3.common.callbacks import (
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.monitor import Monitor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--reward-threshold", type=float, default=200.0)
    parser.add_argument("--log-dir", default="logs/eval_early_stop")
    args = parser.parse_args()

    n_envs = 4
    train_env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    eval_env = Monitor(gym.make("CartPole-v1"))
    # Frequencies count env.step() calls, each of which is n_envs timesteps.
    eval_freq = max(2_000 // n_envs, 1)
    eval_callback = EvalCallback(
        eval_env,
        callback_on_new_best=StopTrainingOnRewardThreshold(reward_threshold=args.reward_threshold, verbose=1),
        callback_after_eval=StopTrainingOnNoModelImprovement(max_no_improvement_evals=5, min_evals=3, verbose=1),
        n_eval_episodes=5,
        eval_freq=eval_freq,
        log_path=args.log_dir,
        best_model_save_path=args.log_dir,
    )
    checkpoints = CheckpointCallback(save_freq=max(5_000 // n_envs, 1), save_path=os.path.join(args.log_dir, "checkpoints"))

    model = PPO("MlpPolicy", train_env, seed=0, verbose=0)
    model.learn(args.timesteps, callback=CallbackList([eval_callback, checkpoints]))

    evaluations = np.load(os.path.join(args.log_dir, "evaluations.npz"))
    print(f"Stopped after {model.num_timesteps} timesteps; {len(evaluations['timesteps'])} evaluations:")
    for timestep, rewards in zip(evaluations["timesteps"], evaluations["results"], strict=True):
        print(f"  t={timestep:>6}  mean reward {rewards.mean():7.2f}")
    print(f"Best mean reward {eval_callback.best_mean_reward:.2f}, saved in {os.path.join(args.log_dir, 'best_model.zip')}")
    print("Checkpoints:", sorted(os.listdir(os.path.join(args.log_dir, "checkpoints"))))

    best_model = PPO.load(os.path.join(args.log_dir, "best_model.zip"))
    obs, _ = eval_env.reset(seed=1)
    action, _ = best_model.predict(obs, deterministic=True)
    print(f"The best model loads and acts: action {action} for the first observation")


if __name__ == "__main__":
    main()
