"""common.results_plotter: SB3's constants and values, and the optional matplotlib/pandas dependencies."""

import numpy as np
import pytest

from mlx_baselines3.common import results_plotter

from ._blocked_imports import run_without

pd = pytest.importorskip("pandas")


def test_importing_the_package_needs_neither_matplotlib_nor_pandas():
    # Every module of the package imports; plotting and loading then raise ImportError naming the package and the
    # extra, as SB3's do (SB3 raises already when results_plotter is imported: ours waits until it is used).
    result = run_without(
        {"matplotlib", "pandas"},
        """
        import importlib, pkgutil
        import mlx_baselines3
        for info in pkgutil.walk_packages(mlx_baselines3.__path__, "mlx_baselines3."):
            importlib.import_module(info.name)
        from mlx_baselines3.common import monitor, results_plotter
        for call in (lambda: results_plotter.plot_results(["."], 10, "timesteps", "t"),
                     lambda: results_plotter.plot_curves([], "timesteps", "t"),
                     lambda: monitor.load_results(".")):
            try:
                call()
            except ImportError as e:
                print(type(e).__name__, "|", e)
        """,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout
    assert all("mlx-baselines3[extra]" in line for line in lines)
    assert "pandas is required for" in lines[0]  # plot_results loads the logs first
    assert "matplotlib is required for plotting functionality" in lines[1]
    assert "pandas is required for loading results" in lines[2]


def test_sb3_results_plotter_needs_matplotlib_at_import():
    # The fact ours relaxes: SB3 refuses to import the module at all.
    pytest.importorskip("stable_baselines3")
    result = run_without({"matplotlib"}, "import stable_baselines3.common.results_plotter")
    assert result.returncode != 0
    assert "ImportError: matplotlib is required for plotting functionality" in result.stderr


def test_same_constants_and_values_as_sb3():
    sb3_plotter = pytest.importorskip("stable_baselines3.common.results_plotter")
    for name in ("X_TIMESTEPS", "X_EPISODES", "X_WALLTIME", "POSSIBLE_X_AXES", "EPISODES_WINDOW"):
        assert getattr(results_plotter, name) == getattr(sb3_plotter, name)
    frame = pd.DataFrame({"r": [1.0, -2.0, 3.5, 0.25], "l": [10, 20, 5, 7], "t": [360.0, 720.0, 7200.0, 9000.0]})
    for x_axis in results_plotter.POSSIBLE_X_AXES:
        ours, theirs = results_plotter.ts2xy(frame, x_axis), sb3_plotter.ts2xy(frame, x_axis)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
    values = np.arange(12.0) ** 1.5
    np.testing.assert_array_equal(results_plotter.rolling_window(values, 4), sb3_plotter.rolling_window(values, 4))
    for a, b in zip(
        results_plotter.window_func(np.arange(12), values, 5, np.mean),
        sb3_plotter.window_func(np.arange(12), values, 5, np.mean),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(NotImplementedError):
        sb3_plotter.ts2xy(frame, "steps")
    with pytest.raises(NotImplementedError):
        results_plotter.ts2xy(frame, "steps")
