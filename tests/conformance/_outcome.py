"""Run the same call on mlx_baselines3 and on SB3 and compare what users observe: the value, or the exception."""

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class Outcome(NamedTuple):
    """What a call did: its value, or the exception it raised, and the warnings it gave."""

    value: Any
    error: BaseException | None
    warning_messages: tuple[str, ...]


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """
    :param fn: the function to call
    :return: the call's value or exception, with the messages of the warnings it gave
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, error = fn(*args, **kwargs), None
        except Exception as exc:
            value, error = None, exc
    return Outcome(value, error, tuple(str(w.message) for w in caught))


def assert_same_failure(ours: Outcome, theirs: Outcome, fragment_length: int = 40) -> None:
    """
    Both calls raised; ours is catchable as SB3's exception class and keeps the start of SB3's message.

    :param ours: the outcome of our call
    :param theirs: the outcome of SB3's call
    :param fragment_length: how many characters of SB3's message must appear in ours
    """
    assert theirs.error is not None, f"SB3 did not raise (value {theirs.value!r})"
    assert ours.error is not None, f"we did not raise where SB3 raised {theirs.error!r} (value {ours.value!r})"
    assert isinstance(ours.error, type(theirs.error)), f"{ours.error!r} is not a {type(theirs.error).__name__}"
    fragment = str(theirs.error)[:fragment_length]
    assert fragment in str(ours.error), f"{fragment!r} not in {str(ours.error)!r}"


def assert_same_value(ours: Outcome, theirs: Outcome) -> None:
    """
    Both calls returned values of the same Python type that compare equal (arrays: same dtype and values).

    :param ours: the outcome of our call
    :param theirs: the outcome of SB3's call
    """
    assert theirs.error is None, f"SB3 raised {theirs.error!r}"
    assert ours.error is None, f"we raised {ours.error!r} where SB3 returned {theirs.value!r}"
    assert type(ours.value) is type(theirs.value), f"{type(ours.value)} != {type(theirs.value)}"
    if isinstance(theirs.value, np.ndarray):
        assert ours.value.dtype == theirs.value.dtype
        np.testing.assert_array_equal(ours.value, theirs.value)
    else:
        assert ours.value == theirs.value
