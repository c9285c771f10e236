"""
Checks of hyperparameters at the public boundary, before any compiled code sees them.

A value that makes no sense (``batch_size=0``, ``max_grad_norm=-1``, ``gamma=2``) would otherwise surface as an obscure
error from inside a traced MLX function, or silently train nonsense. One table holds the rule for each hyperparameter
name shared by the algorithms, so every algorithm refuses the same values with the same words. Failures raise
:class:`~mlx_baselines3.common.exceptions.UsageError` (a ``ValueError`` and an ``AssertionError``, as SB3's asserts)
naming the algorithm, the value and the fix; SB3's message fragments are kept where SB3 has a check.
"""

import functools
import inspect
import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, NamedTuple

from mlx_baselines3.common.exceptions import UsageError


class _Rule(NamedTuple):
    """A hyperparameter rule: a predicate and what it requires, in words."""

    accepts: Callable[[Any], bool]
    requirement: str


def _integer_at_least(minimum: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= minimum


def _number_in(low: float, high: float, low_open: bool = False) -> Callable[[Any], bool]:
    def accepts(value: Any) -> bool:
        if not isinstance(value, Real) or isinstance(value, bool) or math.isnan(value):
            return False
        number = float(value)
        return (low < number if low_open else low <= number) and number <= high

    return accepts


def _positive_or_schedule(value: Any) -> bool:
    return callable(value) or _number_in(0.0, math.inf, low_open=True)(value)


_UNIT = "a number in [0, 1]"

_RULES: dict[str, _Rule] = {
    "batch_size": _Rule(_integer_at_least(1), "an integer >= 1 (the number of samples in one gradient step)"),
    "n_steps": _Rule(_integer_at_least(1), "an integer >= 1 (steps per environment and rollout, or n-step returns)"),
    "n_epochs": _Rule(_integer_at_least(1), "an integer >= 1 (passes over each rollout)"),
    "buffer_size": _Rule(_integer_at_least(1), "an integer >= 1 (transitions kept in the replay buffer)"),
    "learning_starts": _Rule(_number_in(0.0, math.inf), "a number >= 0 (environment steps before training starts)"),
    "gradient_steps": _Rule(
        _integer_at_least(-1), "an integer >= -1 (gradient steps per rollout; -1: as many as environment steps)"
    ),
    "target_update_interval": _Rule(_integer_at_least(1), "an integer >= 1 (steps between target network updates)"),
    "policy_delay": _Rule(_integer_at_least(1), "an integer >= 1 (critic updates per actor update)"),
    "gamma": _Rule(_number_in(0.0, 1.0), f"{_UNIT} (the discount factor)"),
    "gae_lambda": _Rule(_number_in(0.0, 1.0), f"{_UNIT} (the GAE bias/variance trade-off)"),
    "tau": _Rule(_number_in(0.0, 1.0), f"{_UNIT} (the soft update coefficient; 1 copies the weights)"),
    "exploration_fraction": _Rule(_number_in(0.0, 1.0), f"{_UNIT} (the share of training spent decaying epsilon)"),
    "exploration_initial_eps": _Rule(_number_in(0.0, 1.0), f"{_UNIT} (a probability of a random action)"),
    "exploration_final_eps": _Rule(_number_in(0.0, 1.0), f"{_UNIT} (a probability of a random action)"),
    "max_grad_norm": _Rule(_number_in(0.0, math.inf), "a number >= 0 (the gradient norm clipping threshold)"),
    "target_policy_noise": _Rule(_number_in(0.0, math.inf), "a number >= 0 (the std of the target policy smoothing)"),
    "target_noise_clip": _Rule(_number_in(0.0, math.inf), "a number >= 0 (the limit of the target policy noise)"),
    "clip_range": _Rule(_positive_or_schedule, "a number > 0 or a schedule (the PPO clipping parameter)"),
    "clip_range_vf": _Rule(
        lambda value: value is None or _positive_or_schedule(value),
        "positive, pass `None` to deactivate vf clipping (a number > 0 or a schedule)",
    ),
    "target_kl": _Rule(
        lambda value: value is None or _number_in(0.0, math.inf, low_open=True)(value),
        "a number > 0 or None (the KL divergence limit for early stopping)",
    ),
}


@functools.cache
def _defaults(cls: type) -> dict[str, Any]:
    """:return: the keyword defaults of the constructor of ``cls`` (used to suggest a fix)"""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def check_hyperparameters(owner: object, **values: Any) -> None:
    """
    Refuse hyperparameters outside their valid range, before any compiled code runs with them.

    :param owner: the algorithm (its class names the error and provides the default suggested as the fix)
    :param values: hyperparameters by name; each must have a rule in this module
    :raises UsageError: naming the first invalid value, what is required and the class's default
    """
    for name, value in values.items():
        rule = _RULES[name]
        if rule.accepts(value):
            continue
        cls = owner if isinstance(owner, type) else type(owner)
        default = _defaults(cls).get(name, inspect.Parameter.empty)
        fix = f" Pass a valid value, e.g. {name}={default!r} ({cls.__name__}'s default)." if rule.accepts(default) else ""
        raise UsageError(f"{cls.__name__}: `{name}` must be {rule.requirement}, got {value!r}.{fix}")
