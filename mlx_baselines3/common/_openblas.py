"""
OpenBLAS for MLX on Linux, as seen from inside the package: the loader itself is the top-level module
``_mlx_baselines3_openblas`` (standard library only, so that the interpreter-startup hook can run it without
importing MLX or this package). See that module and ``docs/performance.md``.
"""

from typing import Any

import _mlx_baselines3_openblas as _loader

OPT_OUT_VARIABLE = _loader.OPT_OUT_VARIABLE


def preload_openblas() -> str | None:
    """
    Load OpenBLAS globally so that MLX binds its BLAS calls to it, unless that already happened (at startup through
    the ``.pth`` hook, or earlier in this process). Never raises.

    :return: the path of the loaded library, or ``None`` when nothing was loaded
    """
    return _loader.preload_openblas()


def __getattr__(name: str) -> Any:
    # ``loaded_path``: the path of the loaded OpenBLAS, or None (read live: the startup hook may have set it).
    if name == "loaded_path":
        return _loader.loaded_path
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
