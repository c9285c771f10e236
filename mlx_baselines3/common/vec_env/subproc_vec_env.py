"""A vectorized environment that runs each sub-environment in its own process."""

import contextlib
import ctypes
import ctypes.util
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.vec_env.base_vec_env import (
    CloudpickleWrapper,
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)
from mlx_baselines3.common.vec_env.patch_gym import _patch_env

# Seconds close() waits for a worker to exit by itself before terminating it.
_CLOSE_TIMEOUT = 5.0
# Linux prctl option: the signal a process gets when the thread that created it ends.
_PR_SET_PDEATHSIG = 1

# The parent's ends of every worker pipe open in this process. A worker started with "fork" inherits copies of all of
# them; it closes them first thing, else a copy would keep another worker's pipe open after the parent is gone.
_PARENT_ENDS: "weakref.WeakSet[Connection]" = weakref.WeakSet()


def _exit_with_parent(use_death_signal: bool) -> None:
    """
    Make this worker end when the process that started it ends, even while it is busy in ``env.step``.

    On Linux the kernel can send ``SIGTERM`` when the parent dies (``PR_SET_PDEATHSIG``), which works even while
    the worker runs native code. That signal follows the thread that forked, so it is only asked for when that
    thread lives as long as the process (the main thread of the parent); with "forkserver" the fork server is the
    parent and outlives a killed client, so it does not apply. Otherwise a daemon thread waits on multiprocessing's
    parent sentinel (a pipe that reaches end-of-file when the parent is gone) and ends the worker.

    :param use_death_signal: whether the parent-death signal is safe to use
    """
    parent = mp.parent_process()
    if parent is None:
        return
    if use_death_signal and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
                if os.getppid() != parent.pid:  # the parent died before the signal was armed
                    os._exit(1)
                return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _error_message(exc: BaseException) -> tuple[str, str, bytes | None]:
    """
    :param exc: an exception raised in a worker
    :return: its type name and message, its formatted traceback, and the exception pickled (None if it cannot be)
    """
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        pickled: bytes | None = pickle.dumps(exc)
    except Exception:
        pickled = None
    return f"{type(exc).__name__}: {exc}", trace, pickled


def _worker(
    remote: Connection,
    parent_remote: Connection,
    env_fn_wrapper: CloudpickleWrapper,
    use_death_signal: bool = False,
    inherited_ends: Sequence[Connection] = (),
) -> None:
    """
    Body of a worker process: build the env, then serve commands from the parent until "close" or a closed pipe.
    Every reply is ``("ok", result)`` or ``("error", (summary, traceback, pickled exception))``; an exception in a
    command is reported to the parent and the worker keeps serving, so that the parent can still close it cleanly.
    When the parent is gone (its pipe end closed or reset) the worker ends quietly.

    :param remote: the worker's end of the pipe
    :param parent_remote: the parent's end, inherited with the fork start method and closed here
    :param env_fn_wrapper: the function that creates the env
    :param use_death_signal: whether Linux's parent-death signal may be used (see ``_exit_with_parent``)
    :param inherited_ends: the parent's ends of other workers' pipes, inherited with "fork" and closed here
    """
    _exit_with_parent(use_death_signal)
    parent_remote.close()
    for end in inherited_ends:
        with contextlib.suppress(OSError):
            end.close()
    try:
        env = _patch_env(env_fn_wrapper.var())
        remote.send(("ok", (env.observation_space, env.action_space)))
    except Exception as exc:
        with contextlib.suppress(OSError):
            remote.send(("error", _error_message(exc)))
            remote.close()
        return
    # The parent is gone (EOFError, ConnectionResetError, BrokenPipeError) or interrupted: nobody waits for an
    # answer, so end without a traceback.
    with contextlib.suppress(EOFError, OSError, KeyboardInterrupt):
        _serve(remote, env)


