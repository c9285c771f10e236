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

Import order does not matter once mlx_baselines3 is installed: its ``mlx_baselines3_openblas.pth`` file makes every
interpreter of that environment run :func:`install` at startup, which puts a finder on ``sys.meta_path`` that loads
OpenBLAS when anything first imports ``mlx`` (and then removes itself). Interpreters that never import MLX pay only
for this module's import (well under a millisecond) and load nothing. ``import mlx_baselines3`` calls
:func:`preload_openblas` too, for checkouts used without installing.

This module is top-level and imports only the standard library, so that the startup hook never imports MLX or the
mlx_baselines3 package. ``mlx_baselines3.common._openblas`` is its public face inside the package.

Set ``MLX_BASELINES3_OPENBLAS=0`` to opt out. See ``docs/performance.md``.
"""

import os
import sys

OPT_OUT_VARIABLE = "MLX_BASELINES3_OPENBLAS"

#: Path of the OpenBLAS library that was loaded, or ``None`` when none was (not Linux, opted out, not found).
loaded_path: str | None = None


def _distribution_files(distribution: str, pattern: str) -> list[str]:
    """
    :param distribution: name of an installed distribution (wheel)
    :param pattern: shell pattern a file name must match
    :return: the distribution's files whose names match, sorted; empty when it is not installed
    """
    import fnmatch
    import importlib.metadata

    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return sorted(str(file.locate()) for file in files if fnmatch.fnmatch(file.name, pattern))


def _link_name(library: str) -> str:
    """
    :param library: a library shipped in ``mlx_cpu.libs``, e.g. ``libgfortran-f7379c93.so.5.0.0``
    :return: the name OpenBLAS asks for it by (``libgfortran.so.5``); other libraries keep their names,
        which are what the renamed libgfortran asks for in turn
    """
    name = os.path.basename(library)
    return "libgfortran.so.5" if name.startswith("libgfortran-") else name


def _load(openblas: str, runtime: list[str]) -> None:
    """
    Load ``openblas`` globally, resolving its Fortran runtime to ``runtime`` (see the module docstring).

    :param openblas: the OpenBLAS library
    :param runtime: libgfortran and libquadmath to use; empty to let the dynamic linker search the system
    """
    import ctypes
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlx_baselines3_blas_") as folder:
        link = os.path.join(folder, "libopenblas.so.0")
        os.symlink(openblas, link)
        for library in runtime:
            os.symlink(library, os.path.join(folder, _link_name(library)))
        ctypes.CDLL(link, mode=ctypes.RTLD_GLOBAL)


def preload_openblas() -> str | None:
    """
    Load OpenBLAS globally so that MLX binds its BLAS calls to it.

    Never raises: when OpenBLAS cannot be loaded, MLX keeps its bundled BLAS and one warning says why.
    Loading happens once per process; later calls return the same path.

    :return: the path of the loaded library, or ``None`` when nothing was loaded
    """
    global loaded_path
    if loaded_path is not None or not sys.platform.startswith("linux"):
        return loaded_path
    if _opted_out():
        return None
    candidates = _distribution_files("ngsolve-openblas", "libopenblas*.so*")
    if not candidates:
        return None
    if "mlx.core" in sys.modules:
        import warnings

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
        import warnings

        warnings.warn(
            f"Could not load OpenBLAS ({error}), so MLX keeps its slow bundled reference BLAS "
            "(10-20x slower matrix products). Reinstalling `mlx[cpu]` and `ngsolve-openblas` usually fixes this; "
            f"set {OPT_OUT_VARIABLE}=0 to silence this warning.",
            stacklevel=3,
        )
        return None
    loaded_path = candidates[0]
    return loaded_path


def _opted_out() -> bool:
    return os.environ.get(OPT_OUT_VARIABLE, "1").lower() in ("0", "false", "no", "off")


class _PreloadBeforeMLX:
    """
    A ``sys.meta_path`` finder that finds nothing: when ``mlx`` is about to be imported for the first time, it loads
    OpenBLAS, removes itself and lets the regular finders import MLX.
    """

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "mlx" or name.startswith("mlx."):
            uninstall()
            preload_openblas()


def install() -> None:
    """
    Arrange for OpenBLAS to be loaded right before the first import of ``mlx`` (run at interpreter startup by
    ``mlx_baselines3_openblas.pth``). Does nothing when not on Linux, when opted out or when MLX is already imported.
    """
    if not sys.platform.startswith("linux") or _opted_out() or "mlx" in sys.modules:
        return
    if not any(isinstance(finder, _PreloadBeforeMLX) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PreloadBeforeMLX())


def uninstall() -> None:
    """Remove the finder that :func:`install` added, if any."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _PreloadBeforeMLX)]
