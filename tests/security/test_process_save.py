"""Saves behave like a plain write apart from being atomic: file modes, symbolic links, leftovers of killed saves."""

import os
import pathlib
import signal
import stat
import subprocess
import sys
import time

import pytest

from mlx_baselines3 import PPO
from mlx_baselines3.common import save_util
from mlx_baselines3.common.save_util import atomic_open

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes, symbolic links and SIGKILL are POSIX")


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _write(path: pathlib.Path, payload: bytes) -> None:
    with atomic_open(path) as file:
        file.write(payload)


def _leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".mlxb3-partial"))


@posix_only
@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_umasks_mode(tmp_path, umask, expected):
    previous = os.umask(umask)
    try:
        _write(tmp_path / "new.bin", b"abc")
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16)
        model.save(tmp_path / "model")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "new.bin") == expected
    assert _mode(tmp_path / "model.zip") == expected
    assert (tmp_path / "new.bin").read_bytes() == b"abc"
    assert _leftovers(tmp_path) == []


@posix_only
def test_overwriting_keeps_the_existing_mode(tmp_path):
    target = tmp_path / "shared.zip"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    previous = os.umask(0o077)  # a stricter umask must not tighten a file that already exists
    try:
        _write(target, b"new")
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o644
    os.chmod(target, 0o640)
    _write(target, b"newer")
    assert _mode(target) == 0o640


@posix_only
def test_saving_to_a_symbolic_link_writes_through_it(tmp_path):
    real = tmp_path / "store" / "model.zip"
    real.parent.mkdir()
    real.write_bytes(b"old")
    os.chmod(real, 0o644)
    link = tmp_path / "latest.zip"
    link.symlink_to(real)
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16)
    model.save(link)
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert real.read_bytes()[:2] == b"PK"
    assert _mode(real) == 0o644
    assert PPO.load(link).n_steps == 16
    # A dangling link is written through too: the file it names is created.
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to(tmp_path / "store" / "created.bin")
    _write(dangling, b"xyz")
    assert dangling.is_symlink()
    assert (tmp_path / "store" / "created.bin").read_bytes() == b"xyz"
    assert _leftovers(tmp_path) == [] and _leftovers(real.parent) == []


_SLOW_SAVE = """
import sys, time
from mlx_baselines3.common.save_util import atomic_open
with atomic_open(sys.argv[1]) as file:
    file.write(b"partial" * 1000)
    file.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


@posix_only
def test_killed_saves_leave_the_original_and_no_pile_of_temporary_files(tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"original")
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", _SLOW_SAVE, str(target)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        child.stdout.close()
        assert target.read_bytes() == b"original"
    assert len(_leftovers(tmp_path)) == 3
    # A save still running elsewhere (a live process) keeps its temporary file; dead ones are removed.
    alive = tmp_path / f".other.zip.{save_util._HOST_TAG}-{os.getppid()}-00000000.mlxb3-partial"
    alive.write_bytes(b"in progress")
    foreign_recent = tmp_path / ".other.zip.0123abcd-1-00000000.mlxb3-partial"
    foreign_recent.write_bytes(b"another host")
    foreign_old = tmp_path / ".other.zip.0123abcd-2-00000000.mlxb3-partial"
    foreign_old.write_bytes(b"another host, long ago")
    old = time.time() - 2 * save_util._FOREIGN_TEMP_MAX_AGE_S
    os.utime(foreign_old, (old, old))
    _write(target, b"next save")
    assert target.read_bytes() == b"next save"
    assert _leftovers(tmp_path) == sorted([alive.name, foreign_recent.name])


def test_failed_save_removes_its_temporary_file(tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"original")
    with pytest.raises(RuntimeError, match="boom"), atomic_open(target) as file:
        file.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["model.zip"]
