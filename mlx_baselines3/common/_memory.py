"""
Keep MLX's freed buffers for reuse on the CPU.

MLX keeps freed buffers in a cache and hands them out again, but on the CPU the cache holds only 32 MiB by default.
A training step of a convolutional policy allocates and frees hundreds of MiB (NatureCNN at batch 256: 440 MiB at
its peak), so each step would get fresh memory from the system and pay a page fault for every 4 KiB it touches:
that made one NatureCNN update 1.5x slower (430 vs 285 ms of CPU time). Raising the limit lets every step reuse the
previous step's buffers. Memory in the cache stays allocated to the process, at most the limit, and never more than
the largest step needed. See ``docs/performance.md``.

``MLX_BASELINES3_CACHE_LIMIT_MB`` sets the limit in MiB; ``0`` leaves MLX's own limit.
"""

import os
import warnings

import mlx.core as mx

LIMIT_VARIABLE = "MLX_BASELINES3_CACHE_LIMIT_MB"
DEFAULT_LIMIT_MB = 1024


def raise_cache_limit() -> int | None:
    """
    Raise MLX's buffer cache limit to ``MLX_BASELINES3_CACHE_LIMIT_MB`` (default 1024 MiB), never lowering it (MLX's
    GPU backends start with a larger one).

    :return: the limit in bytes now in force, or ``None`` when the variable is ``0`` (MLX's limit is left alone)
    """
    value = os.environ.get(LIMIT_VARIABLE, str(DEFAULT_LIMIT_MB))
    try:
        limit_mb = int(value)
    except ValueError:
        warnings.warn(
            f"{LIMIT_VARIABLE} must be a whole number of MiB (0 keeps MLX's limit), got {value!r}: using {DEFAULT_LIMIT_MB}.",
            stacklevel=3,
        )
        limit_mb = DEFAULT_LIMIT_MB
    if limit_mb <= 0:
        return None
    limit = limit_mb * 1024 * 1024
    previous = mx.set_cache_limit(limit)
    if previous > limit:
        mx.set_cache_limit(previous)
        return previous
    return limit
