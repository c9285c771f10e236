"""Run Python code in a subprocess where some packages cannot be imported, as if they were not installed."""

import os
import subprocess
import sys
import textwrap

_BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"No module named {{name!r}} (blocked by the test)")
        return None
sys.meta_path.insert(0, _Block())
"""


def run_without(blocked: set[str], code: str) -> subprocess.CompletedProcess:
    """
    :param blocked: top-level package names that fail to import
    :param code: the Python code to run
    :return: the finished process (stdout, stderr, returncode)
    """
    program = _BLOCKER.format(blocked=sorted(blocked)) + textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "MLX_BASELINES3_OPENBLAS": "0"}
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=300, check=False)