def _serve(remote: Connection, env: gym.Env) -> None:
    """
    Answer the parent's commands with ``env`` until "close"; errors of the pipe itself propagate.

    :param remote: the worker's end of the pipe
    :param env: the environment
    """
    reset_info: dict[str, Any] = {}
    while True:
        cmd, data = remote.recv()
        if cmd == "close":
            env.close()
            remote.close()
            break
        try:
            if cmd == "step":
                observation, reward, terminated, truncated, info = env.step(data)
                done = terminated or truncated
                info["TimeLimit.truncated"] = truncated and not terminated
                if done:
                    info["terminal_observation"] = observation
                    observation, reset_info = env.reset()
                result: Any = (observation, reward, done, info, reset_info)
            elif cmd == "reset":
                seed, options = data
                maybe_options = {"options": options} if options else {}
                observation, reset_info = env.reset(seed=seed, **maybe_options)
                result = (observation, reset_info)
            elif cmd == "render":
                result = env.render()
            elif cmd == "env_method":
                method_name, method_args, method_kwargs = data
                result = env.get_wrapper_attr(method_name)(*method_args, **method_kwargs)
            elif cmd == "get_attr":
                result = env.get_wrapper_attr(data)
            elif cmd == "has_attr":
                try:
                    env.get_wrapper_attr(data)
                    result = True
                except AttributeError:
                    result = False
            elif cmd == "set_attr":
                setattr(env, data[0], data[1])
                result = None
            elif cmd == "is_wrapped":
                # Imported here: env_util imports the vec envs.
                from mlx_baselines3.common.env_util import is_wrapped

                result = is_wrapped(env, data)
            elif cmd == "get_spaces":
                result = (env.observation_space, env.action_space)
            else:
                raise NotImplementedError(f"`{cmd}` is not implemented in the worker")
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            remote.send(("error", _error_message(exc)))
            continue
        try:
            remote.send(("ok", result))
        except (OSError, EOFError):
            raise
        except Exception as exc:  # the result cannot be pickled
            remote.send(("error", _error_message(exc)))


