"""The exception classes mlx_baselines3 raises on purpose, so that user code can catch them by name.

SB3 signals API misuse with bare ``assert`` statements, so code written for SB3 (and SB3's own tooling, such as the
RL Zoo) catches :class:`AssertionError`. We validate with explicit checks and clearer messages instead, and raise
:class:`UsageError`, which is both a :class:`ValueError` (what a Python user expects for a bad argument) and an
:class:`AssertionError` (what SB3 code catches). Messages keep SB3's wording as a fragment, so text matches still hit.

Files that default (safe) loading refuses or cannot read raise :class:`LoadError`, a :class:`ValueError`.
"""


class UsageError(ValueError, AssertionError):
    """A call that SB3 refuses with an ``AssertionError``: a bad argument, space or combination of options."""


class LoadError(ValueError):
    """A saved file (zip, ``.pth`` member, pickle) that cannot be loaded safely: corrupt, hostile, or needing trust.

    The message names the file, the member and what was wrong, and the opt-in (``custom_objects`` or
    ``trusted=True``) where one exists.
    """
