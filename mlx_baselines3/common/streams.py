"""
Running a model's work on the model's device, from whichever thread calls it.

MLX chooses where an operation runs from the calling thread's default device and stream, and its streams belong to
the thread that made them: an array that is still lazy (not evaluated) when another thread uses it fails with
``There is no Stream(cpu, 0) in current thread``, and lazy arrays of a finished thread can abort the interpreter
at exit. Two rules make every model usable from any thread, one thread at a time per model (as in SB3), with no
process-wide setting changed:

- each public call on a model (building it, ``learn``, ``train``, ``predict``, ``save``, ``load``, parameters in and
  out) runs inside ``mx.stream(model.device.mlx_device)``: the model's device, on the calling thread's own stream;
- calls that change the model's arrays end by evaluating them (parameters, optimizer state, learned scalars) and the
  thread's random key, so that no lazy array outlives the call; other calls evaluate the random key when they run
  in a thread other than the main one.

MLX's random generator is per thread as well. So that a seeded model gives the same results whichever thread trains
it (SB3's global torch generator does), an algorithm's random stream follows it: when a call comes from another
thread than the last one, that thread's generator continues from the key the model's last call left.
"""

import functools
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

F = TypeVar("F", bound=Callable[..., Any])

# Objects whose public call is running, per thread: nested calls (learn -> train -> predict) enter the device once.
_active = threading.local()
# For each algorithm: the thread (a token unique to it) of its last call and the random key that call left.
_random_streams: "weakref.WeakKeyDictionary[Any, tuple[object, mx.array]]" = weakref.WeakKeyDictionary()


def _random_state() -> list[mx.array]:
    """:return: this thread's random key(s), as a list (``mx.random.state`` is list-like)"""
    return list(cast(Any, mx.random.state))


def _thread_token() -> object:
    return _active.__dict__.setdefault("token", object())


def _continue_random_stream(owner: Any) -> None:
    """Continue ``owner``'s random stream in this thread if its last call ran in another one."""
    last = _random_streams.get(owner)
    if last is not None and last[0] is not _thread_token():
        high, low = cast(list[int], last[1].tolist())
        # mx.random.state cannot be assigned to; seeding with the 64 bits of a key makes that key current.
        mx.random.seed((high << 32) | low)


def _keep_random_stream(owner: Any) -> None:
    """Remember the (evaluated) random key ``owner``'s call leaves, and this thread."""
    key = _random_state()[0]
    mx.eval(key)
    _random_streams[owner] = (_thread_token(), key)


def model_arrays(owner: object) -> list[Any]:
    """
    The array trees an algorithm or policy owns: its modules (parameters and buffers), the state of every optimizer
    held by it or by one of its modules, and its array attributes (e.g. SAC's ``log_ent_coef``).

    :param owner: an algorithm or a policy
    :return: trees that ``mx.eval`` accepts
    """
    trees: list[Any] = []
    for value in vars(owner).values():
        if isinstance(value, mx.array):
            trees.append(value)
        elif isinstance(value, optim.Optimizer):
            trees.append(value.state)
        elif isinstance(value, nn.Module):
            trees.append(value)
            trees.extend(
                attribute.state
                for module in value.modules()
                for attribute in vars(module).values()
                if isinstance(attribute, optim.Optimizer)
            )
    return trees


def settle(owner: object) -> None:
    """
    Evaluate everything lazy that ``owner`` holds, and this thread's random key, so that the next call may come from
    another thread.

    :param owner: an algorithm or a policy
    """
    mx.eval(model_arrays(owner), _random_state())


def on_model_device(method: F, settles: bool) -> F:
    """
    Wrap a method of an object with a ``device`` (a :class:`~mlx_baselines3.common.utils.Device`) so that it runs on
    that device, on the calling thread's stream; see the module docstring.

    :param method: the method
    :param settles: evaluate the object's arrays when the call returns (for calls that change them)
    :return: the wrapped method
    """
    if getattr(method, "_on_model_device", False):
        return method

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        running = _active.__dict__.setdefault("ids", set())
        if id(self) in running:
            return method(self, *args, **kwargs)
        running.add(id(self))
        follows_random_stream = _is_weakly_hashable(self)
        try:
            with mx.stream(self.device.mlx_device):
                if follows_random_stream:
                    _continue_random_stream(self)
                result = method(self, *args, **kwargs)
                if settles:
                    settle(self)
                elif threading.current_thread() is not threading.main_thread():
                    # A call that only draws random numbers (predict) leaves this thread's key lazy: a worker thread
                    # that ends holding one aborts the interpreter at exit.
                    mx.eval(_random_state())
                if follows_random_stream:
                    _keep_random_stream(self)
        finally:
            running.discard(id(self))
        return result

    wrapper._on_model_device = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def settling_loader(load: F) -> F:
    """
    Wrap a class method that builds and returns a model (``load``) so that the model holds no lazy array when it is
    returned: it may be used next from another thread.

    :param load: the function under the class method
    :return: the wrapped function
    """
    if getattr(load, "_on_model_device", False):
        return load

    @functools.wraps(load)
    def wrapper(cls: type, *args: Any, **kwargs: Any) -> Any:
        model = load(cls, *args, **kwargs)
        with mx.stream(model.device.mlx_device):
            settle(model)
            _keep_random_stream(model)
        return model

    wrapper._on_model_device = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _is_weakly_hashable(owner: Any) -> bool:
    # Algorithms; policies are MLX modules (dicts), which cannot be keys.
    return not isinstance(owner, dict)


def run_on_model_device(cls: type, methods: Iterable[tuple[str, bool]]) -> None:
    """
    Wrap the methods that ``cls`` itself defines (not inherited ones, already wrapped) with :func:`on_model_device`,
    and class methods (``load``) with :func:`settling_loader`.

    :param cls: the class
    :param methods: ``(method name, settles)`` pairs
    """
    for name, settles in methods:
        method = cls.__dict__.get(name)
        if isinstance(method, classmethod):
            setattr(cls, name, classmethod(settling_loader(method.__func__)))
        elif callable(method) and not isinstance(method, staticmethod):
            setattr(cls, name, on_model_device(method, settles))
