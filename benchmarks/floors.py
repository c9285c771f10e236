"""
The physical floors of the ``bench.py`` workloads on this machine: what one environment step costs at least.

- **GEMM-bound**: every matrix product that one environment step implies (the rollout's forward pass, and the share
  of gradient steps: forward, weight gradients, input gradients), each timed on its own with MLX and OpenBLAS (CPU
  time, one thread, a chain of products per evaluation so that dispatch is amortized). Convolutions count as the
  products they lower to (``common/conv.py``). Nothing else: no activations, optimizer, environment or dispatch.
- **env-only**: stepping the workload's ``DummyVecEnv`` with fixed actions (the environment and the vec-env
  bookkeeping, no policy).

Usage::

    python benchmarks/floors.py            # prints a Markdown table (steps/s = 1 / floor)

The floors are lower bounds: a library cannot train faster than ``1 / (GEMM + env)`` steps/s on one core.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# First (without the installed startup hook, OpenBLAS must be loaded before mlx.core), hence no sorting here.
import mlx_baselines3  # noqa: I001
import mlx.core as mx
import numpy as np

from benchmarks.bench import FakeImageEnv

#: A product (M, K, N) and how many of it one environment step implies.
Gemm = tuple[int, int, int, float]


def mlp(dims: list[int], batch: int, weight: float, backward: bool) -> list[Gemm]:
    """
    :param dims: layer widths, input first
    :param batch: rows per product
    :param weight: how many times per environment step
    :param backward: include the weight gradients and the input gradients of every layer but the first
    :return: the products of a forward (and backward) pass
    """
    gemms = [(batch, dims[i], dims[i + 1], weight) for i in range(len(dims) - 1)]
    if backward:
        gemms += [(dims[i], batch, dims[i + 1], weight) for i in range(len(dims) - 1)]
        gemms += [(batch, dims[i + 1], dims[i], weight) for i in range(1, len(dims) - 1)]
    return gemms


def nature_cnn(batch: int, weight: float, backward: bool) -> list[Gemm]:
    """NatureCNN + PPO heads (6 actions, 1 value) as products: (rows per frame, K, N) of each lowered layer."""
    layers = [(400, 256, 32), (81, 512, 64), (49, 576, 64), (1, 3136, 512), (1, 512, 7)]
    gemms = [(rows * batch, k, n, weight) for rows, k, n in layers]
    if backward:
        gemms += [(k, rows * batch, n, weight) for rows, k, n in layers]
        gemms += [(rows * batch, n, k, weight) for rows, k, n in layers[1:]]
    return gemms


def ppo_like(dims_pi: list[int], dims_vf: list[int], n_envs: int, batch: int, epochs: int) -> list[Gemm]:
    return [
        *mlp(dims_pi, n_envs, 1 / n_envs, False),
        *mlp(dims_vf, n_envs, 1 / n_envs, False),
        *mlp(dims_pi, batch, epochs / batch, True),
        *mlp(dims_vf, batch, epochs / batch, True),
    ]


ACTOR, CRITIC = [3, 256, 256, 2], [4, 256, 256, 1]


def critic_input_gradient(weight: float) -> list[Gemm]:
    """The actor loss's backward pass through a critic: input gradients of every layer (down to the action)."""
    return [(256, CRITIC[i + 1], CRITIC[i], weight) for i in range(len(CRITIC) - 1)]


