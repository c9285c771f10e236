"""Train PPO on CartPole-v1 with 8 environments, then watch the score of the deterministic policy."""

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy

vec_env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
model = PPO("MlpPolicy", vec_env, n_steps=256, batch_size=256, n_epochs=10, gamma=0.98, gae_lambda=0.8, verbose=1, seed=0)
model.learn(total_timesteps=60_000)
model.save("ppo_cartpole")

mean_reward, std_reward = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=1), n_eval_episodes=10)
print(f"mean reward: {mean_reward:.1f} +/- {std_reward:.1f}")
