"""
Kernels and microseconds of one compiled gradient step, for each algorithm.

For every algorithm a model is built on a small task (CartPole for PPO/A2C/DQN, Pendulum for SAC/TD3/DDPG, with
the sizes of ``bench.py``'s workloads), its buffer is filled, and then:

- **kernels**: the nodes of the graph that one call of the compiled update produces (its returned statistics and the
  new parameters, optimizer states and random state), counted from ``mx.export_to_dot``. MLX fuses element-wise
  chains into one ``Compiled...`` node, so this is the number of kernels MLX launches for the step;
- **primitives**: the same graph with ``mx.compile`` disabled: the operations before fusion;
- **us/step**: wall-clock microseconds per gradient step of ``model.train()`` (median of ``--repeats`` timed calls
  after a warm-up call), which includes preparing the minibatches and reading the statistics;
- **cpu us/step**: the same in CPU time of the process (all its threads), which other load on the machine disturbs
  far less than the wall clock.

The counts do not depend on the machine; the times do (compare runs made one after the other, on the same load). Usage::

    python benchmarks/step_microbench.py                      # all algorithms, table on stdout
    python benchmarks/step_microbench.py --algos sac,td3 --json after.json
"""

import argparse
import io
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Benchmark the checkout this script belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlx_baselines3  # noqa: F401, I001  (first: it loads OpenBLAS before MLX is imported)
import mlx.core as mx
from mlx.utils import tree_flatten

#: Algorithm -> (environment, constructor keyword arguments, train() keyword arguments or None for on-policy).
WORKLOADS: dict[str, tuple[str, dict[str, Any], dict[str, int] | None]] = {
    "ppo": ("CartPole-v1", dict(n_steps=2048, batch_size=64, n_epochs=10), None),
    "a2c": ("CartPole-v1", dict(n_steps=5), None),
    "dqn": ("CartPole-v1", dict(learning_starts=500, batch_size=64), dict(gradient_steps=100, batch_size=64)),
    "sac": ("Pendulum-v1", dict(learning_starts=500), dict(gradient_steps=100, batch_size=256)),
    "td3": ("Pendulum-v1", dict(learning_starts=500), dict(gradient_steps=100, batch_size=256)),
    "ddpg": ("Pendulum-v1", dict(learning_starts=500), dict(gradient_steps=100, batch_size=256)),
}

_NODE = re.compile(r'^\{ (\d+) \[label ="([^"]+)", shape=rectangle\]; \}$', re.MULTILINE)


class _GraphRecorder:
    """Wraps ``mx.compile`` so that, while ``armed``, each call of a compiled update reports the graph it built."""

    def __init__(self) -> None:
        self.armed = False
        self.graphs: list[dict[str, int]] = []
        self._compile = mx.compile

    def compile(self, fn: Any, inputs: Any = None, outputs: Any = None, shapeless: bool = False) -> Any:
        compiled = self._compile(fn, inputs=inputs, outputs=outputs, shapeless=shapeless)
        if outputs is None:
            return compiled

        def call(*args: Any, **kwargs: Any) -> Any:
            result = compiled(*args, **kwargs)
            # A few steps are enough (the graphs of one variant are all alike); inference is not called in train().
            if self.armed and len(self.graphs) < 4:
                arrays = [x for _, x in tree_flatten((result, outputs)) if isinstance(x, mx.array)]
                self.graphs.append(_count_nodes(arrays))
            return result

        return call


def _count_nodes(arrays: list[mx.array]) -> dict[str, int]:
    buffer = io.StringIO()
    mx.export_to_dot(buffer, *arrays)
    nodes = dict(_NODE.findall(buffer.getvalue()))
    counts: dict[str, int] = {}
    for label in nodes.values():
        counts[label] = counts.get(label, 0) + 1
    return counts


def _build(algo: str, recorder: _GraphRecorder) -> tuple[Any, dict[str, int] | None]:
    env_id, kwargs, train_kwargs = WORKLOADS[algo]
    module = __import__("mlx_baselines3", fromlist=[algo.upper()])
    cls = getattr(module, algo.upper())
    model = cls("MlpPolicy", env_id, seed=0, device="cpu", **kwargs)
    if train_kwargs is None:
        model.learn(model.n_steps * model.n_envs)  # one rollout (and one update) fills the buffer
    else:
        model.learn(kwargs["learning_starts"] + 200)
    return model, train_kwargs


def _train_once(model: Any, train_kwargs: dict[str, int] | None) -> int:
    """Run one ``train()``; return its number of gradient steps."""
    if train_kwargs is None:
        before = model._n_updates
        model.train()
        epochs = model._n_updates - before
        if model.__class__.__name__ == "PPO":
            n_batches = -(-model.n_steps * model.n_envs // model.batch_size)
            return epochs * n_batches
        return epochs
    model.train(**train_kwargs)
    return train_kwargs["gradient_steps"]


def measure(algo: str, repeats: int) -> dict[str, Any]:
    """
    :param algo: the algorithm's name in lower case
    :param repeats: timed ``train()`` calls
    :return: kernels, primitives and microseconds per gradient step
    """
    recorder = _GraphRecorder()
    mx.compile = recorder.compile
    try:
        model, train_kwargs = _build(algo, recorder)
    finally:
        mx.compile = recorder._compile
    # Warm-up (traces every variant of the step), then the graph of the steps of one call, then the timings.
    _train_once(model, train_kwargs)
    recorder.armed = True
    one_call = dict(train_kwargs, gradient_steps=2) if train_kwargs else None
    _train_once(model, one_call)
    compiled_graphs = list(recorder.graphs)
    recorder.graphs.clear()
    mx.disable_compile()
    try:
        _train_once(model, one_call)
    finally:
        mx.enable_compile()
    eager_graphs = list(recorder.graphs)
    recorder.armed = False
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        steps = _train_once(model, train_kwargs)
        times.append((time.perf_counter() - start) / steps * 1e6)
        cpu_times.append((time.process_time() - cpu_start) / steps * 1e6)
    # Off-policy steps come in variants (SAC's target update, TD3's delayed actor): report the largest graph.
    kernels = max(sum(graph.values()) for graph in compiled_graphs)
    primitives = max(sum(graph.values()) for graph in eager_graphs)
    return {
        "algo": algo,
        "kernels": kernels,
        "primitives": primitives,
        "us_per_step": statistics.median(times),
        "cpu_us_per_step": statistics.median(cpu_times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", default=",".join(WORKLOADS), help="comma-separated algorithms")
    parser.add_argument("--repeats", type=int, default=5, help="timed train() calls per algorithm")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    results = [measure(algo, args.repeats) for algo in args.algos.split(",")]
    print(f"{'algo':6} {'kernels':>8} {'primitives':>11} {'us/step':>9} {'cpu us/step':>12}")
    for row in results:
        times = f"{row['us_per_step']:9.0f} {row['cpu_us_per_step']:12.0f}"
        print(f"{row['algo']:6} {row['kernels']:8d} {row['primitives']:11d} {times}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
