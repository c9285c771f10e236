"""Train SAC on Pendulum-v1 with the RL Zoo hyperparameters, save it, load it back and evaluate the deterministic policy."""

import gymnasium as gym

from mlx_baselines3 import SAC
from mlx_baselines3.common.evaluation import evaluate_policy

# RL Zoo's Pendulum-v1 setting: SAC's defaults ([256, 256] networks, learned entropy coefficient) with lr 1e-3.
model = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, verbose=1, seed=0)
model.learn(total_timesteps=20_000, log_interval=10)
model.save("sac_pendulum")

model = SAC.load("sac_pendulum")
mean_reward, std_reward = evaluate_policy(model, gym.make("Pendulum-v1"), n_eval_episodes=10, deterministic=True)
print(f"mean reward: {mean_reward:.1f} +/- {std_reward:.1f}")
