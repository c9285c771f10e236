"""Train TD3 on Pendulum-v1 with the RL Zoo hyperparameters, save it, load it back and evaluate it."""

import gymnasium as gym
import numpy as np

from mlx_baselines3 import TD3
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.noise import NormalActionNoise

env = gym.make("Pendulum-v1")
n_actions = env.action_space.shape[0]
# TD3's actor is deterministic: exploration comes from Gaussian noise on the actions (in the [-1, 1] scale).
action_noise = NormalActionNoise(mean=np.zeros(n_actions), sigma=0.1 * np.ones(n_actions))
model = TD3(
    "MlpPolicy",
    env,
    learning_rate=1e-3,
    gamma=0.98,
    buffer_size=200_000,
    learning_starts=10_000,
    # After each episode, one gradient step per collected step.
    train_freq=(1, "episode"),
    gradient_steps=-1,
    action_noise=action_noise,
    policy_kwargs=dict(net_arch=[400, 300]),
    verbose=1,
    seed=0,
)
model.learn(total_timesteps=20_000, log_interval=10)
model.save("td3_pendulum")

model = TD3.load("td3_pendulum")
mean_reward, std_reward = evaluate_policy(model, gym.make("Pendulum-v1"), n_eval_episodes=10)
print(f"mean reward: {mean_reward:.1f} +/- {std_reward:.1f}")
