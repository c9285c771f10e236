"""Train PPO with continuous actions on Pendulum-v1 (4 envs), save it and reload it."""

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy

vec_env = make_vec_env("Pendulum-v1", n_envs=4, seed=0)
model = PPO(
    "MlpPolicy",
    vec_env,
    n_steps=1024,
    gamma=0.9,
    gae_lambda=0.95,
    learning_rate=1e-3,
    use_sde=False,
    verbose=1,
    seed=0,
)
model.learn(total_timesteps=100_000)
model.save("ppo_pendulum")
del model

model = PPO.load("ppo_pendulum", env=vec_env)
mean_reward, std_reward = evaluate_policy(model, make_vec_env("Pendulum-v1", n_envs=1, seed=1), n_eval_episodes=10)
print(f"mean reward: {mean_reward:.1f} +/- {std_reward:.1f}")
