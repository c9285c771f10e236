"""
Time ``model.learn()`` on the same workloads with mlx_baselines3, Stable-Baselines3 and SBX.

Every run happens in a fresh subprocess, single-threaded, and starts with a warm-up ``learn`` (which includes
MLX's compile cost, reported separately) before the timed ``learn`` on the same model. Runs alternate library by
library, so that a change in the machine's load affects all libraries alike. Libraries that are not installed
are skipped; a workload whose algorithm or policy a library does not have is reported as ``n/a``.

Usage::

    python benchmarks/bench.py                                  # all workloads, every installed library
    python benchmarks/bench.py --workloads ppo_cartpole,a2c_cartpole --libs mlx,sb3 --repeats 3 --json out.json
    python benchmarks/bench.py --libs mlx-gpu,mlx,sb3,sb3-cuda --plot gpu.png     # on a machine with an NVIDIA GPU

See ``benchmarks/README.md``.
"""

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

# Benchmark the checkout this script belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Import name of each library the benchmark knows.
LIBRARIES = {"mlx": "mlx_baselines3", "sb3": "stable_baselines3", "sbx": "sbx"}
#: Where each library keeps the sb3-contrib algorithms (SBX's TQC/CrossQ are top-level).
CONTRIB_LIBRARIES = {"mlx": "mlx_baselines3.contrib", "sb3": "sb3_contrib", "sbx": "sbx"}

#: What ``--libs`` accepts: a library on one device. The plain names run on the CPU; the GPU targets need MLX's
#: CUDA (or Metal) backend and a CUDA build of torch.
TARGETS = {
    "mlx": ("mlx", "cpu"),
    "mlx-gpu": ("mlx", "gpu"),
    "sb3": ("sb3", "cpu"),
    "sb3-cuda": ("sb3", "cuda"),
    "sbx": ("sbx", "cpu"),
}

#: Where each library's ``make_vec_env`` lives (SBX uses SB3's environments).
ENV_UTIL = {
    "mlx": "mlx_baselines3.common.env_util",
    "sb3": "stable_baselines3.common.env_util",
    "sbx": "stable_baselines3.common.env_util",
}

#: One thread per library: the numbers then compare implementations, not thread pools (and a 2-core machine
#: shared with other processes makes multi-threaded timings meaningless).
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "JAX_PLATFORMS": "cpu",
}

#: Distributions whose versions go into the results.
VERSIONED = [
    "mlx-baselines3",
    "mlx",
    "mlx-cpu",
    "ngsolve-openblas",
    "stable-baselines3",
    "torch",
    "sbx-rl",
    "jax",
    "gymnasium",
    "numpy",
]

FAKE_IMAGE = "FakeImage84x84x4"
INVALID_ACTIONS = "InvalidActionEnvDiscrete"


