"""SubprocVecEnv: start methods, determinism against DummyVecEnv, and failures reported instead of hangs."""

import multiprocessing as mp
import os
import signal
import threading
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize, subproc_vec_env

START_METHODS = [method for method in ("fork", "forkserver", "spawn") if method in mp.get_all_start_methods()]


class NoisyEnv(gym.Env):
    """Random observations from the env's seeded generator, to check seeding; raises or hangs on request."""

    def __init__(self, fail_at_step=None, ep_len=4):
        self.observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.fail_at_step = fail_at_step
        self.ep_len = ep_len
        self.t = 0

    def _obs(self):
        return self.np_random.uniform(-1, 1, 3).astype(np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {"pid": os.getpid()}

    def step(self, action):
        self.t += 1
        if self.t == self.fail_at_step:
            raise ValueError(f"step {self.t} is broken on purpose")
        return self._obs(), float(self.np_random.uniform()), self.t == self.ep_len, False, {}

    def sleep(self, seconds):
        time.sleep(seconds)

    def sleep_then_step(self):
        if self.fail_at_step is None:
            time.sleep(0.3)
        return self.step(0)

    def unpicklable_error(self):
        raise UnpicklableError(lambda: None)


class UnpicklableError(Exception):
    """An exception holding a lambda cannot cross the process boundary."""


class BrokenInit(gym.Env):
    def __init__(self):
        raise RuntimeError("cannot build this env")


def process_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def rollout(venv, n_steps=12):
    venv.seed(7)
    trace = [venv.reset()]
    for step in range(n_steps):
        obs, rewards, dones, infos = venv.step(np.array([step % 2] * venv.num_envs))
        terminal = [info.get("terminal_observation") for info in infos]
        trace.append((obs, rewards.astype(np.float32), dones, terminal))
    return trace


@pytest.mark.parametrize("start_method", START_METHODS)
def test_same_seeds_same_observations_as_dummy(start_method):
    env_fns = [lambda: NoisyEnv(ep_len=3), lambda: NoisyEnv(ep_len=5)]
    subproc = SubprocVecEnv(env_fns, start_method=start_method)
    pids = [process.pid for process in subproc.processes]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert [info["pid"] for info in (subproc.reset(), subproc.reset_infos)[1]] == pids
    sub_trace = rollout(subproc)
    dummy_trace = rollout(DummyVecEnv(env_fns))
    np.testing.assert_array_equal(sub_trace[0], dummy_trace[0])
    n_terminal = 0
    for mine, ref in zip(sub_trace[1:], dummy_trace[1:], strict=True):
        for a, b in zip(mine[:3], ref[:3], strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(mine[3], ref[3], strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)
            n_terminal += a is not None
    assert n_terminal == 6  # 4 episodes of 3 steps and 2 of 5
    subproc.close()
    assert all(process_gone(pid) for pid in pids)


def test_default_start_method_is_forkserver_where_available():
    venv = SubprocVecEnv([lambda: NoisyEnv()])
    expected = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    assert type(venv.processes[0]).__name__ == {"forkserver": "ForkServerProcess", "spawn": "SpawnProcess"}[expected]
    venv.close()


def test_unknown_start_method_is_refused():
    # multiprocessing's own text comes first, as in SB3 (which lets that ValueError through).
    with pytest.raises(ValueError, match=r"^cannot find context for 'illegal': start_method must be one of"):
        SubprocVecEnv([lambda: NoisyEnv()], start_method="illegal")
    with pytest.raises(ValueError, match="at least one environment"):
        SubprocVecEnv([], start_method="fork")


def test_exception_in_step_is_raised_in_parent_naming_the_worker():
    venv = SubprocVecEnv([lambda: NoisyEnv(), lambda: NoisyEnv(fail_at_step=2)], start_method="fork")
    venv.reset()
    venv.step(np.array([0, 0]))
    start = time.monotonic()
    with pytest.raises(ValueError, match="step 2 is broken on purpose") as excinfo:
        venv.step(np.array([0, 0]))
    assert time.monotonic() - start < 5
    note = "\n".join(excinfo.value.__notes__)
    assert f"SubprocVecEnv worker 1 (pid {venv.processes[1].pid})" in note and "step the environment" in note
    assert "Worker traceback" in note and "in step" in note
    # The workers are still in step with the parent: the VecEnv can be reset and used again.
    assert venv.reset().shape == (2, 3)
    venv.step(np.array([0, 0]))
    pids = [process.pid for process in venv.processes]
    venv.close()
    assert all(process_gone(pid) for pid in pids)


def test_unpicklable_worker_error_becomes_runtime_error():
    venv = SubprocVecEnv([lambda: NoisyEnv()], start_method="fork")
    with pytest.raises(RuntimeError, match="worker 0 raised UnpicklableError") as excinfo:
        venv.env_method("unpicklable_error")
    assert "call method 'unpicklable_error'" in str(excinfo.value)
    assert venv.env_method("reset")[0][0].shape == (3,)
    venv.close()


def test_env_creation_failure_is_reported_and_workers_freed():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="cannot build this env") as excinfo:
        SubprocVecEnv([lambda: NoisyEnv(), BrokenInit], start_method="fork")
    assert time.monotonic() - start < 10
    assert "worker 1" in excinfo.value.__notes__[0] and "create the environment" in excinfo.value.__notes__[0]
    # The healthy worker was ended too.
    assert mp.active_children() == []


def test_unpicklable_env_fn_frees_the_workers_already_started():
    if "forkserver" not in mp.get_all_start_methods():
        pytest.skip("forkserver not available")
    lock = threading.Lock()
    with pytest.raises(TypeError, match="pickle"):
        SubprocVecEnv([lambda: NoisyEnv(), lambda: lock and NoisyEnv()], start_method="forkserver")
    assert mp.active_children() == []


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_killed_worker_raises_instead_of_hanging(start_method):
    if start_method not in mp.get_all_start_methods():
        pytest.skip(f"{start_method} not available")
    venv = SubprocVecEnv([lambda: NoisyEnv() for _ in range(3)], start_method=start_method)
    venv.reset()
    victim = venv.processes[1]
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(timeout=5)
    start = time.monotonic()
    with pytest.raises(EOFError, match=f"worker 1 \\(pid {victim.pid}\\) was killed by signal SIGKILL"):
        venv.step(np.array([0, 0, 0]))
    assert time.monotonic() - start < 5
    # Any later call fails the same way, at once.
    with pytest.raises(EOFError, match="worker 1"):
        venv.get_attr("t")
    pids = [process.pid for process in venv.processes]
    venv.close()
    assert all(process_gone(pid) for pid in pids)


def test_worker_killed_while_others_are_busy_raises_at_once(monkeypatch):
    # A shorter grace period, so that close() ends the busy worker quickly.
    monkeypatch.setattr(subproc_vec_env, "_CLOSE_TIMEOUT", 0.5)
    venv = SubprocVecEnv([lambda: NoisyEnv(), lambda: NoisyEnv()], start_method="fork")
    victim, busy = venv.processes
    # Both workers sleep for a minute; killing one must wake the waiting parent up without waiting for the other.
    killer = threading.Timer(0.5, os.kill, (victim.pid, signal.SIGKILL))
    killer.start()
    start = time.monotonic()
    with pytest.raises(EOFError, match=r"worker 0 .* while trying to call method 'sleep'"):
        venv.env_method("sleep", 60)
    assert time.monotonic() - start < 5
    killer.join()
    start = time.monotonic()
    venv.close()
    assert time.monotonic() - start < 5
    assert process_gone(victim.pid) and process_gone(busy.pid)


def test_replies_left_by_a_failed_call_are_not_mistaken_for_later_ones():
    venv = SubprocVecEnv([lambda: NoisyEnv(fail_at_step=1), lambda: NoisyEnv()], start_method="fork")
    venv.reset()
    venv.set_attr("t", 10, indices=1)
    # Worker 0 fails at once while worker 1 still owes its step reply.
    with pytest.raises(ValueError, match="broken on purpose"):
        venv.env_method("sleep_then_step", indices=None)
    assert venv.get_attr("t") == [1, 11]
    venv.close()


def test_close_is_idempotent_and_handles_a_pending_step():
    venv = SubprocVecEnv([lambda: NoisyEnv(), lambda: NoisyEnv()], start_method="fork")
    venv.reset()
    venv.step_async(np.array([0, 1]))
    pids = [process.pid for process in venv.processes]
    venv.close()
    venv.close()
    assert venv.closed and not venv.waiting
    assert all(process_gone(pid) for pid in pids)
    assert all(remote.closed for remote in venv.remotes)


def test_close_after_a_worker_died():
    venv = SubprocVecEnv([lambda: NoisyEnv(), lambda: NoisyEnv()], start_method="fork")
    os.kill(venv.processes[0].pid, signal.SIGKILL)
    venv.processes[0].join(timeout=5)
    start = time.monotonic()
    venv.close()
    assert time.monotonic() - start < 5
    assert all(not process.is_alive() for process in venv.processes)


def test_vec_normalize_over_subproc_matches_dummy():
    env_fns = [lambda: NoisyEnv(ep_len=6) for _ in range(2)]
    sub = VecNormalize(SubprocVecEnv(env_fns, start_method="fork"))
    dummy = VecNormalize(DummyVecEnv(env_fns))
    for venv in (sub, dummy):
        venv.seed(3)
        venv.reset()
        for _ in range(10):
            venv.step(np.array([1, 0]))
    np.testing.assert_allclose(sub.obs_rms.mean, dummy.obs_rms.mean, rtol=1e-12)
    np.testing.assert_allclose(sub.ret_rms.var, dummy.ret_rms.var, rtol=1e-6)
    sub.close()