TD3_ACTOR = [3, 256, 256, 1]
WORKLOADS: dict[str, tuple[list[Gemm], str, int]] = {
    # PPO: rollout forward for 8 envs per vec step; 10 epochs of fwd+bwd over every sample in minibatches of 64.
    "ppo_cartpole": (ppo_like([4, 64, 64, 2], [4, 64, 64, 1], 8, 64, 10), "CartPole-v1", 8),
    # A2C: one fwd+bwd over the 5 x 8 rollout.
    "a2c_cartpole": (ppo_like([4, 64, 64, 2], [4, 64, 64, 1], 8, 40, 1), "CartPole-v1", 8),
    # DQN: greedy action per step; every 4 steps a gradient step at batch 32 (target forward + fwd/bwd).
    "dqn_cartpole": (
        [*mlp([4, 64, 64, 2], 1, 1, False), *mlp([4, 64, 64, 2], 32, 1 / 4, False), *mlp([4, 64, 64, 2], 32, 1 / 4, True)],
        "CartPole-v1",
        1,
    ),
    # SAC: action per step; per gradient step: next action + twin target critics; twin critics fwd/bwd; actor fwd/bwd
    # through the twin critics (their input gradient, for the action).
    "sac_pendulum": (
        [
            *mlp(ACTOR, 1, 1, False),
            *mlp(ACTOR, 256, 1, False),
            *mlp(CRITIC, 256, 2, False),
            *mlp(CRITIC, 256, 2, True),
            *mlp(ACTOR, 256, 1, True),
            *mlp(CRITIC, 256, 2, False),
            *critic_input_gradient(2),
        ],
        "Pendulum-v1",
        1,
    ),
    # TD3: critic update every step (target actor, twin target critics, twin critics fwd/bwd); actor update every
    # second step through the first critic.
    "td3_pendulum": (
        [
            *mlp(TD3_ACTOR, 1, 1, False),
            *mlp(TD3_ACTOR, 256, 1, False),
            *mlp(CRITIC, 256, 2, False),
            *mlp(CRITIC, 256, 2, True),
            *mlp(TD3_ACTOR, 256, 0.5, True),
            *mlp(CRITIC, 256, 0.5, False),
            *critic_input_gradient(0.5),
        ],
        "Pendulum-v1",
        1,
    ),
    # PPO images: NatureCNN forward for 8 envs per vec step; 4 epochs of fwd+bwd in minibatches of 256.
    "ppo_image": ([*nature_cnn(8, 1 / 8, False), *nature_cnn(256, 4 / 256, True)], "image", 8),
}


def gemm_seconds(m: int, k: int, n: int, chain: int = 8, repeats: int = 7) -> float:
    """:return: median CPU seconds of one (m, k) @ (k, n) float32 product, measured over a chain of ``chain``"""
    a, b = mx.random.normal((m, k)), mx.random.normal((k, n))
    mx.eval(a, b)
    samples = []
    for repeat in range(repeats + 1):
        start = time.process_time()
        mx.eval([a @ b + i for i in range(chain)])
        if repeat:
            samples.append((time.process_time() - start) / chain)
    return float(np.median(samples))


def env_seconds(env_id: str, n_envs: int, steps: int = 2000) -> float:
    """:return: CPU seconds per environment step of the workload's DummyVecEnv with fixed actions"""
    from mlx_baselines3.common.env_util import make_vec_env

    env = make_vec_env(FakeImageEnv if env_id == "image" else env_id, n_envs=n_envs, seed=0)
    env.reset()
    actions = np.array([env.action_space.sample() for _ in range(n_envs)])
    start = time.process_time()
    for _ in range(steps // n_envs):
        env.step(actions)
    return (time.process_time() - start) / (steps // n_envs * n_envs)


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.1f}; OpenBLAS: {mlx_baselines3.common._openblas.loaded_path}")
    cache: dict[tuple[int, int, int], float] = {}
    print("| workload | GFLOP per env step | GEMM time per step | GEMM GFLOP/s | env-only per step | floor steps/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (gemms, env_id, n_envs) in WORKLOADS.items():
        flops = seconds = 0.0
        for m, k, n, weight in gemms:
            if (m, k, n) not in cache:
                cache[(m, k, n)] = gemm_seconds(m, k, n)
            flops += 2 * m * k * n * weight
            seconds += cache[(m, k, n)] * weight
        env = env_seconds(env_id, n_envs, steps=400 if env_id == "image" else 4000)
        print(
            f"| {name} | {flops / 1e9:.4f} | {seconds * 1e6:,.0f} µs | {flops / seconds / 1e9:.0f} "
            f"| {env * 1e6:,.1f} µs | {1 / (seconds + env):,.0f} |"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
