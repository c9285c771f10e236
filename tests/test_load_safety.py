"""Loading never runs code from a file, and damaged files only raise the documented errors."""

import base64
import io
import json
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest

from mlx_baselines3 import PPO
from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.policies import ActorCriticPolicy
from mlx_baselines3.common.save_util import load_from_pkl, load_from_zip_file

# What loading a damaged file may raise (besides warnings about attributes it leaves out, as SB3): LoadError, a
# ValueError.
DOCUMENTED_ERRORS = (LoadError,)


class _ShellCommand:
    """Unpickling this runs a shell command: the classic malicious pickle."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _mark(path: str) -> str:
    with open(path, "w") as file:
        file.write("ran")
    return path


class _CallsMark:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return _mark, (self.path,)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("model") / "model.zip"
    PPO("MlpPolicy", "Pendulum-v1", n_steps=16, batch_size=8, n_epochs=1, seed=0).learn(16).save(path)
    return path.read_bytes()


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _load_outcome(content: bytes, loader=None) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            (loader or load_from_zip_file)(io.BytesIO(content))
        except DOCUMENTED_ERRORS as e:
            return type(e).__name__
    return "loaded"


def test_truncated_files_raise_value_error(model_bytes):
    cuts = {0, 1, 21, 22, len(model_bytes) - 22, len(model_bytes) - 1}
    cuts.update(np.random.default_rng(0).integers(0, len(model_bytes), 60).tolist())
    for cut in sorted(cuts):
        with pytest.raises(LoadError, match=r"zip-file|truncated|corrupt"):
            load_from_zip_file(io.BytesIO(model_bytes[:cut]))


def test_flipped_bytes_raise_only_documented_errors(model_bytes, tmp_path):
    rng = np.random.default_rng(1)
    outcomes = []
    for _ in range(300):
        damaged = bytearray(model_bytes)
        damaged[rng.integers(len(damaged))] ^= int(rng.integers(1, 256))
        outcomes.append(_load_outcome(bytes(damaged)))
    # Most flips hit member contents, which the zip's CRC-32 catches.
    assert outcomes.count("LoadError") > 200
    for _ in range(40):
        damaged = bytearray(model_bytes)
        damaged[rng.integers(len(damaged))] ^= int(rng.integers(1, 256))
        outcomes.append(_load_outcome(bytes(damaged), loader=lambda file: PPO.load(file)))
    assert set(outcomes) <= {"LoadError", "loaded"}


def test_damaged_pickles_and_records_raise_only_documented_errors(model_bytes):
    # Damage past the CRC check: mutate decoded pickles and torch records, then zip them again with valid checksums.
    members = _members(model_bytes)
    data = json.loads(members["data"])
    serialized = [key for key, value in data.items() if isinstance(value, dict) and ":serialized:" in value]
    rng = np.random.default_rng(2)
    outcomes = []
    for _ in range(150):
        key = serialized[rng.integers(len(serialized))]
        pickled = bytearray(base64.b64decode(data[key][":serialized:"]))
        for _ in range(rng.integers(1, 4)):
            pickled[rng.integers(len(pickled))] = int(rng.integers(256))
        damaged = {**data, key: {**data[key], ":serialized:": base64.b64encode(bytes(pickled)).decode()}}
        outcomes.append(_load_outcome(_zip({**members, "data": json.dumps(damaged).encode()})))
    inner = _members(members["policy.pth"])
    for _ in range(150):
        record = sorted(inner)[rng.integers(len(inner))]
        content = bytearray(inner[record])
        if content:
            content[rng.integers(len(content))] = int(rng.integers(256))
        if rng.random() < 0.3:
            content = content[: rng.integers(len(content) + 1)]
        outcomes.append(_load_outcome(_zip({**members, "policy.pth": _zip({**inner, record: bytes(content)})})))
    text = bytearray(members["data"])
    for _ in range(50):
        damaged_text = bytearray(text)
        damaged_text[rng.integers(len(damaged_text))] = int(rng.integers(256))
        outcomes.append(_load_outcome(_zip({**members, "data": bytes(damaged_text)})))
    assert set(outcomes) <= {"LoadError", "loaded"}
    assert outcomes.count("LoadError") > 50


def test_malicious_data_entry_is_refused(model_bytes, tmp_path):
    marker = tmp_path / "pwned"
    members = _members(model_bytes)
    data = json.loads(members["data"])
    payload = base64.b64encode(pickle.dumps(_ShellCommand(f"touch {marker}"))).decode()
    data["learning_rate"] = {":type:": "<class 'float'>", ":serialized:": payload}
    content = _zip({**members, "data": json.dumps(data).encode()})
    # learning_rate may hold a function (a schedule): what default loading cannot make is skipped with a warning, the
    # learning rate of the saved optimizer is used instead, and nothing runs.
    with pytest.warns(UserWarning, match=r"skipped the saved entries \['learning_rate'\].*trusted=True"):
        model = PPO.load(io.BytesIO(content))
    assert model.learning_rate == pytest.approx(3e-4)
    # An entry that is needed is refused.
    data["observation_space"] = {":type:": "<class 'float'>", ":serialized:": payload}
    with pytest.raises(LoadError, match=r"(?s)\['observation_space'\].*'posix\.system'.*trusted=True"):
        PPO.load(io.BytesIO(_zip({**members, "data": json.dumps(data).encode()})))
    assert not marker.exists()
    # custom_objects replaces the entry without unpickling it.
    model = PPO.load(io.BytesIO(content), custom_objects={"learning_rate": 1e-3})
    assert model.learning_rate == 1e-3 and not marker.exists()


def test_malicious_torch_records_are_refused(model_bytes, tmp_path):
    marker = tmp_path / "pwned"
    members = _members(model_bytes)
    inner = _members(members["policy.pth"])
    inner["archive/data.pkl"] = pickle.dumps(_ShellCommand(f"touch {marker}"), protocol=2)
    with pytest.raises(LoadError, match=r"posix\.system"):
        load_from_zip_file(io.BytesIO(_zip({**members, "policy.pth": _zip(inner)})))
    # A policy-only file (BaseModel.save) is checked the same way.
    (tmp_path / "policy.pth").write_bytes(_zip(inner))
    with pytest.raises(LoadError, match=r"posix\.system"):
        ActorCriticPolicy.load(tmp_path / "policy.pth")
    assert not marker.exists()


def test_gadgets_through_allowed_classes_are_refused(tmp_path):
    # getattr on an allowed class reaches only enum members and the dummy schedule, not e.g. BaseModel.save, which
    # would write a file chosen by the attacker.
    gadget = b"\x80\x02cbuiltins\ngetattr\ncstable_baselines3.common.policies\nBaseModel\nX\x04\x00\x00\x00save\x86R."
    with pytest.raises(LoadError, match=r"getattr\(stable_baselines3\.common\.policies\.BaseModel, 'save'\)"):
        load_from_pkl(io.BufferedReader(io.BytesIO(gadget)))
    (tmp_path / "payload.pkl").write_bytes(pickle.dumps(_ShellCommand(f"touch {tmp_path / 'pwned'}")))
    with pytest.raises(LoadError, match=r"posix\.system"):
        load_from_pkl(tmp_path / "payload.pkl")
    assert not (tmp_path / "pwned").exists()


def test_only_trusted_loads_run_code(model_bytes, tmp_path):
    marker = tmp_path / "ran"
    members = _members(model_bytes)
    data = json.loads(members["data"])
    payload = base64.b64encode(pickle.dumps(_CallsMark(str(marker)))).decode()
    data["tensorboard_log"] = {":type:": "<class 'str'>", ":serialized:": payload}
    content = _zip({**members, "data": json.dumps(data).encode()})
    with pytest.raises(LoadError, match="_mark"):
        PPO.load(io.BytesIO(content))
    assert not marker.exists()
    model = PPO.load(io.BytesIO(content), trusted=True)
    assert marker.read_text() == "ran" and model.tensorboard_log == str(marker)
