"""
Load OpenBLAS ahead of MLX on Linux.

The ``mlx-cpu`` wheel bundles the reference (netlib) BLAS, which is 10-20x slower than OpenBLAS on the
matrix products our networks are made of. ``libmlx`` resolves ``cblas_sgemm`` when it is loaded, so
loading OpenBLAS with ``RTLD_GLOBAL`` *before* ``mlx.core`` makes MLX use it.

OpenBLAS comes from the ``ngsolve-openblas`` wheel. Its library needs ``libgfortran.so.5``, which most
machines do not have outside a Fortran toolchain, and which no PyPI wheel ships under that name in a
stable way. ``mlx-cpu`` itself ships a libgfortran (renamed by auditwheel, so the dynamic linker cannot
find it by that name). The OpenBLAS library looks for its dependencies next to itself (``RPATH=$ORIGIN``),
and ``$ORIGIN`` is the folder of the path it was opened by, symbolic links included. So we open it through a
symbolic link in a temporary folder that also holds ``libgfortran.so.5`` -> MLX's copy: one libgfortran in
the process, no installed file touched, and the folder is removed once the libraries are mapped.

Set ``MLX_BASELINES3_OPENBLAS=0`` to opt out. See ``docs/performance.md``.
"""

import ctypes
import fnmatch
import importlib.metadata
import os
import sys
import tempfile
import warnings
from pathlib import Path

OPT_OUT_VARIABLE = "MLX_BASELINES3_OPENBLAS"

#: Path of the OpenBLAS library that was loaded, or ``None`` when none was (not Linux, opted out, not found).
loaded_path: str | None = None


def _distribution_files(distribution: str, pattern: str) -> list[Path]:
    """
    :param distribution: name of an installed distribution (wheel)
    :param pattern: shell pattern a file name must match
    :return: the distribution's files whose names match, sorted; empty when it is not installed
    """
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return sorted(Path(str(file.locate())) for file in files if fnmatch.fnmatch(file.name, pattern))


def _link_name(library: Path) -> str:
    """
    :param library: a library shipped in ``mlx_cpu.libs``, e.g. ``libgfortran-f7379c93.so.5.0.0``
    :return: the name OpenBLAS asks for it by (``libgfortran.so.5``); other libraries keep their names,
        which are what the renamed libgfortran asks for in turn
    """
    return "libgfortran.so.5" if library.name.startswith("libgfortran-") else library.name


def _load(openblas: Path, runtime: list[Path]) -> None:
    """
    Load ``openblas`` globally, resolving its Fortran runtime to ``runtime`` (see the module docstring).

    :param openblas: the OpenBLAS library
    :param runtime: libgfortran and libquadmath to use; empty to let the dynamic linker search the system
    """
    with tempfile.TemporaryDirectory(prefix="mlx_baselines3_blas_") as folder:
        link = Path(folder) / "libopenblas.so.0"
        link.symlink_to(openblas)
        for library in runtime:
            (Path(folder) / _link_name(library)).symlink_to(library)
        ctypes.CDLL(str(link), mode=ctypes.RTLD_GLOBAL)


def preload_openblas() -> str | None:
    """
    Load OpenBLAS globally so that MLX binds its BLAS calls to it.

    Never raises: when OpenBLAS cannot be loaded, MLX keeps its bundled BLAS and one warning says why.

    :return: the path of the loaded library, or ``None`` when nothing was loaded
    """
    global loaded_path
    if loaded_path is not None or not sys.platform.startswith("linux"):
        return loaded_path
    if os.environ.get(OPT_OUT_VARIABLE, "1").lower() in ("0", "false", "no", "off"):
        return None
    candidates = _distribution_files("ngsolve-openblas", "libopenblas*.so*")
    if not candidates:
        return None
    if "mlx.core" in sys.modules:
        warnings.warn(
            "mlx.core was imported before mlx_baselines3, so MLX keeps its slow bundled reference BLAS. "
            "Import mlx_baselines3 first for OpenBLAS (10-20x faster matrix products), "
            f"or set {OPT_OUT_VARIABLE}=0 to silence this warning.",
            stacklevel=3,
        )
        return None
    # Our networks are small: one BLAS thread avoids oversubscribing the cores the envs use (docs/performance.md).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    runtime = _distribution_files("mlx-cpu", "libgfortran-*") + _distribution_files("mlx-cpu", "libquadmath-*")
    try:
        _load(candidates[0], runtime)
    except OSError as error:
        warnings.warn(
            f"Could not load OpenBLAS ({error}), so MLX keeps its slow bundled reference BLAS "
            "(10-20x slower matrix products). Reinstalling `mlx[cpu]` and `ngsolve-openblas` usually fixes this; "
            f"set {OPT_OUT_VARIABLE}=0 to silence this warning.",
            stacklevel=3,
        )
        return None
    loaded_path = str(candidates[0])
    return loaded_path
