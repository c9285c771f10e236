"""
Opt-in import alias: ``import stable_baselines3`` (and ``sb3_contrib``) resolve to mlx_baselines3, so tools written for
SB3, such as the RL Zoo, run on MLX without editing their source.

From the command line, in front of a module or a script and its arguments::

    python -m mlx_baselines3.alias -m rl_zoo3.train --algo ppo --env CartPole-v1
    python -m mlx_baselines3.alias my_sb3_script.py --its-own-args

Or at the top of a script, before anything imports SB3::

    import mlx_baselines3.alias

    mlx_baselines3.alias.install()
    from stable_baselines3 import PPO  # mlx_baselines3's PPO

Aliased modules are the same module objects (``stable_baselines3.common.policies is
mlx_baselines3.common.policies``), so classes, ``isinstance`` checks and pickles agree whichever name code uses.
``sb3_contrib`` is aliased to ``mlx_baselines3.contrib`` once that package has every algorithm sb3-contrib exports;
until then the installed sb3-contrib (if any) is left alone.

Subprocesses started by ``SubprocVecEnv`` with the ``forkserver`` (the default) or ``fork`` start methods inherit the
alias; ``spawn`` starts a fresh interpreter that imports SB3 itself.
"""

import importlib
import importlib.abc
import importlib.machinery
import multiprocessing
import os
import runpy
import sys
from types import ModuleType

# Alias name -> our package.
_PACKAGES = {"stable_baselines3": "mlx_baselines3", "sb3_contrib": "mlx_baselines3.contrib"}
# What sb3-contrib 2.9.2 exports: ours replaces it only when it has all of them (the RL Zoo imports them all).
_SB3_CONTRIB_NAMES = ("ARS", "CrossQ", "MaskablePPO", "QRDQN", "RecurrentPPO", "TQC", "TRPO")
# Set by install() so that processes started from this one (forkserver workers) install the alias too.
ENV_VARIABLE = "MLX_BASELINES3_ALIAS"


def _contrib_complete() -> bool:
    try:
        contrib = importlib.import_module("mlx_baselines3.contrib")
    except ImportError:
        return False
    return all(hasattr(contrib, name) for name in _SB3_CONTRIB_NAMES)


class _AliasLoader(importlib.abc.Loader):
    """Hands out our module itself for the aliased name (no new module object, no code run twice)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        # Our module was fully executed when it was imported under its own name.
        pass


class AliasFinder(importlib.abc.MetaPathFinder):
    """
    Resolve ``stable_baselines3[.x]`` to ``mlx_baselines3[.x]`` and ``sb3_contrib[.x]`` to
    ``mlx_baselines3.contrib[.x]``.

    :param packages: alias package name -> our package name
    """

    def __init__(self, packages: dict[str, str]):
        self.packages = packages

    def target_of(self, fullname: str) -> str | None:
        """
        :param fullname: a module name, e.g. ``"stable_baselines3.common.utils"``
        :return: the name of our module it stands for, or None when the name is not aliased
        """
        root, _, rest = fullname.partition(".")
        if root not in self.packages:
            return None
        return self.packages[root] + (f".{rest}" if rest else "")

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        our_name = self.target_of(fullname)
        if our_name is None:
            return None
        if importlib.util.find_spec(our_name) is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: the mlx_baselines3 import alias maps it to {our_name!r}, which does not "
                "exist (mlx_baselines3 has no counterpart of this SB3 module).",
                name=fullname,
            )
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(our_name), is_package=True)


def installed() -> bool:
    """
    :return: whether the alias is active in this process
    """
    return any(isinstance(finder, AliasFinder) for finder in sys.meta_path)


def install(contrib: bool | None = None) -> None:
    """
    Make ``import stable_baselines3`` (and ``sb3_contrib``) import mlx_baselines3 from now on, in this process and in
    the ``SubprocVecEnv`` workers it starts. Calling it again does nothing.

    :param contrib: alias ``sb3_contrib`` too; None (default) does so only when ``mlx_baselines3.contrib`` provides
        every algorithm of sb3-contrib
    :raises RuntimeError: when SB3 (or sb3-contrib, when aliased) was already imported: code holding SB3's torch
        classes cannot be switched to ours afterwards, so install the alias first
    """
    if installed():
        return
    packages = dict(_PACKAGES)
    if contrib is False or (contrib is None and not _contrib_complete()):
        del packages["sb3_contrib"]
    already = sorted(name for name in sys.modules if name.partition(".")[0] in packages)
    if already:
        raise RuntimeError(
            f"{already[0]} was imported before mlx_baselines3.alias.install(): call install() first thing in the "
            "script (or run it with `python -m mlx_baselines3.alias`), before anything imports SB3."
        )
    sys.meta_path.insert(0, AliasFinder(packages))
    os.environ[ENV_VARIABLE] = "contrib" if "sb3_contrib" in packages else "1"
    # forkserver workers are forked from a server process started afresh: have it install the alias before it loads
    # the main module (which may import SB3).
    preload = ["mlx_baselines3.alias"] + [name for name in _forkserver_preload() if name != "mlx_baselines3.alias"]
    multiprocessing.set_forkserver_preload(preload)


def _forkserver_preload() -> list[str]:
    # The forkserver's current preload list (["__main__"] by default); multiprocessing offers no public getter.
    from multiprocessing import forkserver

    return list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))


def uninstall() -> None:
    """
    Remove the alias from this process (modules already imported under SB3's names stay in ``sys.modules``).
    """
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, AliasFinder)]
    os.environ.pop(ENV_VARIABLE, None)


def main(argv: list[str] | None = None) -> None:
    """
    ``python -m mlx_baselines3.alias [-m module | script.py] [args...]``: run a module or script with the alias
    installed, as ``python -m module`` / ``python script.py`` would.

    :param argv: the arguments (``sys.argv[1:]`` by default)
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m mlx_baselines3.alias (-m module | script.py) [arguments...]"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage + "\nRuns the module or script with `import stable_baselines3` resolving to mlx_baselines3.")
        raise SystemExit(0 if argv else 2)
    install()
    if argv[0] == "-m":
        if len(argv) < 2:
            raise SystemExit(usage)
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")


# A process started by one that installed the alias (a forkserver preloading this module) installs it too, unless it
# imported SB3 already.
if (
    __name__ != "__main__"
    and os.environ.get(ENV_VARIABLE)
    and not any(name.partition(".")[0] in _PACKAGES for name in sys.modules)
):
    install(contrib=os.environ[ENV_VARIABLE] == "contrib")

if __name__ == "__main__":
    # Run through the module imported under its own name, so that one copy of the finder class exists.
    from mlx_baselines3.alias import main as _main

    _main()
