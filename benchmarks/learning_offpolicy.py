"""
Learning checks for the off-policy algorithms, run side by side with SB3 when it is installed.

    python benchmarks/learning_offpolicy.py --task dqn_cartpole --seeds 0 1 2
    python benchmarks/learning_offpolicy.py --task her_bitflipping --n-bits 8 --libs mlx sb3 --seeds 0 1 2
    python benchmarks/learning_offpolicy.py --task sac_pendulum --seeds 0 1 2

Each run trains with the task's hyperparameters, then evaluates the deterministic policy on a separately seeded
environment: the mean reward over 10 episodes, and for goal-conditioned tasks the success rate over 50 episodes.
With ``--eval-freq N`` the policy is also evaluated (10 episodes) every N steps during training, as RL Zoo does to
keep the best model, and the best of those evaluations is reported next to the final one. It prints one line per run
and the mean per library.
"""

import argparse
import importlib
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Task:
    """A learning check: the algorithm, its environment, budget and hyperparameters."""

    algo: str
    env_id: str
    timesteps: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    policy: str = "MlpPolicy"
    n_envs: int = 1
    # Goal-conditioned: trained on BitFlippingEnv with HerReplayBuffer, evaluated by success rate.
    her: bool = False
    # Standard deviation of Gaussian exploration noise on the (scaled) actions, built with each library's noise class.
    action_noise_std: float | None = None


TASKS = {
    # RL Zoo hyperparameters (hyperparams/dqn.yml, CartPole-v1) and budget.
    "dqn_cartpole": Task(
        "DQN",
        "CartPole-v1",
        timesteps=50_000,
        kwargs=dict(
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
        ),
    ),
    # Bit flipping (Andrychowicz et al., 2017): episodes of n_bits steps, reward -1 until all bits match the goal.
    # Without HER, random exploration almost never reaches the goal for n_bits >= 8.
    "her_bitflipping": Task(
        "DQN",
        "BitFlippingEnv",
        timesteps=15_000,
        policy="MultiInputPolicy",
        her=True,
        kwargs=dict(
            replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
            learning_rate=1e-3,
            batch_size=128,
            buffer_size=100_000,
            gamma=0.95,
            train_freq=1,
            gradient_steps=1,
            target_update_interval=200,
            exploration_fraction=0.1,
            exploration_final_eps=0.02,
            policy_kwargs=dict(net_arch=[128, 128]),
        ),
    ),
    # RL Zoo hyperparameters (hyperparams/sac.yml, Pendulum-v1): SAC's defaults ([256, 256], auto entropy) and lr 1e-3.
    "sac_pendulum": Task("SAC", "Pendulum-v1", timesteps=20_000, kwargs=dict(learning_rate=1e-3)),
    # RL Zoo hyperparameters (hyperparams/td3.yml, Pendulum): 10k random steps, then one update per collected step
    # after each episode.
    "td3_pendulum": Task(
        "TD3",
        "Pendulum-v1",
        timesteps=20_000,
        action_noise_std=0.1,
        kwargs=dict(
            learning_rate=1e-3,
            gamma=0.98,
            buffer_size=200_000,
            learning_starts=10_000,
            gradient_steps=-1,
            train_freq=(1, "episode"),
            policy_kwargs=dict(net_arch=[400, 300]),
        ),
    ),
}


def _make_env(package: Any, task: Task, n_bits: int, n_envs: int, seed: int) -> Any:
    env_util = importlib.import_module(f"{package.__name__}.common.env_util")
    if task.her:
        envs = importlib.import_module(f"{package.__name__}.common.envs")
        return env_util.make_vec_env(
            envs.BitFlippingEnv, n_envs=n_envs, seed=seed, env_kwargs=dict(n_bits=n_bits, continuous=False, max_steps=n_bits)
        )
    return env_util.make_vec_env(task.env_id, n_envs=n_envs, seed=seed)


def _success_rate(model: Any, env: Any, n_episodes: int) -> float:
    successes = []
    obs = env.reset()
    while len(successes) < n_episodes:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, dones, infos = env.step(action)
        successes.extend(info.get("is_success", False) for info, done in zip(infos, dones, strict=True) if done)
    return float(np.mean(successes[:n_episodes]))


