"""
One test per class of attack on default loading (issue 12, items 1-5). Each builds the hostile file here, loads it in
a child process with a memory limit (RLIMIT_AS) and a time limit, and checks the documented error (LoadError), the
absence of side effects (marker files, ``sys`` attributes) and the memory the child used.
"""

import base64
import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mlx_baselines3 import DQN, PPO
from mlx_baselines3.common import torch_format

# The child's address-space limit: importing MLX and building a small model fits in far less; the attacks, unguarded,
# need gigabytes.
MEMORY_LIMIT = 2 << 30

_CHILD = """
import json, os, resource, sys, time, warnings
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
warnings.simplefilter("ignore")
import numpy as np
import mlx_baselines3
from mlx_baselines3 import PPO, DQN, SAC
from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.save_util import load_from_pkl, load_from_zip_file
from mlx_baselines3.common.vec_env import DummyVecEnv, VecNormalize
import gymnasium as gym
watched = ("path", "executable", "warnoptions", "argv", "meta_path", "path_hooks")
before = {{name: repr(getattr(sys, name)) for name in watched}}
modules_before = set(sys.modules)
start = time.perf_counter()
results = []
for path in {paths!r}:
    try:
        {call}
        outcome, message = "loaded", ""
    except LoadError as e:
        outcome, message = "LoadError", str(e)
    except Exception as e:
        outcome, message = type(e).__name__, str(e)[:2000]
    results.append((outcome, message))
changed = [name for name in watched if repr(getattr(sys, name)) != before[name]]
print(json.dumps(dict(
    results=results,
    seconds=time.perf_counter() - start,
    maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    changed=changed,
    new_modules=sorted(set(sys.modules) - modules_before),
)))
"""


def load_in_child(paths, call: str, timeout: float = 120) -> dict:
    """
    Load each file in a fresh interpreter limited to MEMORY_LIMIT bytes of address space.

    :param paths: the files
    :param call: the loading statement, with ``path`` bound to each file
    :return: the outcomes (type, message) per file, the time, the peak RSS (MB), changed ``sys`` attributes, modules
        imported by loading
    """
    code = _CHILD.format(limit=MEMORY_LIMIT, paths=[str(p) for p in paths], call=call)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_refused(report: dict, pattern: str = "", max_seconds: float = 20, max_rss_mb: float = 1500) -> None:
    for outcome, message in report["results"]:
        assert outcome == "LoadError", (outcome, message)
        assert pattern in message, (pattern, message)
        assert len(message) < 4000, "untrusted values must be length-capped in messages"
    assert report["changed"] == [], report["changed"]
    assert report["seconds"] < max_seconds and report["maxrss_mb"] < max_rss_mb, report


@pytest.fixture(scope="module")
def ppo_zip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("attacks") / "ppo.zip"
    PPO("MlpPolicy", "Pendulum-v1", n_steps=16, batch_size=8, n_epochs=1, seed=0).learn(16).save(path)
    return path.read_bytes()


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _with_data(model: bytes, **entries: bytes) -> bytes:
    # The model with some data entries replaced by the given pickles.
    members = _members(model)
    data = json.loads(members["data"])
    for key, pickled in entries.items():
        data[key] = {":type:": "<class 'object'>", ":serialized:": base64.b64encode(pickled).decode()}
    return _zip({**members, "data": json.dumps(data).encode()})


def _torch_file(obj) -> bytes:
    buffer = io.BytesIO()
    torch_format.save(obj, buffer)
    return buffer.getvalue()


def _shared_storage_file(references: int, numel: int) -> bytes:
    # A torch file whose tensors are distinct records over one storage (torch writes this for views of one tensor).
    import mlx.core as mx

    storages = torch_format._StorageWriter()
    storage = storages.add(mx.zeros(numel))

    class _View:
        def __reduce__(self):
            return torch_format._REBUILD_TENSOR, (storage, 0, (numel,), (1,), False, collections.OrderedDict())

    pickled = io.BytesIO()
    torch_format.SB3Pickler(pickled, 2, storages).dump({f"w{i}": _View() for i in range(references)})
    return _zip({"archive/data.pkl": pickled.getvalue(), "archive/data/0": storage.data, "archive/version": b"3\n"})


