"""Train DQN on CartPole-v1 with the RL Zoo hyperparameters, save it, load it back and evaluate the greedy policy."""

import gymnasium as gym

from mlx_baselines3 import DQN
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.monitor import Monitor

model = DQN(
    "MlpPolicy",
    "CartPole-v1",
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
    verbose=1,
    seed=0,
)
model.learn(total_timesteps=50_000, log_interval=50)
model.save("dqn_cartpole")

model = DQN.load("dqn_cartpole")
mean_reward, std_reward = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=10, deterministic=True)
print(f"mean reward: {mean_reward:.1f} +/- {std_reward:.1f}")
