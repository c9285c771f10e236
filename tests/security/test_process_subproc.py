"""SubprocVecEnv workers end with their parent, even a SIGKILLed one, quietly; ``step_timeout`` bounds a step."""

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import numpy as np
import psutil
import pytest
from gymnasium import spaces

from mlx_baselines3.common.vec_env import SubprocVecEnv

START_METHODS = [method for method in ("fork", "forkserver", "spawn") if method in mp.get_all_start_methods()]
posix_only = pytest.mark.skipif(os.name != "posix", reason="SIGKILL of the parent is a POSIX test")


class SlowEnv(gym.Env):
    """Steps take ``delay`` seconds."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        time.sleep(self.delay)
        return np.zeros(2, np.float32), 0.0, False, False, {}


# A parent that starts three workers (one busy in a long env.step when the parent dies, two idle), prints their
# pids and blocks. With "fork", the later workers inherit the parent's ends of the earlier workers' pipes.
_PARENT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {test_dir!r})
    from test_process_subproc import SlowEnv
    from mlx_baselines3.common.vec_env import SubprocVecEnv

    def make(delay):
        return lambda: SlowEnv(delay)

    def start():
        venv = SubprocVecEnv([make(3600.0), make(0.0), make(0.0)], start_method={method!r})
        venv.reset()
        venv.remotes[0].send(("step", 0))  # worker 0 is now busy for an hour
        print(" ".join(str(process.pid) for process in venv.processes), flush=True)
        return venv

    if __name__ == "__main__":
        if {in_thread!r}:  # started from a thread that has ended: the workers must not die with that thread
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(1) as pool:
                venv = pool.submit(start).result()
            time.sleep(1.0)
            venv.reset()
        else:
            venv = start()
        time.sleep(3600)
    """
)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@posix_only
@pytest.mark.parametrize(
    ("start_method", "in_thread"), [(method, False) for method in START_METHODS] + [(START_METHODS[0], True)]
)
def test_workers_die_with_a_sigkilled_parent_quietly(start_method, in_thread, tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(_PARENT.format(test_dir=os.path.dirname(__file__), method=start_method, in_thread=in_thread))
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        worker_pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(worker_pids) == 3, parent.stderr.read() if parent.stderr else ""
        assert all(_running(pid) for pid in worker_pids)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10.0
        while any(_running(pid) for pid in worker_pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in worker_pids if _running(pid)] == []
        # The workers held the stderr pipe too: it reaches EOF only once all are gone, with nothing printed.
        assert parent.stderr is not None and parent.stderr.read() == ""
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for stream in (parent.stdout, parent.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("start_method", START_METHODS[:1])
def test_step_timeout_names_the_slow_env(start_method):
    venv = SubprocVecEnv([lambda: SlowEnv(0.0), lambda: SlowEnv(5.0)], start_method=start_method, step_timeout=0.5)
    try:
        venv.reset()
        started = time.monotonic()
        with pytest.raises(
            TimeoutError, match=r"worker 1 \(env index\) did not step the environment within step_timeout=0.5 s"
        ):
            venv.step(np.array([0, 0]))
        assert 0.4 < time.monotonic() - started < 3.0
    finally:
        started = time.monotonic()
        venv.close()
    # close() does not wait for the stuck step to end: it terminates the worker after its grace period.
    assert time.monotonic() - started < 8.0
    assert not any(process.is_alive() for process in venv.processes)


def test_fast_steps_pass_under_a_timeout_and_bad_timeouts_are_refused():
    venv = SubprocVecEnv([lambda: SlowEnv(0.0)] * 2, start_method=START_METHODS[0], step_timeout=10.0)
    try:
        venv.reset()
        for _ in range(5):
            obs, rewards, _dones, _ = venv.step(np.array([1, 0]))
        np.testing.assert_array_equal(obs, np.zeros((2, 2), np.float32))
        np.testing.assert_array_equal(rewards, [0.0, 0.0])
    finally:
        venv.close()
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="step_timeout must be a positive number of seconds or None"):
            SubprocVecEnv([lambda: SlowEnv(0.0)], start_method=START_METHODS[0], step_timeout=bad)