def _describe_exit(exitcode: int | None) -> str:
    """
    :param exitcode: a process exit code (negative: killed by that signal)
    :return: a readable description of how the process ended
    """
    if exitcode is None:
        return "is unresponsive"
    if exitcode < 0:
        try:
            return f"was killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class SubprocVecEnv(VecEnv):
    """
    Vectorized environment that runs each sub-environment in its own process and steps them in parallel. Worth it
    when one environment step is expensive; keep the number of environments at most the number of CPU cores.

    Failures are reported, never waited on: an exception raised by an environment in a worker is raised again in
    this process, with the same type and a note naming the worker and holding its traceback; a worker that dies
    (crash, ``SIGKILL``) raises ``EOFError`` naming the worker and how it ended. ``close()`` always ends every worker.
    With ``step_timeout``, a step that takes longer raises ``TimeoutError`` naming the slow workers; the vec env
    should then be closed (``close()`` terminates workers that are still stuck).

    Workers end with this process, even when it is killed (``SIGKILL``) while they are busy in ``env.step``: on
    Linux through the kernel's parent-death signal, elsewhere by a thread that notices the parent is gone. A worker
    whose parent vanished ends quietly, without a traceback.

    .. warning::

        'forkserver' and 'spawn' are thread-safe but re-import the main module in each worker: guard the script's
        entry point with ``if __name__ == "__main__":``. 'fork' is faster to start and needs no guard, but is unsafe
        when the parent runs threads.

    :param env_fns: functions that each create a new environment (pickled with cloudpickle, so lambdas are fine)
    :param start_method: the multiprocessing start method, one of ``multiprocessing.get_all_start_methods()``;
        default 'forkserver' where available, else 'spawn'
    :param step_timeout: seconds ``step()`` (``step_wait()``) waits for the workers at most before raising
        ``TimeoutError``; None (default) waits as long as the environments take
    """

    def __init__(
        self, env_fns: list[Callable[[], gym.Env]], start_method: str | None = None, step_timeout: float | None = None
    ):
        self.waiting = False
        self.closed = False
        if len(env_fns) == 0:
            raise ValueError("SubprocVecEnv needs at least one environment function, got an empty list")
        if step_timeout is not None and not step_timeout > 0:
            raise ValueError(f"step_timeout must be a positive number of seconds or None, got {step_timeout!r}")
        self.step_timeout = step_timeout
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        try:
            ctx = mp.get_context(start_method)
        except ValueError as exc:
            # multiprocessing's own message ("cannot find context for ...") first, as SB3 lets it through.
            raise ValueError(f"{exc}: start_method must be one of {mp.get_all_start_methods()}") from exc
        self._start_method = start_method

        self.remotes: list[Connection] = []
        self.processes: list[Any] = []
        # Replies each worker owes the parent. A call that fails early leaves some unread; they are read (and
        # dropped) before the next command to that worker, so that requests and replies never get out of step.
        self._pending: list[int] = []
        # How each worker known to be gone ended, by index; such workers are never talked to again.
        self._dead: dict[int, str] = {}
        try:
            for env_fn in env_fns:
                self._start_worker(ctx, env_fn)
            all_spaces = self._gather(range(len(env_fns)), "create the environment")
        except BaseException:
            # Workers already started must not be left behind (e.g. when a later env_fn cannot be pickled).
            self.close()
            raise
        observation_space, action_space = all_spaces[0]
        super().__init__(len(env_fns), observation_space, action_space)

    def _start_worker(self, ctx: Any, env_fn: Callable[[], gym.Env]) -> None:
        """
        Start one worker process that builds its env with ``env_fn``.

        :param ctx: the multiprocessing context
        :param env_fn: the function that creates the env
        """
        remote, work_remote = ctx.Pipe()
        # The kernel's parent-death signal follows the forking thread: used when that is this process's main thread
        # (see _exit_with_parent).
        use_death_signal = self._start_method != "forkserver" and threading.current_thread() is threading.main_thread()
        inherited = list(_PARENT_ENDS) if self._start_method == "fork" else []
        args = (work_remote, remote, CloudpickleWrapper(env_fn), use_death_signal, inherited)
        # daemon: workers must not outlive a parent that exits normally.
        process = ctx.Process(target=_worker, args=args, daemon=True)
        try:
            process.start()
        except BaseException:
            remote.close()
            raise
        finally:
            # The parent keeps only its own end, so that a dead worker shows up as a closed pipe.
            work_remote.close()
        self.remotes.append(remote)
        _PARENT_ENDS.add(remote)
        self.processes.append(process)
        # Each worker reports its spaces, or the error, once its env is built.
        self._pending.append(1)

    def _send(self, env_idx: int, cmd: str, data: Any) -> None:
        """
        Send a command to one worker, after reading the replies it still owes. A worker that cannot be reached is
        marked dead; the error is raised when its reply is awaited.

        :param env_idx: index of the worker
        :param cmd: the command
        :param data: its argument
        """
        while self._pending[env_idx] > 0 and env_idx not in self._dead:
            with contextlib.suppress(Exception):
                self._recv(env_idx, "finish an earlier command")
        if env_idx in self._dead:
            return
        try:
            self.remotes[env_idx].send((cmd, data))
        except (ConnectionError, EOFError, OSError):
            self._mark_dead(env_idx)
            return
        self._pending[env_idx] += 1

    def _mark_dead(self, env_idx: int) -> None:
        process = self.processes[env_idx]
        process.join(timeout=1.0)
        self._dead[env_idx] = _describe_exit(process.exitcode)
        self._pending[env_idx] = 0

    def _recv(self, env_idx: int, action: str, timeout: float | None = None) -> Any:
        """
        Wait for one worker's next reply, or for its death.

        :param env_idx: index of the worker
        :param action: what the worker was asked to do, for error messages
        :param timeout: seconds to wait at most (None: no limit)
        :return: the result of the command
        :raises EOFError: when the worker is dead
        :raises TimeoutError: when ``timeout`` passed without a reply
        """
        remote, process = self.remotes[env_idx], self.processes[env_idx]
        if env_idx not in self._dead:
            # Waiting on the process sentinel too: a worker killed without closing its pipe end (e.g. when another
            # process holds a copy of it) must not leave the parent blocked forever.
            if not wait([remote, process.sentinel], timeout):
                raise TimeoutError(f"SubprocVecEnv worker {env_idx} did not reply within {timeout} s to {action}")
            with contextlib.suppress(ConnectionError, EOFError, OSError):
                if remote.poll():
                    return self._read_reply(env_idx, action)
            self._mark_dead(env_idx)
        raise self._lost_worker_error(env_idx, action)

    def _read_reply(self, env_idx: int, action: str) -> Any:
        """
        Read a reply that is known to be there (its pipe is readable).

        :param env_idx: index of the worker
        :param action: what the worker was asked to do, for error messages
        :return: the result of the command
        """
        try:
            status, payload = self.remotes[env_idx].recv()
        except (ConnectionError, EOFError, OSError):
            self._mark_dead(env_idx)
            raise self._lost_worker_error(env_idx, action) from None
        self._pending[env_idx] -= 1
        if status != "ok":
            self._raise_worker_error(env_idx, action, payload)
        return payload

    def _lost_worker_error(self, env_idx: int, action: str) -> EOFError:
        return EOFError(
            f"SubprocVecEnv worker {env_idx} (pid {self.processes[env_idx].pid}) {self._dead[env_idx]} while trying to "
            f"{action}; its environment is lost. Close this VecEnv and create a new one."
        )

    def _raise_worker_error(self, env_idx: int, action: str, payload: tuple[str, str, bytes | None]) -> None:
        summary, trace, pickled = payload
        note = (
            f"Raised in SubprocVecEnv worker {env_idx} (pid {self.processes[env_idx].pid}) while trying to {action}. "
            f"Worker traceback:\n{trace}"
        )
        original: BaseException | None = None
        if pickled is not None:
            try:
                original = pickle.loads(pickled)
            except Exception:
                original = None
        if isinstance(original, BaseException):
            # Same exception type as DummyVecEnv would raise, so that callers' except clauses work for both.
            original.add_note(note)
            raise original
        raise RuntimeError(f"SubprocVecEnv worker {env_idx} raised {summary} while trying to {action}.\n{note}")

    def _gather(self, indices: Sequence[int] | range, action: str, timeout: float | None = None) -> list[Any]:
        """
        Collect the replies of several workers, in whatever order they come, and raise the first failure (an error
        or a dead worker) as soon as it is seen.

        :param indices: the workers that were sent a command
        :param action: what they were asked to do, for error messages
        :param timeout: seconds to wait for all replies at most (None: no limit)
        :return: the results, in the order of ``indices``
        :raises TimeoutError: naming the workers that did not reply in time
        """
        indices = list(indices)
        results: dict[int, Any] = {}
        for env_idx in indices:
            if env_idx in self._dead:
                self._recv(env_idx, action)
        waiting_on = set(indices)
        deadline = None if timeout is None else time.monotonic() + timeout
        while waiting_on:
            handles = {self.remotes[i]: i for i in waiting_on} | {self.processes[i].sentinel: i for i in waiting_on}
            ready = wait(list(handles), None if deadline is None else max(deadline - time.monotonic(), 0.0))
            if not ready:
                late = sorted(waiting_on)
                raise TimeoutError(
                    f"SubprocVecEnv worker{'s' if len(late) > 1 else ''} {', '.join(map(str, late))} (env index) did not "
                    f"{action} within step_timeout={timeout} s. The environment is now in an unknown state: close this "
                    "VecEnv (close() terminates stuck workers), or raise step_timeout for slower environments."
                )
            for handle in ready:
                env_idx = handles[handle]
                if env_idx in waiting_on:
                    # A readable pipe holds the reply: read it without waiting again (one system call per worker).
                    readable = handle is self.remotes[env_idx]
                    results[env_idx] = self._read_reply(env_idx, action) if readable else self._recv(env_idx, action)
                    waiting_on.discard(env_idx)
        return [results[env_idx] for env_idx in indices]

    def step_async(self, actions: np.ndarray) -> None:
        if len(actions) != self.num_envs:
            raise ValueError(f"Expected one action per environment ({self.num_envs}), got {len(actions)}")
        for env_idx, action in enumerate(actions):
            self._send(env_idx, "step", action)
        self.waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        try:
            results = self._gather(range(self.num_envs), "step the environment", self.step_timeout)
        finally:
            self.waiting = False
        obs, rewards, dones, infos, reset_infos = zip(*results, strict=True)
        self.reset_infos = list(reset_infos)
        return _stack_obs(obs, self.observation_space), np.stack(rewards), np.stack(dones), list(infos)

    def reset(self) -> VecEnvObs:
        for env_idx in range(self.num_envs):
            self._send(env_idx, "reset", (self._seeds[env_idx], self._options[env_idx]))
        results = self._gather(range(self.num_envs), "reset the environment")
        obs, reset_infos = zip(*results, strict=True)
        self.reset_infos = list(reset_infos)
        self._reset_seeds()
        self._reset_options()
        return _stack_obs(obs, self.observation_space)

    def close(self) -> None:
        """
        End every worker (closing its env) and free the pipes. Replies still owed are read first; a worker that is
        stuck, or does not exit within a few seconds, is terminated.
        """
        if self.closed:
            return
        deadline = time.monotonic() + _CLOSE_TIMEOUT
        for env_idx in range(len(self.remotes)):
            if self._read_owed_replies_before_close(env_idx, deadline):
                self._send(env_idx, "close", None)
        for process in self.processes:
            process.join(timeout=max(deadline - time.monotonic(), 0.0))
            if process.is_alive():
                process.terminate()
                process.join(timeout=1.0)
            if process.is_alive():
                process.kill()
                process.join()
        # Closing the parent's ends now, not at garbage collection, avoids "Too many open files" when many
        # SubprocVecEnv are created in one process (e.g. hyperparameter searches).
        for remote in self.remotes:
            _PARENT_ENDS.discard(remote)
            remote.close()
        self.waiting = False
        self.closed = True

    def _read_owed_replies_before_close(self, env_idx: int, deadline: float) -> bool:
        """
        :param env_idx: index of the worker
        :param deadline: ``time.monotonic()`` value after which the worker counts as stuck
        :return: whether the worker is alive and ready for the close command (False: dead or stuck)
        """
        while self._pending[env_idx] > 0 and env_idx not in self._dead:
            try:
                self._recv(env_idx, "finish before closing", timeout=max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                return False
            except Exception:
                # The outcome of an abandoned command does not matter any more.
                continue
        return env_idx not in self._dead

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but this method assumes it is `rgb_array` to obtain images."
            )
            return [None for _ in self.remotes]
        for env_idx in range(self.num_envs):
            self._send(env_idx, "render", None)
        return self._gather(range(self.num_envs), "render")

    def has_attr(self, attr_name: str) -> bool:
        """Whether every sub-environment has attribute ``attr_name`` (see ``VecEnv.has_attr``)."""
        indices = list(range(self.num_envs))
        for env_idx in indices:
            self._send(env_idx, "has_attr", attr_name)
        return all(self._gather(indices, f"look up attribute {attr_name!r}"))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Read an attribute of sub-environments (see ``VecEnv.get_attr``)."""
        target = list(self._get_indices(indices))
        for env_idx in target:
            self._send(env_idx, "get_attr", attr_name)
        return self._gather(target, f"get attribute {attr_name!r}")

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on sub-environments (see ``VecEnv.set_attr``)."""
        target = list(self._get_indices(indices))
        for env_idx in target:
            self._send(env_idx, "set_attr", (attr_name, value))
        self._gather(target, f"set attribute {attr_name!r}")

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call a method of sub-environments (see ``VecEnv.env_method``)."""
        target = list(self._get_indices(indices))
        for env_idx in target:
            self._send(env_idx, "env_method", (method_name, method_args, method_kwargs))
        return self._gather(target, f"call method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Whether sub-environments are wrapped with ``wrapper_class`` (see ``VecEnv.env_is_wrapped``)."""
        target = list(self._get_indices(indices))
        for env_idx in target:
            self._send(env_idx, "is_wrapped", wrapper_class)
        return self._gather(target, f"check for wrapper {wrapper_class.__name__}")


def _stack_obs(obs_list: list[VecEnvObs] | tuple[VecEnvObs, ...], space: spaces.Space) -> VecEnvObs:
    """
    Stack the observations of several envs along a new first axis, following the structure of the space.

    :param obs_list: one observation per env (array, dict of arrays or tuple of arrays)
    :param space: the observation space of one env
    :return: an array, or a dict or tuple of arrays, whose first axis is the env index
    """
    if not isinstance(obs_list, (list, tuple)) or len(obs_list) == 0:
        raise UsageError("expected a non-empty list or tuple of observations, one per environment")
    if isinstance(space, spaces.Dict):
        if not isinstance(obs_list[0], dict):
            raise UsageError("non-dict observation for environment with Dict observation space")
        return {key: np.stack([single_obs[key] for single_obs in obs_list]) for key in space.spaces}  # type: ignore[call-overload]
    if isinstance(space, spaces.Tuple):
        if not isinstance(obs_list[0], tuple):
            raise UsageError("non-tuple observation for environment with Tuple observation space")
        return tuple(np.stack([single_obs[i] for single_obs in obs_list]) for i in range(len(space.spaces)))  # type: ignore[index]
    return np.stack(obs_list)  # type: ignore[arg-type]
