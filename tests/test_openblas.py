"""The Linux OpenBLAS preload: loaded by default, much faster, opt-out works, never breaks the import."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

OPT_OUT = "MLX_BASELINES3_OPENBLAS"
OPENBLAS_INSTALLED = importlib.util.find_spec("ngsolve_openblas") is not None
pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and OPENBLAS_INSTALLED), reason="the preload is for Linux with ngsolve-openblas"
)

# Sets ``seconds``: the median wall time of a 256x256x256 float32 matmul (needs json, statistics, time, mx).
TIME_MATMUL = """
a = mx.random.normal((256, 256))
mx.eval(a @ a)
times = []
for _ in range(25):
    start = time.perf_counter()
    mx.eval(a @ a)
    times.append(time.perf_counter() - start)
seconds = statistics.median(times)
"""

# Prints which BLAS the process mapped and the median wall time of a 256x256x256 float32 matmul.
MATMUL_PROBE = (
    """
import json, statistics, time
import mlx_baselines3
from mlx_baselines3.common import _openblas
import mlx.core as mx
"""
    + TIME_MATMUL
    + """
maps = open("/proc/self/maps").read()
print(json.dumps({"loaded": _openblas.loaded_path, "mapped": "ngsolve_openblas" in maps, "seconds": seconds}))
"""
)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the preload only acts before the first ``import mlx.core``)."""
    inherited = {key: value for key, value in os.environ.items() if key not in (OPT_OUT, "OPENBLAS_NUM_THREADS")}
    return subprocess.run([sys.executable, "-c", code], env={**inherited, **env}, capture_output=True, text=True, check=True)


def probe(**env: str) -> dict:
    """:return: what ``MATMUL_PROBE`` printed"""
    return json.loads(run_python(MATMUL_PROBE, **env).stdout)


def test_preload_is_much_faster_than_bundled_blas():
    # Alternate the two settings and compare medians: other processes share the cores.
    with_openblas, bundled = [], []
    for _ in range(3):
        with_openblas.append(probe())
        bundled.append(probe(MLX_BASELINES3_OPENBLAS="0"))
    assert all(result["mapped"] and result["loaded"].endswith(".so") for result in with_openblas)
    assert not any(result["mapped"] or result["loaded"] for result in bundled)
    fast = sorted(result["seconds"] for result in with_openblas)[1]
    slow = sorted(result["seconds"] for result in bundled)[1]
    # Measured ratio: ~15-18x (docs/performance.md); 3x leaves room for a loaded machine.
    assert slow / fast > 3, f"OpenBLAS {fast * 1e6:.0f} us vs bundled {slow * 1e6:.0f} us"


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_opt_out(value: str):
    code = "import mlx_baselines3, mlx.core; from mlx_baselines3.common import _openblas; print(_openblas.loaded_path)"
    result = run_python(code, MLX_BASELINES3_OPENBLAS=value)
    assert result.stdout.strip() == "None"
    assert "Warning" not in result.stderr


def test_one_blas_thread_by_default():
    code = "import os, mlx_baselines3; print(os.environ['OPENBLAS_NUM_THREADS'])"
    assert run_python(code).stdout.strip() == "1"
    assert run_python(code, OPENBLAS_NUM_THREADS="2").stdout.strip() == "2"


def test_importing_mlx_first_warns_without_the_startup_hook():
    # As in a source checkout used without installing: no finder on sys.meta_path, so the import comes too late.
    code = (
        "import warnings, _mlx_baselines3_openblas\n"
        "_mlx_baselines3_openblas.uninstall()\n"
        "import mlx.core\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import mlx_baselines3\n"
        "from mlx_baselines3.common import _openblas\n"
        "print(_openblas.loaded_path, [str(w.message) for w in caught])\n"
    )
    output = run_python(code).stdout
    assert output.startswith("None ")
    assert "mlx.core was imported before mlx_baselines3" in output
    assert "MLX_BASELINES3_OPENBLAS=0" in output


def test_failed_load_warns_and_keeps_bundled_blas():
    code = (
        "import warnings, _mlx_baselines3_openblas as loader\n"
        "loader.uninstall()\n"
        "def fail(openblas, runtime):\n"
        "    raise OSError('libgfortran.so.5: cannot open shared object file')\n"
        "loader._load = fail\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    result = loader.preload_openblas()\n"
        "import mlx.core as mx\n"
        "print(result, mx.ones(2).sum().item(), [str(w.message) for w in caught])\n"
    )
    output = run_python(code).stdout
    assert output.startswith("None 2.0 ")
    assert "Could not load OpenBLAS (libgfortran.so.5" in output


