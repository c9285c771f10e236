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

# Prints which BLAS the process mapped and the median wall time of a 256x256x256 float32 matmul.
MATMUL_PROBE = """
import json, statistics, time
import mlx_baselines3
from mlx_baselines3.common import _openblas
import mlx.core as mx

a, b = mx.random.normal((256, 256)), mx.random.normal((256, 256))
mx.eval(a @ b)
times = []
for _ in range(25):
    start = time.perf_counter()
    mx.eval(a @ b)
    times.append(time.perf_counter() - start)
maps = open("/proc/self/maps").read()
print(json.dumps({"loaded": _openblas.loaded_path, "mapped": "ngsolve_openblas" in maps, "seconds": statistics.median(times)}))
"""


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


def test_importing_mlx_first_warns():
    code = (
        "import warnings, mlx.core\n"
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
    # Load the module on its own (not through the package, whose import already ran the preload).
    module_path = Path(__file__).parents[1] / "mlx_baselines3" / "common" / "_openblas.py"
    code = (
        "import importlib.util, warnings\n"
        f"spec = importlib.util.spec_from_file_location('openblas_alone', {str(module_path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "def fail(openblas, runtime):\n"
        "    raise OSError('libgfortran.so.5: cannot open shared object file')\n"
        "module._load = fail\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    result = module.preload_openblas()\n"
        "import mlx.core as mx\n"
        "print(result, mx.ones(2).sum().item(), [str(w.message) for w in caught])\n"
    )
    output = run_python(code).stdout
    assert output.startswith("None 2.0 ")
    assert "Could not load OpenBLAS (libgfortran.so.5" in output


def test_link_names():
    from mlx_baselines3.common._openblas import _link_name

    assert _link_name(Path("/x/mlx_cpu.libs/libgfortran-f7379c93.so.5.0.0")) == "libgfortran.so.5"
    assert _link_name(Path("/x/mlx_cpu.libs/libquadmath-a962d038.so.0.0.0")) == "libquadmath-a962d038.so.0.0.0"
