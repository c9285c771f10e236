"""
Learning checks for PPO and A2C, run side by side with SB3 when it is installed.

    python benchmarks/learning_onpolicy.py --task ppo_cartpole --seeds 0 1 2
    python benchmarks/learning_onpolicy.py --task ppo_pendulum --libs mlx sb3 --seeds 0 1 2

Each run trains with the given hyperparameters, then evaluates the deterministic policy over 10 episodes on a separately
seeded environment and prints one line per run and the mean per library.
"""

import argparse
import importlib
import time

import numpy as np

TASKS = {
    # RL Zoo hyperparameters (hyperparams/ppo.yml, a2c.yml) and budgets.
    "ppo_cartpole": dict(
        algo="PPO",
        env_id="CartPole-v1",
        n_envs=8,
        timesteps=100_000,
        kwargs=dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0),
        linear=dict(learning_rate=1e-3, clip_range=0.2),
    ),
    "a2c_cartpole": dict(algo="A2C", env_id="CartPole-v1", n_envs=8, timesteps=500_000, kwargs=dict(ent_coef=0.0), linear={}),
    # The continuous-action check: 4 envs, n_steps=1024, gamma=0.9, gae_lambda=0.95, lr=1e-3, no gSDE.
    "ppo_pendulum": dict(
        algo="PPO",
        env_id="Pendulum-v1",
        n_envs=4,
        timesteps=100_000,
        kwargs=dict(n_steps=1024, gamma=0.9, gae_lambda=0.95, learning_rate=1e-3, use_sde=False),
        linear={},
    ),
}


def run(lib: str, task: str, seed: int, timesteps: int | None) -> tuple[float, float]:
    package = importlib.import_module("mlx_baselines3" if lib == "mlx" else "stable_baselines3")
    env_util = importlib.import_module(f"{package.__name__}.common.env_util")
    evaluation = importlib.import_module(f"{package.__name__}.common.evaluation")
    utils = importlib.import_module(f"{package.__name__}.common.utils")
    spec = TASKS[task]
    kwargs = dict(spec["kwargs"])
    for name, start in spec["linear"].items():
        kwargs[name] = utils.LinearSchedule(start, 0.0, 1.0)
    if lib == "sb3":
        kwargs["device"] = "cpu"
    env = env_util.make_vec_env(spec["env_id"], n_envs=spec["n_envs"], seed=seed)
    model = getattr(package, spec["algo"])("MlpPolicy", env, seed=seed, **kwargs)
    start = time.perf_counter()
    model.learn(timesteps or spec["timesteps"])
    elapsed = time.perf_counter() - start
    eval_env = env_util.make_vec_env(spec["env_id"], n_envs=1, seed=seed + 1000)
    mean_reward, _ = evaluation.evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    return float(mean_reward), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--libs", nargs="+", default=["mlx"], choices=["mlx", "sb3"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=None, help="override the task's budget")
    args = parser.parse_args()
    if "sb3" in args.libs:
        import torch

        torch.set_num_threads(1)
    results: dict[str, list[float]] = {lib: [] for lib in args.libs}
    for seed in args.seeds:
        for lib in args.libs:
            mean_reward, elapsed = run(lib, args.task, seed, args.timesteps)
            results[lib].append(mean_reward)
            print(f"{args.task} {lib} seed={seed}: eval {mean_reward:.1f} ({elapsed:.0f} s)", flush=True)
    for lib, rewards in results.items():
        print(f"{args.task} {lib}: mean {np.mean(rewards):.1f} +/- {np.std(rewards):.1f} over seeds {args.seeds}: {rewards}")


if __name__ == "__main__":
    main()