def test_link_names():
    from _mlx_baselines3_openblas import _link_name

    assert _link_name("/x/mlx_cpu.libs/libgfortran-f7379c93.so.5.0.0") == "libgfortran.so.5"
    assert _link_name("/x/mlx_cpu.libs/libquadmath-a962d038.so.0.0.0") == "libquadmath-a962d038.so.0.0.0"


# --- import order: the startup hook -------------------------------------------------------------------------------

# Imports mlx.core FIRST, then prints which library defines the process's global cblas_sgemm (dladdr) and the median
# time of a 256x256x256 float32 matmul. ``SETUP`` runs before, to install the finder by hand where needed.
ORDER_PROBE = """
import ctypes, json, statistics, time
{setup}
import mlx.core as mx


class DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]


process = ctypes.CDLL(None)
try:
    address = ctypes.cast(process.cblas_sgemm, ctypes.c_void_p).value
    info = DlInfo()
    dladdr = getattr(process, "dladdr", None) or ctypes.CDLL("libdl.so.2").dladdr
    dladdr(ctypes.c_void_p(address), ctypes.byref(info))
    library = info.fname.decode()
except AttributeError:  # no cblas_sgemm in the global scope: MLX's bundled BLAS is private to libmlx
    library = None
"""
ORDER_PROBE_END = """
print(json.dumps({"library": library, "seconds": seconds}))
"""
BY_HAND = "import _mlx_baselines3_openblas as loader; loader.uninstall(); loader.install()"


def order_probe(setup: str = "", **env: str) -> dict:
    return json.loads(run_python(ORDER_PROBE.format(setup=setup) + TIME_MATMUL + ORDER_PROBE_END, **env).stdout)


def hook_installed() -> bool:
    import site

    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return any((Path(folder) / "mlx_baselines3_openblas.pth").exists() for folder in folders)


def test_finder_loads_openblas_before_mlx():
    # The mechanism, installed by hand (works from a source checkout): OpenBLAS serves cblas_sgemm, fast.
    fast, slow = [], []
    for _ in range(3):
        fast.append(order_probe(BY_HAND))
        slow.append(order_probe(BY_HAND, MLX_BASELINES3_OPENBLAS="0"))
    assert all("libopenblas" in result["library"] for result in fast), fast
    assert all(result["library"] is None for result in slow), slow
    ratio = sorted(result["seconds"] for result in slow)[1] / sorted(result["seconds"] for result in fast)[1]
    # 256x256x256: ~100 GFLOP/s with OpenBLAS vs ~6 with the bundled BLAS; 3x leaves room for a loaded machine.
    assert ratio > 3, f"OpenBLAS only {ratio:.1f}x faster"


@pytest.mark.skipif(not hook_installed(), reason="mlx_baselines3 is not installed here (pip install [-e] .)")
def test_import_order_does_not_matter_once_installed():
    # No setup at all: the installed .pth file put the finder in place at startup.
    result = order_probe()
    # dladdr names the library by the path it was opened by (a symbolic link, see _mlx_baselines3_openblas).
    assert "libopenblas" in result["library"], result
    state = run_python(
        "import sys, _mlx_baselines3_openblas as loader\n"
        "before = [type(f).__name__ for f in sys.meta_path][0], 'mlx' in sys.modules, loader.loaded_path\n"
        "import mlx.core\n"
        "after = any(type(f).__name__ == '_PreloadBeforeMLX' for f in sys.meta_path), loader.loaded_path is not None\n"
        "print(before, after)"
    ).stdout.strip()
    # At startup: the finder is first on sys.meta_path, MLX not imported, nothing loaded; after: loaded, finder gone.
    assert state == "('_PreloadBeforeMLX', False, None) (False, True)"


@pytest.mark.skipif(not hook_installed(), reason="mlx_baselines3 is not installed here (pip install [-e] .)")
def test_startup_hook_is_cheap():
    # -X importtime: the hook's own import, in microseconds (measured ~150-400 us; MLX is not imported).
    stderr = run_python("pass", PYTHONPROFILEIMPORTTIME="1").stderr
    lines = [line for line in stderr.splitlines() if line.rstrip().endswith("_mlx_baselines3_openblas")]
    assert lines, stderr[-2000:]
    cumulative_us = int(lines[0].split("|")[1])
    assert cumulative_us < 20_000, lines[0]
    assert "mlx.core" not in stderr and "mlx_baselines3\n" not in stderr
