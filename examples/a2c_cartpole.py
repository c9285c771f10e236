"""Train A2C on CartPole-v1 with the RL Zoo hyperparameters (8 envs, RMSprop, 5-step rollouts)."""

from mlx_baselines3 import A2C
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy

vec_env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
model = A2C("MlpPolicy", vec_env, ent_coef=0.0, verbose=1, seed=0)
model.learn(total_timesteps=500_000, log_interval=500)
model.save("a2c_cartpole")

mean_reward, std_reward = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=1), n_eval_episodes=10)
print(f"mean reward: {mean_reward:.1f} +/- {std_reward:.1f}")
