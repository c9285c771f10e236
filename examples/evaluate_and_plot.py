"""
Train PPO on CartPole with monitored environments, evaluate it before and after training, and plot the learning
curve from the Monitor logs.

Run: ``python examples/evaluate_and_plot.py --timesteps 50000``. The curve is saved as ``<log-dir>/learning_curve.png``.
"""

import argparse
import os

import gymnasium as gym

from mlx_baselines3 import PPO
from mlx_baselines3.common import results_plotter
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.monitor import Monitor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timesteps", type=int, default=50_000)
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--log-dir", default="logs/evaluate_and_plot")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # Each training env writes <rank>.monitor.csv there: one row (return, length, time) per finished episode.
    monitor_dir = os.path.join(args.log_dir, "monitor")
    env = make_vec_env("CartPole-v1", n_envs=args.n_envs, seed=args.seed, monitor_dir=monitor_dir)
    # A separate env for evaluation, wrapped in Monitor so that the reported returns are those of the raw task.
    eval_env = Monitor(gym.make("CartPole-v1"))
    eval_env.reset(seed=args.seed + 1000)

    model = PPO("MlpPolicy", env, seed=args.seed, verbose=0)
    mean_before, std_before = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    print(f"before training: mean return {mean_before:.1f} +/- {std_before:.1f}")

    model.learn(total_timesteps=args.timesteps)
    env.close()

    returns, lengths = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, return_episode_rewards=True)
    mean_after = sum(returns) / len(returns)
    print(f"after {args.timesteps} steps: mean return {mean_after:.1f} (min {min(returns):.0f}, max {max(returns):.0f})")
    print(f"episode lengths: {lengths}")

    # Imported here so that training and evaluation work without a display; Agg renders to files only.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    results_plotter.plot_results([monitor_dir], args.timesteps, results_plotter.X_TIMESTEPS, "PPO CartPole-v1", figsize=(8, 3))
    png_path = os.path.join(args.log_dir, "learning_curve.png")
    plt.savefig(png_path)
    n_episodes = len(results_plotter.load_results(monitor_dir))
    print(f"learning curve of {n_episodes} training episodes saved to {png_path}")


if __name__ == "__main__":
    main()
