"""
Everything about the package is in ``pyproject.toml``; this file only adds ``mlx_baselines3_openblas.pth`` to the
built files, at the top of ``site-packages``. Python runs that one line at every interpreter start: it puts a finder
on ``sys.meta_path`` that loads OpenBLAS right before MLX is first imported, whatever the import order
(``_mlx_baselines3_openblas.py``, ``docs/performance.md``).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

STARTUP_HOOK = "mlx_baselines3_openblas.pth"


class BuildPyWithStartupHook(build_py):
    """``build_py`` that also copies the startup hook into the root of the build (wheels and editable installs)."""

    def run(self) -> None:
        super().run()
        folder = self.build_lib
        if getattr(self, "editable_mode", False):
            # An editable install's wheel holds no build_lib files, only those of its unpacked wheel, which setuptools
            # (>= 64) passes as the install folder.
            folder = self.get_finalized_command("install").install_lib
        self.copy_file(str(Path(__file__).parent / STARTUP_HOOK), str(Path(folder) / STARTUP_HOOK), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / STARTUP_HOOK)]

    def get_output_mapping(self) -> dict[str, str]:
        source = str(Path(__file__).parent / STARTUP_HOOK)
        return {**super().get_output_mapping(), str(Path(self.build_lib) / STARTUP_HOOK): source}


setup(cmdclass={"build_py": BuildPyWithStartupHook})
