"""
How updates and inference are compiled: one wrapper around ``mx.compile`` for every compiled function of the library,
and the gradient of a parameter subset.

An update step is a pure function of its arguments and of a *state*: the modules, optimizer states and learned
scalars it reads and writes, plus ``mx.random.state`` (so that sampling and dropout draw fresh numbers at every call).
``compile_update(step, state)`` compiles it once with ``inputs=state, outputs=state``; the algorithm then calls it
once per gradient step (see ``docs/guide/architecture.md``).

When a compiled call raises (while MLX traces it, e.g. a custom network that fails on some input), MLX leaves its
placeholder arrays in the captured state: in ``mx.random.state`` that breaks every later random draw of the
process, in a module every later call. ``CompiledFunction`` puts the state back as it was before the call, so the
error is the only consequence.

MLX aborts the interpreter at exit (``terminate called without an active exception``) when a compiled function was
traced in a thread that has ended and its traced graph is still cached; every ``CompiledFunction`` therefore drops its
compiled graph when the interpreter exits (and then runs uncompiled, for code that still calls it during shutdown).
"""

import atexit
import gc
import weakref
from collections.abc import Callable
from typing import Any

import mlx.core as mx
import mlx.nn as nn

#: The type of ``mx.random.state`` (list-like, not a list).
_RandomState = type(mx.random.state)


def _signature(value: Any) -> Any:
    """What MLX's compile cache keys a call on: the shapes and dtypes of arrays, and the values of constants."""
    if isinstance(value, mx.array):
        return (value.shape, value.dtype)
    if isinstance(value, (list, tuple)):
        return (type(value), *map(_signature, value))
    if isinstance(value, dict):
        return tuple((key, _signature(item)) for key, item in value.items())
    return (type(value), value)


def _containers(tree: Any, found: list[tuple[Any, Any]]) -> None:
    """Every dict (modules included) and list of a state tree, each with a shallow copy of its current content."""
    if isinstance(tree, dict):
        found.append((tree, dict(tree)))
        for item in tree.values():
            _containers(item, found)
    elif isinstance(tree, (list, _RandomState)):
        found.append((tree, list(tree)))
        for item in tree:
            _containers(item, found)


def _restore(saved: list[tuple[Any, Any]]) -> None:
    for container, content in saved:
        if isinstance(container, dict):
            # dict's methods, not Module.update (which merges parameter trees).
            dict.clear(container)
            dict.update(container, content)
        elif isinstance(container, list):
            container[:] = content
        else:
            # mx.random.state cannot be assigned to; seeding with the 64 bits of a key makes that key current.
            high, low = content[0].tolist()
            mx.random.seed((high << 32) | low)


#: Every compiled function alive, released at exit (see the module docstring).
_LIVE: "weakref.WeakSet[CompiledFunction]" = weakref.WeakSet()


@atexit.register
def _release_compiled_functions() -> None:
    for compiled in list(_LIVE):
        compiled._release()
    # The compiled graphs may sit in reference cycles (a step closing over its model): free them now, not at teardown.
    gc.collect()


class CompiledFunction:
    """
    ``mx.compile(fn, inputs=inputs, outputs=outputs)`` that restores its captured state when a call raises.

    A call can only leave placeholders behind when MLX traces the function, which happens for argument shapes,
    dtypes and constants not seen before: the state is saved (a shallow copy of its containers, no array is copied)
    before such calls only, so steady-state calls cost what the bare compiled function costs.

    :param fn: the pure function
    :param inputs: the state trees it reads (modules, optimizer states, ``mx.random.state``)
    :param outputs: the state trees it writes
    """

    def __init__(self, fn: Callable, inputs: list[Any], outputs: list[Any] | None = None):
        self.state = inputs
        self._fn = fn
        self._compiled = mx.compile(fn, inputs=inputs, outputs=outputs)
        self._traced: set[Any] = set()
        _LIVE.add(self)

    def _release(self) -> None:
        """Drop the compiled graph (MLX then frees its cache entry); later calls run the function uncompiled."""
        self._compiled = self._fn

    def __call__(self, *args: Any) -> Any:
        signature = _signature(args)
        if signature in self._traced:
            return self._compiled(*args)
        saved: list[tuple[Any, Any]] = []
        _containers(self.state, saved)
        try:
            result = self._compiled(*args)
        except BaseException:
            _restore(saved)
            raise
        self._traced.add(signature)
        return result


def compile_update(step: Callable, state: list[Any]) -> CompiledFunction:
    """
    Compile an update step once: ``state`` (modules, optimizer states, learned scalars) is read and written by the
    compiled function, and ``mx.random.state`` is added to it so that every call draws new random numbers.

    :param step: the pure step function (arrays and constant Python values in, arrays out)
    :param state: the state trees the step reads and writes
    :return: the compiled step
    """
    state = [*state, mx.random.state]
    return CompiledFunction(step, inputs=state, outputs=state)


def compile_inference(fn: Callable, module: nn.Module) -> CompiledFunction:
    """
    Compile an inference function of a module: its parameters and the random state are read (so that new weights and
    fresh noise are seen without tracing again), only the random state is written.

    :param fn: a function of arrays and constant Python flags
    :param module: the module whose arrays ``fn`` reads
    :return: the compiled function
    """
    return CompiledFunction(fn, inputs=[module.state, mx.random.state], outputs=[mx.random.state])


def value_and_grad(module: nn.Module, loss_fn: Callable, parameters: Callable[[nn.Module], Any] | None = None) -> Callable:
    """
    ``nn.value_and_grad`` for a subset of a module's parameters: the loss and its gradient with respect to
    ``parameters(module)`` (default: all trainable parameters, which is ``nn.value_and_grad``). The gradient tree has
    the subset's structure, which ``Optimizer.update(module, grads)`` accepts.

    A critic that shares the actor's features extractor is the use case: its optimizer leaves the extractor out.

    :param module: the module
    :param loss_fn: the loss, a function of the step's arrays that calls ``module``
    :param parameters: the parameter subset to differentiate, as a function of the module
    :return: a function with ``loss_fn``'s arguments returning ``(loss, grads)``
    """
    if parameters is None:
        return nn.value_and_grad(module, loss_fn)

    def loss_of_parameters(params: Any, *args: Any) -> Any:
        module.update(params)
        return loss_fn(*args)

    differentiate = mx.value_and_grad(loss_of_parameters)
    return lambda *args: differentiate(parameters(module), *args)


__all__ = ["CompiledFunction", "compile_inference", "compile_update", "value_and_grad"]