class FakeImageEnv(gym.Env):
    """
    An Atari-shaped environment without an emulator: 84x84x4 uint8 frames drawn from a fixed pool,
    6 discrete actions, episodes of 1000 steps. It measures what the policy costs, not the game.
    """

    observation_space = gym.spaces.Box(0, 255, (84, 84, 4), np.uint8)
    action_space = gym.spaces.Discrete(6)

    def __init__(self) -> None:
        super().__init__()
        self._frames = np.random.default_rng(0).integers(0, 256, (32, 84, 84, 4), dtype=np.uint8)
        self._step = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._step = 0
        return self._frames[self.np_random.integers(len(self._frames))], {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._step += 1
        frame = self.np_random.integers(len(self._frames))
        return self._frames[frame], float(action == frame % 6), False, self._step >= 1000, {}


@dataclasses.dataclass(frozen=True)
class Workload:
    """
    One benchmark setting: the same for every library.

    :param algo: algorithm class name
    :param env_id: Gymnasium id, or ``FAKE_IMAGE``
    :param n_envs: number of environments in the ``DummyVecEnv``
    :param policy: policy alias
    :param timesteps: default budget of the timed ``learn``
    :param warmup: budget of the warm-up ``learn`` (enough for at least one gradient step)
    :param kwargs: hyperparameters that differ from the algorithm's defaults
    :param contrib: an sb3-contrib algorithm (``mlx_baselines3.contrib`` / ``sb3_contrib``)
    """

    algo: str
    env_id: str
    n_envs: int
    policy: str
    timesteps: int
    warmup: int
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    contrib: bool = False


WORKLOADS = {
    # On-policy budgets are whole rollouts: PPO collects 2048 x 8 steps per update, A2C 5 x 8.
    "ppo_cartpole": Workload("PPO", "CartPole-v1", 8, "MlpPolicy", timesteps=32_768, warmup=1),
    "a2c_cartpole": Workload("A2C", "CartPole-v1", 8, "MlpPolicy", timesteps=50_000, warmup=400),
    # Off-policy warm-ups pass learning_starts (100) so that the first gradient steps, and compiles, happen.
    "dqn_cartpole": Workload("DQN", "CartPole-v1", 1, "MlpPolicy", timesteps=20_000, warmup=1_000),
    "sac_pendulum": Workload(
        "SAC", "Pendulum-v1", 1, "MlpPolicy", timesteps=3_000, warmup=300, kwargs={"policy_kwargs": {"net_arch": [256, 256]}}
    ),
    # TD3 defaults to [400, 300]; [256, 256] keeps the networks the same size as SAC's.
    "td3_pendulum": Workload(
        "TD3", "Pendulum-v1", 1, "MlpPolicy", timesteps=3_000, warmup=300, kwargs={"policy_kwargs": {"net_arch": [256, 256]}}
    ),
    # RL Zoo's Atari hyperparameters (SB3's defaults would store 2048 x 8 float32 frames: 1.8 GB).
    "ppo_image": Workload(
        "PPO",
        FAKE_IMAGE,
        8,
        "CnnPolicy",
        timesteps=2_048,
        warmup=1,
        kwargs={
            "n_steps": 128,
            "n_epochs": 4,
            "batch_size": 256,
            "learning_rate": 2.5e-4,
            "clip_range": 0.1,
            "vf_coef": 0.5,
            "ent_coef": 0.01,
        },
    ),
    # sb3-contrib: masked PPO on its invalid-action test env (half the actions masked), recurrent PPO with the RL Zoo's
    # CartPole LSTM settings (sequences of up to 32 steps, 8 envs).
    "maskable_ppo_invalid": Workload("MaskablePPO", INVALID_ACTIONS, 8, "MlpPolicy", timesteps=32_768, warmup=1, contrib=True),
    "recurrent_ppo_cartpole": Workload(
        "RecurrentPPO",
        "CartPole-v1",
        8,
        "MlpLstmPolicy",
        timesteps=8_192,
        warmup=1,
        kwargs={"n_steps": 32, "batch_size": 256, "n_epochs": 10, "policy_kwargs": {"lstm_hidden_size": 64}},
        contrib=True,
    ),
    # sb3-contrib's other algorithms with their defaults (TQC/CrossQ with SAC's workload's [256, 256] networks; SBX has
    # those two). ARS and TRPO warm up with one whole update.
    "qrdqn_cartpole": Workload("QRDQN", "CartPole-v1", 1, "MlpPolicy", timesteps=20_000, warmup=1_000, contrib=True),
    "trpo_cartpole": Workload("TRPO", "CartPole-v1", 8, "MlpPolicy", timesteps=32_768, warmup=1, contrib=True),
    "ars_cartpole": Workload("ARS", "CartPole-v1", 2, "LinearPolicy", timesteps=20_000, warmup=1, contrib=True),
    "tqc_pendulum": Workload(
        "TQC",
        "Pendulum-v1",
        1,
        "MlpPolicy",
        timesteps=3_000,
        warmup=300,
        kwargs={"policy_kwargs": {"net_arch": [256, 256]}},
        contrib=True,
    ),
    "crossq_pendulum": Workload(
        "CrossQ",
        "Pendulum-v1",
        1,
        "MlpPolicy",
        timesteps=3_000,
        warmup=300,
        kwargs={"policy_kwargs": {"net_arch": [256, 256]}},
        contrib=True,
    ),
}


def _invalid_action_env() -> gym.Env:
    from mlx_baselines3.contrib.common.envs import InvalidActionEnvDiscrete

    return InvalidActionEnvDiscrete(dim=20, n_invalid_actions=10)


def run_one(target: str, workload_name: str, timesteps: int, seed: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """
    Build the model and time a warm-up ``learn`` then the measured one (runs inside the worker subprocess).

    :param target: key of ``TARGETS``
    :param workload_name: key of ``WORKLOADS``
    :param timesteps: budget of the timed ``learn``
    :param seed: seed of the model and the environments
    :param kwargs: hyperparameters that replace the workload's
    :return: ``status`` ("ok" or "n/a") and, when ok, steps, wall and CPU seconds of both phases
    """
    workload = WORKLOADS[workload_name]
    lib, device = TARGETS[target]
    model_kwargs: dict[str, Any] = {**workload.kwargs, **kwargs}
    if lib == "sb3":
        import torch

        torch.set_num_threads(1)
    if lib != "sbx":
        model_kwargs["device"] = device
    if device == "gpu":
        import mlx.core as mx

        if not mx.is_available(mx.gpu):
            return {"status": "n/a"}
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return {"status": "n/a"}
    try:
        module = importlib.import_module((CONTRIB_LIBRARIES if workload.contrib else LIBRARIES)[lib])
    except ImportError:
        return {"status": "n/a"}
    algo_class = getattr(module, workload.algo, None)
    if algo_class is None or workload.policy not in getattr(algo_class, "policy_aliases", {}):
        return {"status": "n/a"}
    make_vec_env = importlib.import_module(ENV_UTIL[lib]).make_vec_env
    env_id = {FAKE_IMAGE: FakeImageEnv, INVALID_ACTIONS: _invalid_action_env}.get(workload.env_id, workload.env_id)
    env = make_vec_env(env_id, n_envs=workload.n_envs, seed=seed)
    model = algo_class(workload.policy, env, seed=seed, verbose=0, **model_kwargs)

    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(workload.warmup)
    warmup_seconds, warmup_cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu

    start_steps = model.num_timesteps
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(timesteps, reset_num_timesteps=False)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "status": "ok",
        "steps": model.num_timesteps - start_steps,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "warmup_steps": start_steps,
        "warmup_seconds": warmup_seconds,
        "warmup_cpu_seconds": warmup_cpu_seconds,
    }
    if lib == "mlx":
        from mlx_baselines3.common import _openblas

        result["openblas"] = _openblas.loaded_path
    return result


def spawn(
    lib: str, workload_name: str, timesteps: int, seed: int, kwargs: dict[str, Any], concurrent: int = 1
) -> list[dict[str, Any]]:
    """
    Run one measurement in a fresh single-threaded interpreter, or ``concurrent`` identical ones at the same time (a
    user running several trainings at once: each gets its own seed, ``seed``, ``seed + 1000``...).

    :return: each worker's result, or ``status`` "error" with the end of its standard error
    """
    processes = []
    for index in range(concurrent):
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            lib,
            workload_name,
            str(timesteps),
            str(seed + 1000 * index),
            json.dumps(kwargs),
        ]
        processes.append(
            subprocess.Popen(
                command, env={**os.environ, **SINGLE_THREAD_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    results = []
    for process in processes:
        stdout, stderr = process.communicate()
        lines = stdout.strip().splitlines()
        if process.returncode != 0 or not lines:
            results.append({"status": "error", "error": stderr.strip()[-2000:]})
        else:
            results.append(json.loads(lines[-1]))
    return results


def machine_info() -> dict[str, Any]:
    """:return: date, CPU, core count, Python and library versions of this machine"""
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
    }


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]], workloads: list[str], targets: list[str]) -> list[dict[str, Any]]:
    """
    :param runs: every run's result, with its ``lib`` (target) and ``workload``
    :param workloads: the workloads, in table order
    :param targets: the targets, in table order
    :return: one row per (workload, target): status, median steps/s (wall and CPU), median warm-up seconds (all,
        and the CPU seconds beyond its steps), and the ratios of the medians to those of SB3's fastest target on that
        workload (> 1: faster than SB3 on its best device)
    """
    rows = []
    for workload in workloads:
        workload_rows = []
        for target in targets:
            mine = [run for run in runs if run["workload"] == workload and run["lib"] == target]
            done = [run for run in mine if run["status"] == "ok"]
            status = "ok" if done else (mine[0]["status"] if mine else "not installed")
            row: dict[str, Any] = {"workload": workload, "lib": target, "status": status, "runs": len(done)}
            row["steps_per_s"] = median_or_none([run["steps"] / run["seconds"] for run in done])
            row["cpu_steps_per_s"] = median_or_none([run["steps"] / run["cpu_seconds"] for run in done])
            row["warmup_seconds"] = median_or_none([run["warmup_seconds"] for run in done])
            # What the warm-up cost beyond its steps at the timed rate: setup, first calls, compiles.
            row["warmup_extra_cpu_seconds"] = median_or_none(
                [run["warmup_cpu_seconds"] - run["warmup_steps"] * run["cpu_seconds"] / run["steps"] for run in done]
            )
            row["all_steps_per_s"] = [round(run["steps"] / run["seconds"], 1) for run in done]
            workload_rows.append(row)
        sb3_rows = [row for row in workload_rows if TARGETS[row["lib"]][0] == "sb3" and row["steps_per_s"] is not None]
        reference = max(sb3_rows, key=lambda row: row["steps_per_s"], default=None)
        for row in workload_rows:
            row["reference"] = None if reference is None else reference["lib"]
            for key in ("steps_per_s", "cpu_steps_per_s"):
                ratio = None
                if reference is not None and row[key] is not None:
                    ratio = row[key] / reference[key]
                row[f"ratio_{key}"] = ratio
        rows.extend(workload_rows)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """:return: the summary as a Markdown table"""

    def number(value: float | None, digits: int = 0) -> str:
        return "" if value is None else f"{value:,.{digits}f}"

    lines = [
        "| workload | library | steps/s (wall) | steps/s (CPU) | vs SB3 best (wall) | vs SB3 best (CPU) | warm-up s "
        "| warm-up extra CPU s | runs (steps/s, wall) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"| {row['workload']} | {row['lib']} | {row['status']} | | | | | | |")
            continue
        ratios = [
            number(row[key], 2) + "x" if row[key] is not None else "" for key in ("ratio_steps_per_s", "ratio_cpu_steps_per_s")
        ]
        lines.append(
            f"| {row['workload']} | {row['lib']} | {number(row['steps_per_s'])} | {number(row['cpu_steps_per_s'])} "
            f"| {ratios[0]} | {ratios[1]} | {number(row['warmup_seconds'], 1)} | {number(row['warmup_extra_cpu_seconds'], 1)} "
            f"| {row['all_steps_per_s']} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str, title: str) -> None:
    """
    Draw the ratio of each target's median steps/s to SB3's fastest target, per workload, as grouped bars (needs
    matplotlib, in the ``extra`` dependencies).

    :param rows: the summary rows
    :param path: the image file to write
    :param title: the figure title
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(row["workload"] for row in rows))
    targets = list(dict.fromkeys(row["lib"] for row in rows if row["ratio_steps_per_s"] is not None))
    width = 0.8 / max(1, len(targets))
    figure, axes = plt.subplots(figsize=(1.6 + 1.4 * len(workloads), 3.6))
    for index, target in enumerate(targets):
        ratios = [
            next((row["ratio_steps_per_s"] or 0.0 for row in rows if row["workload"] == w and row["lib"] == target), 0.0)
            for w in workloads
        ]
        positions = [w + (index - (len(targets) - 1) / 2) * width for w in range(len(workloads))]
        bars = axes.bar(positions, ratios, width, label=target)
        axes.bar_label(bars, labels=[f"{ratio:.2f}" if ratio else "" for ratio in ratios], fontsize=7)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(workloads)), workloads, fontsize=8)
    axes.set_ylabel("steps/s vs SB3's fastest device")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write_json(path: str, meta: dict[str, Any], runs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Write the meta data, every run and the summary to ``path``."""
    with open(path, "w") as file:
        json.dump({"meta": meta, "runs": runs, "summary": rows}, file, indent=2)


def report_saved(paths: list[str], plot_path: str | None) -> None:
    """
    Summarize runs saved by earlier ``--json`` invocations on one machine (e.g. a device session split over
    several calls), as one table and, with ``plot_path``, one chart.

    :param paths: the JSON files
    :param plot_path: where to draw the chart, or None
    """
    saved = []
    for path in paths:
        with open(path) as file:
            saved.append(json.load(file))
    runs = [run for result in saved for run in result["runs"]]
    workloads = list(dict.fromkeys(run["workload"] for run in runs))
    targets = list(dict.fromkeys(run["lib"] for run in runs))
    meta = saved[0]["meta"]
    print(f"{meta['date']}, {meta['cpu']} ({meta['cores']} cores), Python {meta['python']}")
    print(", ".join(f"{name} {version}" for name, version in meta["versions"].items()))
    # A target that was not run on a workload (e.g. MLX's CPU on images) is left out rather than listed.
    rows = [row for row in summarize(runs, workloads, targets) if row["status"] != "not installed"]
    print(format_table(rows))
    if plot_path:
        plot(rows, plot_path, f"{meta['cpu']} ({meta['cores']} cores), {meta['date'][:10]}")


def parse_list(text: str, known: dict[str, Any], what: str) -> list[str]:
    """:return: the comma-separated names in ``text``, checked against ``known``"""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"Unknown {what} {unknown}; choose from {sorted(known)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, from: " + ", ".join(WORKLOADS))
    parser.add_argument(
        "--libs", default="mlx,sb3,sbx", help="comma-separated library[-device] targets, from: " + ", ".join(TARGETS)
    )
    parser.add_argument("--timesteps", type=int, help="budget of each timed learn (default: per workload)")
    parser.add_argument(
        "--budget-scale", type=float, default=1.0, help="multiply every workload's default budget (e.g. 0.5 on a busy machine)"
    )
    parser.add_argument(
        "--concurrent", type=int, default=1, help="identical trainings run at once per measurement (a loaded machine)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per workload and library")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat (repeat i uses seed + i)")
    parser.add_argument(
        "--kwargs",
        type=json.loads,
        default={},
        metavar="JSON",
        help='hyperparameters replacing the workloads\' (e.g. \'{"batch_size": 64, "policy_kwargs": {"net_arch": [64]}}\')',
    )
    parser.add_argument("--json", metavar="PATH", help="also write meta data, every run and the summary here")
    parser.add_argument(
        "--results", nargs="+", metavar="JSON", help="run nothing: summarize (and --plot) the runs saved in these files"
    )
    parser.add_argument("--plot", metavar="PATH", help="also draw the ratios to SB3 as a bar chart (PNG, needs matplotlib)")
    parser.add_argument(
        "--worker", nargs=5, metavar=("LIB", "WORKLOAD", "TIMESTEPS", "SEED", "KWARGS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.worker:
        lib, workload, timesteps, seed, kwargs = args.worker
        print(json.dumps(run_one(lib, workload, int(timesteps), int(seed), json.loads(kwargs))))
        return
    if args.results:
        report_saved(args.results, args.plot)
        return

    workloads = parse_list(args.workloads, WORKLOADS, "workloads")
    libs = parse_list(args.libs, TARGETS, "targets")
    missing = [lib for lib in libs if importlib.util.find_spec(LIBRARIES[TARGETS[lib][0]]) is None]
    if missing:
        print(f"Not installed, skipped: {', '.join(LIBRARIES[TARGETS[lib][0]] for lib in missing)}", file=sys.stderr)
    installed = [lib for lib in libs if lib not in missing]
    meta = {**machine_info(), "load_average_before": os.getloadavg(), "args": vars(args) | {"worker": None}}

    runs: list[dict[str, Any]] = []
    unavailable: set[tuple[str, str]] = set()
    for repeat in range(args.repeats):
        for workload in workloads:
            # Rotate the order every repeat so that no library always runs first.
            order = installed[repeat % len(installed) :] + installed[: repeat % len(installed)] if installed else []
            for lib in order:
                if (lib, workload) in unavailable:
                    continue
                timesteps = args.timesteps or max(1, round(WORKLOADS[workload].timesteps * args.budget_scale))
                load_before = os.getloadavg()[0]
                for result in spawn(lib, workload, timesteps, args.seed + repeat, args.kwargs, args.concurrent):
                    result |= {
                        "lib": lib,
                        "workload": workload,
                        "repeat": repeat,
                        "load_average_before": load_before,
                        "load_average": os.getloadavg()[0],
                    }
                    runs.append(result)
                    if result["status"] == "n/a":
                        unavailable.add((lib, workload))
                    progress = result["status"]
                    if result["status"] == "ok":
                        rate = result["steps"] / result["seconds"]
                        progress = f"{rate:.0f} steps/s, warm-up {result['warmup_seconds']:.1f} s"
                    elif result["status"] == "error":
                        progress += ": " + result["error"].splitlines()[-1] if result["error"] else ""
                    progress += f", load {load_before:.1f} -> {result['load_average']:.1f}"
                    print(f"[{repeat + 1}/{args.repeats}] {workload:13s} {lib:8s} {progress}", file=sys.stderr, flush=True)
                if args.json:
                    # Written after every run, so that an interrupted benchmark keeps what it measured.
                    write_json(args.json, meta, runs, summarize(runs, workloads, libs))

    meta["load_average_after"] = os.getloadavg()
    rows = summarize(runs, workloads, libs)
    print(
        f"\n{meta['date']}, {meta['cpu']} ({meta['cores']} cores), Python {meta['python']}, "
        f"load average {meta['load_average_before'][0]:.2f} -> {meta['load_average_after'][0]:.2f}"
    )
    print(", ".join(f"{name} {version}" for name, version in meta["versions"].items()))
    print(format_table(rows))
    if args.json:
        write_json(args.json, meta, runs, rows)
    if args.plot:
        plot(rows, args.plot, f"{meta['cpu']} ({meta['cores']} cores), {meta['date'][:10]}")


if __name__ == "__main__":
    main()
