"""
Microbenchmark of the convolutions: NatureCNN (84x84x4 frames) with ``mlx.nn.Conv2d``, with the matrix products of
``mlx_baselines3.common.conv`` and with torch, one thread each, in one process, alternating; on the CPU, or with
``--device gpu`` on MLX's GPU backend against torch on CUDA (which decides ``conv.MATMUL_ON`` there).

Two measurements:

- ``extractor``: forward + backward (``mx.compile``'d ``value_and_grad`` / torch autograd) of the NatureCNN features
  extractor on a batch of 256 frames, and a forward pass on a batch of 8 (one rollout step of 8 environments);
- ``ppo``: one PPO minibatch update of 256 frames (``CnnPolicy``, RL Zoo's Atari settings): the time of
  ``model.train()`` divided by its number of minibatches, mlx_baselines3 against Stable-Baselines3.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/conv_bench.py --repeats 7
    python benchmarks/conv_bench.py --device gpu --only extractor      # MLX GPU vs torch CUDA
    python benchmarks/conv_bench.py --only extractor --json conv.json

Medians of wall-clock and CPU time (all threads of the process; MLX computes on its own stream thread). On a shared
machine, read the CPU times and the ratios: the wall times move with the load.
"""

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Benchmark the checkout this script belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# First (without the installed startup hook, OpenBLAS must be loaded before mlx.core), hence no sorting here.
import mlx_baselines3.common.conv  # noqa: I001
import mlx.core as mx
import mlx.nn as nn
import numpy as np

conv2d_as_matmul = mlx_baselines3.common.conv.conv2d_as_matmul


class MatmulConv2d(nn.Conv2d):
    """``nn.Conv2d`` computed with matrix products on every device (the layer itself picks per device type)."""

    def __call__(self, x: mx.array) -> mx.array:
        bias = self.bias if "bias" in self else None
        return conv2d_as_matmul(x, self.weight, bias, self.stride, self.padding, self.dilation)


class MlxNatureCNN(nn.Module):
    """NatureCNN's layers (channels-last input) with the given convolution class."""

    def __init__(self, conv_class: type[nn.Module]) -> None:
        super().__init__()
        self.convs = [conv_class(4, 32, 8, 4), conv_class(32, 64, 4, 2), conv_class(64, 64, 3, 1)]
        self.linear = nn.Linear(3136, 512)

    def __call__(self, x: mx.array) -> mx.array:
        for conv in self.convs:
            x = nn.relu(conv(x))
        return nn.relu(self.linear(x.reshape(x.shape[0], -1)))


def timed(function: Callable[[], object]) -> tuple[float, float]:
    """:return: wall and CPU seconds of one call"""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def extractor_cases(batch: int, gpu: bool = False) -> dict[str, Callable[[], object]]:
    """:return: one zero-argument callable per (library, pass), already warmed up"""
    import torch

    if gpu:
        mx.set_default_device(mx.gpu)
    torch_device = "cuda" if gpu else "cpu"

    rng = np.random.default_rng(0)
    frames = rng.random((batch, 84, 84, 4), dtype=np.float32)
    x = mx.array(frames)
    small = mx.array(frames[:8])
    cases: dict[str, Callable[[], object]] = {}
    for name, conv_class in (("mlx nn.Conv2d", nn.Conv2d), ("mlx matrix products", MatmulConv2d)):
        model = MlxNatureCNN(conv_class)
        mx.eval(model.parameters())
        step = mx.compile(nn.value_and_grad(model, lambda x, model=model: (model(x) ** 2).mean()))
        forward = mx.compile(model)
        cases[f"{name}: forward+backward, batch {batch}"] = lambda step=step: mx.eval(step(x))
        cases[f"{name}: forward, batch 8"] = lambda forward=forward: mx.eval(forward(small))

    torch.set_num_threads(1)
    layers = torch.nn.Sequential(
        torch.nn.Conv2d(4, 32, 8, 4),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 4, 2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(64, 64, 3, 1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(3136, 512),
        torch.nn.ReLU(),
    ).to(torch_device)
    x_torch = torch.as_tensor(frames.transpose(0, 3, 1, 2).copy(), device=torch_device)
    small_torch = x_torch[:8].clone()
    synchronize = torch.cuda.synchronize if gpu else lambda: None

    def torch_step() -> None:
        layers.zero_grad()
        (layers(x_torch) ** 2).mean().backward()
        synchronize()

    def torch_forward() -> None:
        with torch.no_grad():
            layers(small_torch)
        synchronize()

    cases[f"torch: forward+backward, batch {batch}"] = torch_step
    cases["torch: forward, batch 8"] = torch_forward
    for case in cases.values():
        case()
        case()
    return cases


def ppo_cases(batch: int) -> dict[str, Callable[[], object]]:
    """:return: one ``model.train()`` per library on a full rollout buffer (1024 frames), already warmed up"""
    import torch
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

    from benchmarks.bench import WORKLOADS, FakeImageEnv
    from mlx_baselines3 import PPO
    from mlx_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    kwargs = {**WORKLOADS["ppo_image"].kwargs, "n_steps": 128, "batch_size": batch, "n_epochs": 1}
    cases = {}
    for name, algo, make in (("mlx_baselines3", PPO, make_vec_env), ("SB3", SB3PPO, sb3_make_vec_env)):
        model = algo("CnnPolicy", make(FakeImageEnv, n_envs=8, seed=0), seed=0, device="cpu", **kwargs)
        model.learn(1024)  # fills the rollout buffer (and compiles)
        model.train()
        cases[f"{name}: PPO update, {batch} frames"] = model.train
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--only", choices=["extractor", "ppo"], default=None)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu: MLX's GPU backend vs torch CUDA")
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args()

    cases: dict[str, Callable[[], object]] = {}
    if args.only in (None, "extractor"):
        cases.update(extractor_cases(args.batch, gpu=args.device == "gpu"))
    divisor = {}
    if args.only in (None, "ppo") and args.device == "cpu":
        ppo = ppo_cases(args.batch)
        cases.update(ppo)
        divisor = dict.fromkeys(ppo, 1024 // args.batch)  # minibatches per train() call
    load_before = os.getloadavg()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeats):  # alternate, so that a change of load affects every case alike
        for name, case in cases.items():
            wall, cpu = timed(case)
            samples[name].append((wall / divisor.get(name, 1), cpu / divisor.get(name, 1)))
    load_after = os.getloadavg()

    results = {
        name: {
            "wall_ms": 1e3 * statistics.median(wall for wall, _ in values),
            "cpu_ms": 1e3 * statistics.median(cpu for _, cpu in values),
        }
        for name, values in samples.items()
    }
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; {args.repeats} alternating repeats")
    print("| case | wall ms | CPU ms |\n|---|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['wall_ms']:.1f} | {result['cpu_ms']:.1f} |")
    if args.json:
        document = {"load_before": load_before, "load_after": load_after, "repeats": args.repeats, "results": results}
        Path(args.json).write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