def run(
    lib: str, task_name: str, seed: int, timesteps: int | None, n_bits: int, eval_freq: int | None = None
) -> tuple[float, float | None, float, tuple[float, int] | None]:
    """
    :return: the final mean evaluation reward, the success rate (goal-conditioned tasks, else None), the training time,
        and with ``eval_freq`` the best evaluation during training and the step it was reached at
    """
    package = importlib.import_module("mlx_baselines3" if lib == "mlx" else "stable_baselines3")
    evaluation = importlib.import_module(f"{package.__name__}.common.evaluation")
    callbacks = importlib.import_module(f"{package.__name__}.common.callbacks")
    task = TASKS[task_name]
    kwargs = dict(task.kwargs)
    if lib == "sb3":
        kwargs["device"] = "cpu"
    if task.her:
        kwargs["replay_buffer_class"] = package.HerReplayBuffer
        # Warm-up: a few whole episodes before sampling.
        kwargs["learning_starts"] = 20 * n_bits
    env = _make_env(package, task, n_bits, task.n_envs, seed)
    if task.action_noise_std is not None:
        noise = importlib.import_module(f"{package.__name__}.common.noise")
        n_actions = env.action_space.shape[0]
        kwargs["action_noise"] = noise.NormalActionNoise(np.zeros(n_actions), task.action_noise_std * np.ones(n_actions))
    model = getattr(package, task.algo)(task.policy, env, seed=seed, **kwargs)
    callback = None
    if eval_freq:
        # With a log path, the callback keeps every evaluation (and writes evaluations.npz there).
        callback = callbacks.EvalCallback(
            _make_env(package, task, n_bits, 1, seed + 2000),
            n_eval_episodes=10,
            eval_freq=eval_freq,
            log_path=tempfile.mkdtemp(prefix=f"{task_name}_{lib}_{seed}_"),
            verbose=0,
        )
    start = time.perf_counter()
    model.learn(timesteps or task.timesteps, callback=callback)
    elapsed = time.perf_counter() - start
    best = None
    if callback is not None and len(callback.evaluations_results) > 0:
        means = [float(np.mean(results)) for results in callback.evaluations_results]
        best_index = int(np.argmax(means))
        best = (means[best_index], int(callback.evaluations_timesteps[best_index]))
    eval_env = _make_env(package, task, n_bits, 1, seed + 1000)
    mean_reward, _ = evaluation.evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    success_rate = _success_rate(model, eval_env, 50) if task.her else None
    return float(mean_reward), success_rate, elapsed, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--libs", nargs="+", default=["mlx"], choices=["mlx", "sb3"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=None, help="override the task's budget")
    parser.add_argument("--n-bits", type=int, default=8, help="bit flipping size (goal-conditioned tasks)")
    parser.add_argument("--eval-freq", type=int, default=None, help="also evaluate every N steps during training")
    args = parser.parse_args()
    if "sb3" in args.libs:
        import torch

        torch.set_num_threads(1)
    label = f"{args.task}(n_bits={args.n_bits})" if TASKS[args.task].her else args.task
    results: dict[str, list[tuple[float, float | None]]] = {lib: [] for lib in args.libs}
    for seed in args.seeds:
        for lib in args.libs:
            mean_reward, success_rate, elapsed, best = run(lib, args.task, seed, args.timesteps, args.n_bits, args.eval_freq)
            results[lib].append((mean_reward, success_rate))
            success = "" if success_rate is None else f", success {success_rate:.2f}"
            during = "" if best is None else f", best during training {best[0]:.1f} at {best[1]} steps"
            print(f"{label} {lib} seed={seed}: eval {mean_reward:.1f}{success}{during} ({elapsed:.0f} s)", flush=True)
    for lib, outcomes in results.items():
        rewards = [reward for reward, _ in outcomes]
        line = f"{label} {lib}: mean {np.mean(rewards):.1f} +/- {np.std(rewards):.1f} over seeds {args.seeds}: {rewards}"
        if TASKS[args.task].her:
            line += f"; success rates {[rate for _, rate in outcomes]}"
        print(line)


if __name__ == "__main__":
    main()
