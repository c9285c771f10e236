"""
Load OpenBLAS ahead of MLX on Linux.

The ``mlx-cpu`` wheel bundles the reference (netlib) BLAS, which is 20-30x slower than OpenBLAS on the
matrix products our networks are made of. ``libmlx`` resolves ``cblas_sgemm`` when it is loaded, so
loading OpenBLAS (from the ``cmeel-openblas`` wheel) with ``RTLD_GLOBAL`` *before* ``mlx.core`` makes
MLX use it. Set ``MLX_BASELINES3_OPENBLAS=0`` to opt out.
"""

import ctypes
import importlib.metadata
import os
import sys
import warnings

OPT_OUT_VARIABLE = "MLX_BASELINES3_OPENBLAS"

#: Path of the OpenBLAS library that was loaded, or ``None`` when none was (not Linux, opted out, not found).
loaded_path: str | None = None


def _find_openblas() -> str | None:
    try:
        files = importlib.metadata.files("cmeel-openblas") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "libopenblas.so.0":
            return str(file.locate())
    return None


def preload_openblas() -> str | None:
    """
    Load OpenBLAS globally so that MLX binds its BLAS calls to it.

    :return: the path of the loaded library, or ``None`` when nothing was loaded
    """
    global loaded_path
    if loaded_path is not None or not sys.platform.startswith("linux"):
        return loaded_path
    if os.environ.get(OPT_OUT_VARIABLE, "1").lower() in ("0", "false", "no", "off"):
        return None
    path = _find_openblas()
    if path is None:
        return None
    if "mlx.core" in sys.modules:
        warnings.warn(
            "mlx.core was imported before mlx_baselines3, so MLX keeps its slow bundled reference BLAS. "
            "Import mlx_baselines3 first for OpenBLAS (20-30x faster matrix products), "
            f"or set {OPT_OUT_VARIABLE}=0 to silence this warning.",
            stacklevel=3,
        )
        return None
    # Our networks are small: one BLAS thread avoids oversubscribing the cores the envs use.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as error:
        # Typically a missing libgfortran.so.5: the import must still work, with the slow bundled BLAS.
        warnings.warn(
            f"Could not load OpenBLAS ({error}), so MLX keeps its slow bundled reference BLAS. "
            "Install the missing library (e.g. `apt-get install libgfortran5`) for 20-30x faster matrix products, "
            f"or set {OPT_OUT_VARIABLE}=0 to silence this warning.",
            stacklevel=3,
        )
        return None
    loaded_path = path
    return path
