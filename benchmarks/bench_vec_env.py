"""
Stepping overhead of the vectorized environments: DummyVecEnv and SubprocVecEnv of mlx_baselines3 against
Stable-Baselines3's, in one run, on CartPole-v1 x 8 (cheap steps: overhead dominates) and on a slow env x 8 (each
step sleeps 1 ms: SubprocVecEnv steps the envs in parallel).

    python benchmarks/bench_vec_env.py --steps 2000 --repeats 3

Each measurement builds the vec env, resets it, steps it with random actions for ``--steps`` steps and reports the
time per ``step()`` call (all 8 envs) as the median over the repeats. Libraries alternate within each repeat.
"""

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

# Benchmark the checkout this script belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_ENVS = 8


class SlowCartPole(gym.Wrapper):
    """CartPole whose every step takes at least 1 ms (a stand-in for a simulator)."""

    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action):
        time.sleep(0.001)
        return self.env.step(action)


def make_cartpole() -> gym.Env:
    return gym.make("CartPole-v1")


ENVS = {"cartpole": make_cartpole, "slow_1ms": SlowCartPole}


def time_per_step(lib: str, vec_env_name: str, env_name: str, steps: int) -> float:
    """:return: microseconds per ``step()`` of the whole vec env"""
    package = "mlx_baselines3" if lib == "mlx" else "stable_baselines3"
    vec_env_cls = getattr(importlib.import_module(f"{package}.common.vec_env"), vec_env_name)
    env_fns = [ENVS[env_name]] * N_ENVS
    vec_env = vec_env_cls(env_fns) if vec_env_name == "DummyVecEnv" else vec_env_cls(env_fns, start_method="fork")
    try:
        vec_env.seed(0)
        vec_env.reset()
        actions = np.random.default_rng(0).integers(0, 2, size=(steps, N_ENVS))
        for action in actions[:50]:
            vec_env.step(action)
        start = time.perf_counter()
        for action in actions:
            vec_env.step(action)
        return (time.perf_counter() - start) / steps * 1e6
    finally:
        vec_env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    libs = ["mlx"] + (["sb3"] if importlib.util.find_spec("stable_baselines3") else [])
    cases = [(vec, env) for env in ENVS for vec in ("DummyVecEnv", "SubprocVecEnv")]
    times: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(args.repeats):
        for vec_env_name, env_name in cases:
            for lib in libs:
                times.setdefault((vec_env_name, env_name, lib), []).append(
                    time_per_step(lib, vec_env_name, env_name, args.steps)
                )
    print(f"| env x {N_ENVS} | vec env | " + " | ".join(f"{lib} us/step" for lib in libs) + " | mlx vs sb3 |")
    print("|---|---|" + "---:|" * (len(libs) + 1))
    for vec_env_name, env_name in cases:
        medians = [statistics.median(times[(vec_env_name, env_name, lib)]) for lib in libs]
        ratio = f"{medians[1] / medians[0]:.2f}x" if len(libs) > 1 else "n/a"
        print(f"| {env_name} | {vec_env_name} | " + " | ".join(f"{m:,.0f}" for m in medians) + f" | {ratio} |")


if __name__ == "__main__":
    main()
