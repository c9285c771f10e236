"""
GPU benchmark: mlx_baselines3 on MLX's CUDA backend against stable_baselines3 on torch (CPU and CUDA), same machine.

    python benchmarks/gpu_bench.py --json results.json

Two measurements:
- ``ppo_cnn_update``: one PPO minibatch update (NatureCNN policy, a batch of 256 frames of 84x84x4 uint8), timed as
  ``train()`` with ``n_epochs`` updates over one full-batch rollout, per update.
- ``learn``: end-to-end ``learn()`` steps/s for PPO CartPole-v1 (8 envs, MLP) and PPO on an 84x84x4 image env (CnnPolicy).

Each library runs on each of its devices; torch uses one CPU thread as in SB3's recommendation for small networks.
"""

import argparse
import json
import platform
import statistics
import time

import gymnasium as gym
import numpy as np


class FakeAtari(gym.Env):
    """84x84x4 uint8 frames (channels last, as Atari wrappers give them), 4 actions, 100-step episodes."""

    observation_space = gym.spaces.Box(0, 255, (84, 84, 4), dtype=np.uint8)
    action_space = gym.spaces.Discrete(4)

    def __init__(self):
        self._rng = np.random.default_rng(0)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._rng.integers(0, 256, (84, 84, 4), dtype=np.uint8), {}

    def step(self, action):
        self._t += 1
        return self._rng.integers(0, 256, (84, 84, 4), dtype=np.uint8), 1.0, False, self._t >= 100, {}


def _library(name: str):
    if name == "mlx":
        import mlx_baselines3 as lib
    else:
        import stable_baselines3 as lib
        import torch

        torch.set_num_threads(1)
    return lib


def _sync(name: str, device: str) -> None:
    if name == "sb3" and device == "cuda":
        import torch

        torch.cuda.synchronize()


def _fill(buffer, rng: np.random.Generator) -> None:
    """Fill a rollout buffer with random frames, actions and returns (the update's cost does not depend on them)."""
    buffer.reset()
    buffer.observations[:] = rng.integers(0, 256, buffer.observations.shape, dtype=np.uint8)
    buffer.actions[:] = rng.integers(0, 4, buffer.actions.shape)
    for field in ("values", "advantages", "returns"):
        getattr(buffer, field)[:] = rng.normal(size=getattr(buffer, field).shape).astype(np.float32)
    buffer.log_probs[:] = np.log(0.25)
    buffer.full = True


def ppo_cnn_update(name: str, device: str, n_epochs: int = 20, repeats: int = 5) -> float:
    """:return: median milliseconds per minibatch update"""
    lib = _library(name)
    from importlib import import_module

    DummyVecEnv = import_module(f"{lib.__name__}.common.vec_env").DummyVecEnv
    env = DummyVecEnv([FakeAtari])
    model = lib.PPO("CnnPolicy", env, n_steps=256, batch_size=256, n_epochs=n_epochs, device=device, seed=0)
    model._setup_learn(256, None)
    configure = import_module(f"{lib.__name__}.common.logger").configure
    model.set_logger(configure(None, [""]))
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats + 1):
        _fill(model.rollout_buffer, rng)
        _sync(name, device)
        start = time.perf_counter()
        model.train()
        _sync(name, device)
        times.append((time.perf_counter() - start) / n_epochs * 1e3)
    return statistics.median(times[1:])


def learn_steps_per_second(name: str, device: str, workload: str, timesteps: int) -> float:
    lib = _library(name)
    from importlib import import_module

    env_util = import_module(f"{lib.__name__}.common.env_util")
    if workload == "ppo_cartpole":
        make = lambda: env_util.make_vec_env("CartPole-v1", n_envs=8, seed=0)  # noqa: E731
        kwargs = dict(policy="MlpPolicy")
    else:
        make = lambda: env_util.make_vec_env(FakeAtari, n_envs=8, seed=0)  # noqa: E731
        kwargs = dict(policy="CnnPolicy", n_steps=128, batch_size=256, n_epochs=4)
    model = lib.PPO(env=make(), device=device, seed=0, **kwargs)
    model.learn(2048)  # warm-up: compilation, allocator
    start = time.perf_counter()
    model.learn(timesteps)
    _sync(name, device)
    # learn() finishes whole rollouts, so it may run more steps than asked.
    return model.num_timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", default=None)
    parser.add_argument("--timesteps", type=int, default=32768)
    parser.add_argument(
        "--image-on-cpu", action="store_true", help="also time learn() of the image workload on the CPUs (slow)"
    )
    args = parser.parse_args()
    import mlx.core as mx
    import torch

    configs = [("mlx", "gpu"), ("mlx", "cpu"), ("sb3", "cuda"), ("sb3", "cpu")]
    results: dict = {
        "machine": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "mlx": mx.__version__,
        "mlx_gpu_available": mx.is_available(mx.gpu),
        "torch": torch.__version__,
        "ppo_cnn_update_ms": {},
        "learn_steps_per_s": {},
    }
    for name, device in configs:
        key = f"{name}-{device}"
        # A CNN update takes seconds on a CPU: fewer of them there.
        on_cpu = device == "cpu"
        update_ms = ppo_cnn_update(name, device, n_epochs=2 if on_cpu else 20, repeats=1 if on_cpu else 5)
        results["ppo_cnn_update_ms"][key] = round(update_ms, 3)
        print(f"ppo_cnn_update {key}: {results['ppo_cnn_update_ms'][key]} ms/update", flush=True)
    for workload in ("ppo_cartpole", "ppo_image"):
        for name, device in configs:
            if workload == "ppo_image" and device == "cpu" and not args.image_on_cpu:
                continue
            key = f"{workload}/{name}-{device}"
            results["learn_steps_per_s"][key] = round(learn_steps_per_second(name, device, workload, args.timesteps))
            print(f"learn {key}: {results['learn_steps_per_s'][key]} steps/s", flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