def _write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


class _Marker:
    """Unpickling this writes a marker file (with Python's pickle)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


# --- 1. Attribute paths from the file ---------------------------------------------------------------------------------


def test_attribute_paths_from_the_file_are_never_followed(ppo_zip, tmp_path):
    members = _members(ppo_zip)
    files = []
    # pytorch_variables named after paths that reach sys through a NumPy array's ctypes (the exploit rewrote sys.path).
    for name in ("observation_space.low.ctypes._ctypes.sys.path", "__class__", "policy.log_std", "predict"):
        variables = _torch_file({name: np.zeros(3, dtype=np.float32)})
        files.append(_write(tmp_path, f"variables{len(files)}.zip", _zip({**members, "pytorch_variables.pth": variables})))
    report = load_in_child(files, "PPO.load(path)")
    assert_refused(report, "is not a variable that PPO saves")

    # set_parameters resolves member names only among the algorithm's declared objects, also with exact_match=False.
    for name in ("policy.__class__", "observation_space.low", "__dict__"):
        files = [_write(tmp_path, "params.zip", _zip({**members, f"{name}.pth": members["policy.pth"]}))]
        report = load_in_child(
            files, "m = PPO('MlpPolicy', 'Pendulum-v1', n_steps=16, batch_size=8); m.set_parameters(path, exact_match=False)"
        )
        assert_refused(report, "Names of parameters do not match")

    # A data key cannot shadow a method or reach an attribute the algorithm does not have.
    data = json.loads(members["data"])
    data.update(predict=1, __class__="x", _setup_model=None, learn="y")
    path = _write(tmp_path, "shadow.zip", _zip({**members, "data": json.dumps(data).encode()}))
    model = PPO.load(path)
    assert callable(model.predict) and callable(model.learn) and type(model) is PPO
    assert model.predict(np.zeros(3, dtype=np.float32))[0].shape == (1,)


# --- 2. Memory-unsafe values through NumPy ----------------------------------------------------------------------------


def _dtype_with_flags(code: str, flags: int) -> bytes:
    # numpy.dtype(code) with a BUILD state whose flags claim object-like behaviour (the SIGSEGV gadget).
    return (
        b"\x80\x02cnumpy\ndtype\nX"
        + struct.pack("<I", len(code))
        + code.encode()
        + b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
        + b"K"
        + bytes([flags])
        + b"tb"
    )


def test_memory_unsafe_numpy_values_are_refused(ppo_zip, tmp_path):
    pickles = [
        _dtype_with_flags("f8", 63) + b".",  # a float dtype whose flags claim to hold Python objects
        pickle.dumps(np.array([None, 1], dtype=object), protocol=2),  # an object array
        # numpy.ndarray(shape, dtype("O8")): an object array over raw memory
        b"\x80\x02cnumpy\nndarray\nK\x02\x85cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R\x86R.",
        pickle.dumps(np.void(b"\x00" * 16), protocol=2),  # numpy.void (the 2**30 one segfaulted in repr)
        _frombuffer_gadget(struct.pack("<Q", 0x4141414141414141)),  # forged pointer bytes with the flag-altered dtype
    ]
    files = [_write(tmp_path, f"numpy{i}.zip", _with_data(ppo_zip, observation_space=p)) for i, p in enumerate(pickles)]
    report = load_in_child(files, "PPO.load(path)")
    assert_refused(report)
    messages = " ".join(message for _, message in report["results"])
    assert "altered fields or flags" in messages and "not numeric or bool" in messages


def _frombuffer_gadget(raw: bytes) -> bytes:
    # _frombuffer(raw, <dtype f8 with object flags>, (1,), "C")
    dtype = _dtype_with_flags("f8", 63)[2:]
    return (
        b"\x80\x02cnumpy._core.numeric\n_frombuffer\n(C" + bytes([len(raw)]) + raw + dtype + b"K\x01\x85X\x01\x00\x00\x00CtR."
    )


# --- 3. Resource exhaustion -------------------------------------------------------------------------------------------


def test_resource_exhaustion_is_bounded(ppo_zip, tmp_path):
    members = _members(ppo_zip)
    files = {}
    # A deeply nested tuple used as a dict key: hashing or building it recursively overflows the C stack.
    depth = 200_000
    files["deep key"] = _with_data(ppo_zip, policy_kwargs=b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x01s.")
    # A memo index near 2**30: CPython's unpickler sizes an array by it.
    files["memo"] = _with_data(ppo_zip, observation_space=b"\x80\x02Nr\x00\x00\x00@j\x00\x00\x00@\x86.")
    # A 200 KB integer (SeedSequence's entropy took 26 s of quadratic time).
    big = (1 << (8 * 200_000)) - 1
    files["big int"] = _with_data(ppo_zip, observation_space=pickle.dumps(big, protocol=2))
    # A Box whose low/high are broadcast to 2**28 elements.
    from gymnasium import spaces

    box = spaces.Box(0.0, 1.0, (3,))
    box._shape = (1 << 28,)
    files["box"] = _with_data(ppo_zip, observation_space=pickle.dumps(box, protocol=5))
    # One 64 MB storage referenced by 100 tensors of a torch file (each tensor a copy: 6.4 GB).
    files["storage refs"] = _zip({**members, "policy.pth": _shared_storage_file(100, 16 << 20)})
    # buffer_size of 1e12 in data.
    dqn_path = tmp_path / "dqn.zip"
    DQN("MlpPolicy", "CartPole-v1", buffer_size=100, learning_starts=0).save(dqn_path)
    dqn_members = _members(dqn_path.read_bytes())
    data = json.loads(dqn_members["data"])
    data["buffer_size"] = 10**12
    files["buffer_size"] = _zip({**dqn_members, "data": json.dumps(data).encode()})
    paths = [_write(tmp_path, f"bomb{i}.zip", content) for i, content in enumerate(files.values())]
    report = load_in_child(paths[:-1], "PPO.load(path)", timeout=180)
    assert_refused(report, max_seconds=60)
    outcomes = dict(zip(files, report["results"], strict=False))
    assert "nesting deeper" in outcomes["deep key"][1]
    assert "bits" in outcomes["big int"][1]
    assert "shape" in outcomes["box"][1]
    assert "times the" in outcomes["storage refs"][1]
    dqn_report = load_in_child(paths[-1:], "DQN.load(path)")
    assert_refused(dqn_report, "buffer_size=1000000000000")


def test_zip_bombs_are_bounded(ppo_zip, tmp_path):
    members = _members(ppo_zip)
    # A bzip2 `data` member: 32 MB of spaces in a few hundred bytes (real bombs reach gigabytes the same way).
    honest = _zip({**members, "data": b" " * (32 << 20)}, compression=zipfile.ZIP_BZIP2)
    assert len(honest) < len(ppo_zip) + 4096
    # The same bomb declaring 100 bytes: zipfile would inflate it all in one call; reading stops at the declared size.
    lying = _declare_size(honest, "data", 100)
    lzma = _zip({**members, "data": members["data"]}, compression=zipfile.ZIP_LZMA)
    paths = [_write(tmp_path, name, content) for name, content in (("honest", honest), ("lying", lying), ("lzma", lzma))]
    # With a member limit of 16 MB, the honest bomb is refused from its declared size, before reading.
    call = (
        "import mlx_baselines3.common.safe_pickle as sp; sp.DEFAULT_LIMITS = sp.Limits(max_member_bytes=16 << 20)\n"
        "        PPO.load(path)"
    )
    report = load_in_child(paths, call)
    assert_refused(report)
    honest_message, lying_message, lzma_message = (message for _, message in report["results"])
    assert "more than the limit" in honest_message
    assert "not the size its header declares" in lying_message and "compression method 14" in lzma_message


def _declare_size(archive: bytes, member: str, size: int) -> bytes:
    # Patch the central directory entry of `member` to declare `size` uncompressed bytes.
    content = bytearray(archive)
    start = content.index(b"PK\x01\x02")
    while True:
        name_length, extra, comment = struct.unpack_from("<HHH", content, start + 28)
        if content[start + 46 : start + 46 + name_length] == member.encode():
            struct.pack_into("<I", content, start + 24, size)
            return bytes(content)
        start += 46 + name_length + extra + comment


# --- 4. The file picks an import --------------------------------------------------------------------------------------


def test_the_file_cannot_pick_an_import(ppo_zip, tmp_path):
    members = _members(ppo_zip)
    data = json.loads(members["data"])
    # gymnasium's "module:EnvId" imports the module: unittest.__main__ ran local tests and exited the process.
    data["env"] = "unittest.__main__:Anything-v0"
    path = _write(tmp_path, "env.zip", _zip({**members, "data": json.dumps(data).encode()}))
    # A global naming a module that is not imported yet (ours or anyone's) imports nothing either.
    names = [
        ("mlx_baselines3.common.env_checker", "check_env"),
        ("stable_baselines3.common.atari_wrappers", "AtariWrapper"),
        ("antigravity", "geohash"),
    ]
    refs = [_with_data(ppo_zip, policy_class=f"\x80\x02c{m}\n{n}\n.".encode("latin-1")) for m, n in names]
    paths = [path, *(_write(tmp_path, f"ref{i}.zip", content) for i, content in enumerate(refs))]
    report = load_in_child(paths, "model = PPO.load(path); assert model.env is None")
    assert report["results"][0] == ["loaded", ""]
    assert all(outcome == "LoadError" for outcome, _ in report["results"][1:]), report["results"]
    assert not any(
        name.startswith(("unittest", "antigravity", "mlx_baselines3.common.atari")) for name in report["new_modules"]
    )
    assert report["changed"] == []


# --- 5. Only documented errors from every loader ----------------------------------------------------------------------


def test_every_loader_raises_only_load_error(tmp_path):
    from mlx_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = VecNormalize(DummyVecEnv([lambda: __import__("gymnasium").make("Pendulum-v1")]))
    venv.reset()
    venv.save(str(tmp_path / "vn.pkl"))
    model = DQN("MlpPolicy", "CartPole-v1", buffer_size=64, learning_starts=0)
    model.learn(32)
    model.save_replay_buffer(tmp_path / "rb.pkl")
    rng = np.random.default_rng(5)
    paths = []
    for name in ("vn.pkl", "rb.pkl"):
        original = (tmp_path / name).read_bytes()
        for i in range(60):
            damaged = bytearray(original)
            for _ in range(rng.integers(1, 4)):
                damaged[rng.integers(len(damaged))] = int(rng.integers(256))
            if i % 5 == 0:
                damaged = damaged[: rng.integers(len(damaged))]
            paths.append(_write(tmp_path, f"{name}.{i}", bytes(damaged)))
    call = (
        "loaded = load_from_pkl(path)\n"
        "        if path.startswith(" + repr(str(tmp_path / "vn.pkl")) + "):\n"
        "            VecNormalize.load(path, DummyVecEnv([lambda: gym.make('Pendulum-v1')]))\n"
        "        else:\n"
        "            DQN('MlpPolicy', 'CartPole-v1', buffer_size=64).load_replay_buffer(path)"
    )
    report = load_in_child(paths, call, timeout=300)
    outcomes = [outcome for outcome, _ in report["results"]]
    assert set(outcomes) <= {"LoadError", "loaded"}, [r for r in report["results"] if r[0] not in ("LoadError", "loaded")]
    assert outcomes.count("LoadError") > 60
    assert report["changed"] == []


def test_marker_files_and_trusted(ppo_zip, tmp_path):
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Marker(marker), protocol=2)
    path = _write(tmp_path, "marker.zip", _with_data(ppo_zip, tensorboard_log=payload))
    report = load_in_child([path], "PPO.load(path)")
    assert_refused(report, "open'")
    assert not marker.exists()
    (tmp_path / "marker.pkl").write_bytes(payload)
    report = load_in_child([tmp_path / "marker.pkl"], "load_from_pkl(path)")
    assert_refused(report, "trusted=True")
    assert not marker.exists()
    # trusted=True is Python's pickle: it runs the file's code (the point of the opt-in).
    report = load_in_child([tmp_path / "marker.pkl"], "load_from_pkl(path, trusted=True)")
    assert report["results"][0][0] == "loaded" and marker.exists()
