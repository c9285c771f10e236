"""
`make demo`: train PPO on CartPole-v1 with the RL Zoo hyperparameters, evaluate it, save it, load it back and
check that it predicts identically, and plot the learning curve.

Everything is written to ``demo_output/``.
"""

import os
import sys
import time

import numpy as np

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.results_plotter import X_TIMESTEPS, plot_results
from mlx_baselines3.common.utils import LinearSchedule

OUTPUT = "demo_output"
TOTAL_TIMESTEPS = 100_000
THRESHOLD = 475


def main() -> int:
    os.makedirs(OUTPUT, exist_ok=True)
    env = make_vec_env("CartPole-v1", n_envs=8, seed=0, monitor_dir=os.path.join(OUTPUT, "monitor"))
    # RL Zoo hyperparameters for CartPole-v1 (rl-baselines3-zoo, hyperparams/ppo.yml).
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        clip_range=LinearSchedule(0.2, 0.0, 1.0),
        seed=0,
    )
    start = time.perf_counter()
    model.learn(TOTAL_TIMESTEPS, progress_bar=True)
    elapsed = time.perf_counter() - start
    print(f"Trained {TOTAL_TIMESTEPS} steps in {elapsed:.1f} s ({TOTAL_TIMESTEPS / elapsed:.0f} steps/s)")

    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=123)
    mean_reward, std_reward = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(f"Deterministic evaluation over 10 episodes: {mean_reward:.1f} +/- {std_reward:.1f}")

    path = os.path.join(OUTPUT, "ppo_cartpole.zip")
    model.save(path)
    loaded = PPO.load(path, env=eval_env)
    observations = np.random.default_rng(0).uniform(-0.5, 0.5, size=(256, 4)).astype(np.float32)
    same = np.array_equal(
        model.predict(observations, deterministic=True)[0], loaded.predict(observations, deterministic=True)[0]
    )
    print(f"Saved {path}; the loaded model predicts {'identically' if same else 'DIFFERENTLY'} on 256 observations")

    plot_results([os.path.join(OUTPUT, "monitor")], TOTAL_TIMESTEPS, X_TIMESTEPS, "PPO CartPole-v1 (mlx-baselines3)")
    import matplotlib.pyplot as plt

    curve = os.path.join(OUTPUT, "learning_curve.png")
    plt.savefig(curve, dpi=100, bbox_inches="tight")
    print(f"Learning curve written to {curve}")

    if mean_reward < THRESHOLD or not same:
        print(f"Demo FAILED: evaluation {mean_reward:.1f} (needs >= {THRESHOLD}), identical predictions: {same}")
        return 1
    print("Demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
