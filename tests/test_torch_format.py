"""torch's .pth format read and written without torch, and the allowlist unpickler (torch only checks our output)."""

import collections
import io
import pickle
import pickletools
import zipfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest

from mlx_baselines3.common import safe_load, torch_format
from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from mlx_baselines3.common.safe_pickle import Global
from mlx_baselines3.common.utils import ConstantSchedule, FloatSchedule

th = pytest.importorskip("torch")


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    th.save(obj, buffer)
    return buffer.getvalue()


def _ours_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch_format.save(obj, buffer)
    return buffer.getvalue()


def _globals_in(pickled: bytes) -> set[tuple[str, str]]:
    found, strings = set(), []
    for opcode, arg, _ in pickletools.genops(pickled):
        if opcode.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
        elif opcode.name in ("SHORT_BINUNICODE", "BINUNICODE"):
            strings.append(arg)
        elif opcode.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
    return found


@pytest.mark.parametrize(
    "mx_dtype, th_dtype",
    [
        (mx.float32, th.float32),
        (mx.float16, th.float16),
        (mx.bfloat16, th.bfloat16),
        (mx.int64, th.int64),
        (mx.int32, th.int32),
        (mx.uint8, th.uint8),
        (mx.bool_, th.bool),
    ],
)
def test_written_tensors_load_in_torch_weights_only(mx_dtype, th_dtype):
    values = mx.array([[1.5, -2.0, 0.0], [3.0, 4.25, -1.0]]).astype(mx_dtype)
    state = collections.OrderedDict(weight=values, step=mx.array(7.0))
    loaded = th.load(io.BytesIO(_ours_bytes(state)), weights_only=True)
    assert isinstance(loaded, collections.OrderedDict)
    assert list(loaded) == ["weight", "step"]
    assert loaded["weight"].dtype == th_dtype
    expected = np.asarray(values.astype(mx.float32))
    np.testing.assert_array_equal(loaded["weight"].float().numpy(), expected)
    # A 0-d array stays 0-d (torch's Adam keeps "step" as a scalar tensor).
    assert loaded["step"].shape == () and loaded["step"].item() == 7.0


def test_float64_and_shared_arrays():
    shared = mx.arange(6, dtype=mx.float32).reshape(2, 3)
    state = {"a": shared, "alias": shared, "list": [1, 2.5, None, True], "betas": (0.9, 0.999)}
    data = _ours_bytes(state)
    loaded = th.load(io.BytesIO(data), weights_only=True)
    # The same array is one storage, as torch does for tensors sharing memory.
    assert loaded["a"].data_ptr() == loaded["alias"].data_ptr()
    assert loaded["list"] == [1, 2.5, None, True] and loaded["betas"] == (0.9, 0.999)
    assert sum(name.startswith("archive/data/") for name in zipfile.ZipFile(io.BytesIO(data)).namelist()) == 1


def test_records_are_64_byte_aligned_and_saves_are_deterministic():
    state = collections.OrderedDict((f"w{i}", mx.ones((i + 1, 3))) for i in range(4))
    first, second = _ours_bytes(state), _ours_bytes(state)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        names = archive.namelist()
        assert names[0] == "archive/data.pkl" and names[-1] == "archive/version"
        assert archive.read("archive/version") == b"3\n" and archive.read("archive/byteorder") == b"little"
        for info in archive.infolist():
            assert (info.header_offset + 30 + len(info.filename) + len(info.extra)) % 64 == 0
        assert archive.read("archive/data.pkl")[:2] == b"\x80\x02"  # protocol 2, as torch.load(weights_only) requires


def test_reads_torch_files_views_and_dtypes():
    base = th.arange(12, dtype=th.float32)
    saved = {
        "transposed": base.reshape(3, 4).t(),
        "slice": base[2:5],
        "double": th.tensor([1.0, 2.0], dtype=th.float64),
        "half": th.tensor([0.5], dtype=th.float16),
        "bf16": th.tensor([1.5, -3.0], dtype=th.bfloat16),
        "long": th.tensor([[1, 2]], dtype=th.int64),
        "bool": th.tensor([True, False]),
        "scalar": th.tensor(3.0),
        "empty": th.zeros((0, 4)),
        "param": th.nn.Parameter(th.ones(2)),
        "nested": {"groups": [{"lr": 0.1, "betas": (0.9, 0.99), "foreach": None}]},
    }
    loaded = torch_format.load(_torch_bytes(saved))
    np.testing.assert_array_equal(loaded["transposed"], np.arange(12, dtype=np.float32).reshape(3, 4).T)
    np.testing.assert_array_equal(loaded["slice"], [2.0, 3.0, 4.0])
    assert loaded["double"].dtype == np.float64 and loaded["half"].dtype == np.float16
    np.testing.assert_array_equal(loaded["bf16"], np.array([1.5, -3.0], dtype=np.float32))
    assert loaded["long"].dtype == np.int64 and loaded["bool"].dtype == np.bool_
    assert loaded["scalar"].shape == () and loaded["scalar"] == 3.0
    assert loaded["empty"].shape == (0, 4)
    np.testing.assert_array_equal(loaded["param"], [1.0, 1.0])
    assert loaded["nested"] == {"groups": [{"lr": 0.1, "betas": (0.9, 0.99), "foreach": None}]}
    as_mlx = torch_format.load(_torch_bytes(saved), map_tensor=mx.array)
    assert isinstance(as_mlx["transposed"], mx.array) and as_mlx["transposed"].shape == (4, 3)


def test_big_endian_records_are_swapped():
    data = _torch_bytes({"w": th.tensor([1.0, -2.0, 3.5])})
    source = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name.endswith("/byteorder"):
                content = b"big"
            elif "/data/" in name:
                content = np.frombuffer(content, dtype="<f4").astype(">f4").tobytes()
            target.writestr(name, content)
    np.testing.assert_array_equal(torch_format.load(output.getvalue())["w"], [1.0, -2.0, 3.5])


def test_rejects_non_torch_legacy_and_out_of_bounds_files():
    with pytest.raises(ValueError, match="Not a torch file"):
        torch_format.load(b"plain bytes")
    with pytest.raises(ValueError, match="legacy format"):
        torch_format.load(pickle.dumps({"a": 1}, protocol=2))
    # A tensor whose geometry reaches past its storage must be refused, not read out of bounds.
    data = _ours_bytes({"w": mx.ones((2, 2))})
    source = zipfile.ZipFile(io.BytesIO(data))
    pickled = source.read("archive/data.pkl").replace(b"K\x02K\x02\x86", b"K\x09K\x02\x86")
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as target:
        for name in source.namelist():
            target.writestr(name, pickled if name.endswith("data.pkl") else source.read(name))
    with pytest.raises(ValueError, match="exceeds its storage"):
        torch_format.load(output.getvalue())


def _reference(module, name):
    return safe_load.Builder("test").reference(Global(module, name))


def test_sb3_and_torch_names_resolve_to_ours():
    assert _reference("stable_baselines3.common.policies", "ActorCriticPolicy") is ActorCriticPolicy
    assert _reference("mlx_baselines3.common.policies", "ActorCriticPolicy") is ActorCriticPolicy
    assert _reference("torch.nn.modules.activation", "Tanh") is nn.Tanh
    assert _reference("torch.nn.modules.activation", "Hardtanh") is nn.HardTanh
    assert _reference("torch.optim.adam", "Adam") is optim.Adam
    assert _reference("torch.optim.rmsprop", "RMSprop") is optim.RMSprop
    assert _reference("numpy", "float32") is np.float32
    assert safe_load.canonical("gym.spaces.box", "Box") == ("gymnasium.spaces.box", "Box")
    assert safe_load.canonical("numpy.core.multiarray", "_reconstruct") == ("numpy._core.multiarray", "_reconstruct")


@pytest.mark.parametrize(
    "module, name",
    [
        ("os", "system"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("subprocess", "Popen"),
        ("cloudpickle.cloudpickle", "_make_function"),
        ("_pickle", "loads"),
        ("stable_baselines3.common.save_util", "load_from_zip_file"),
        ("mlx_baselines3.common.save_util", "save_to_pkl"),
        ("stable_baselines3.common.utils", "FloatSchedule"),  # an instance is built from its state, the class is not named
        ("gymnasium.spaces.utils", "flatten"),
        ("numpy", "load"),
    ],
)
def test_other_globals_are_refused(module, name):
    with pytest.raises(safe_load.Refused, match=f"'{module}.{name}'"):
        _reference(module, name)
    # Called, too: nothing is called unless a validating function exists for it.
    with pytest.raises(LoadError):
        torch_format.loads(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R.")


def test_getattr_only_reaches_enum_members_and_the_dummy_schedule():
    def getattr_pickle(module, name, attribute):
        return b"\x80\x02cbuiltins\ngetattr\nc" + f"{module}\n{name}\n".encode() + pickle.dumps(attribute, 2)[2:-1] + b"\x86R."

    assert torch_format.loads(getattr_pickle("stable_baselines3.common.policies", "BasePolicy", "_dummy_schedule")) is (
        BasePolicy._dummy_schedule
    )
    from mlx_baselines3.common.type_aliases import TrainFrequencyUnit

    unit = torch_format.loads(getattr_pickle("stable_baselines3.common.type_aliases", "TrainFrequencyUnit", "STEP"))
    assert unit is TrainFrequencyUnit.STEP
    for module, name, attribute in [
        ("stable_baselines3.common.policies", "BasePolicy", "save"),
        ("stable_baselines3.common.policies", "ActorCriticPolicy", "load"),
        ("stable_baselines3.common.policies", "BasePolicy", "__init__"),
        ("numpy", "ndarray", "tofile"),
    ]:
        with pytest.raises(safe_load.Refused):
            torch_format.loads(getattr_pickle(module, name, attribute))


class _CustomSchedule:
    def __init__(self, value: float):
        self.value = value

    def __call__(self, _: float) -> float:
        return self.value


def test_trusted_and_added_globals():
    data = pickle.dumps(_CustomSchedule(0.5))
    with pytest.raises(safe_load.Refused, match="_CustomSchedule"):
        torch_format.loads(data)
    assert torch_format.loads(data, trusted=True).value == 0.5
    safe_load.add_safe_globals([_CustomSchedule])
    try:
        # An allowed class may be named (it comes back as the class), never built or called from a file.
        assert torch_format.loads(pickle.dumps(_CustomSchedule)) is _CustomSchedule
        with pytest.raises(safe_load.Refused, match="_CustomSchedule"):
            torch_format.loads(data)
    finally:
        safe_load._user_references.clear()


def test_pickler_writes_sb3_and_torch_names():
    obj = {
        "policy_class": ActorCriticPolicy,
        "activation_fn": nn.ReLU,
        "optimizer_class": optim.RMSprop,
        "lr_schedule": FloatSchedule(ConstantSchedule(3e-4)),
        "dummy": BasePolicy._dummy_schedule,
        "array": mx.array([1.0, 2.0]),
    }
    pickled = torch_format.dumps(obj)
    names = _globals_in(pickled)
    assert ("stable_baselines3.common.policies", "ActorCriticPolicy") in names
    assert ("stable_baselines3.common.policies", "BasePolicy") in names
    assert ("torch.nn.modules.activation", "ReLU") in names
    assert ("torch.optim.rmsprop", "RMSprop") in names
    assert ("stable_baselines3.common.utils", "FloatSchedule") in names
    assert not any(module.startswith(("mlx_baselines3", "mlx.")) for module, _ in names)
    loaded = torch_format.loads(pickled)
    assert loaded["policy_class"] is ActorCriticPolicy and loaded["activation_fn"] is nn.ReLU
    assert loaded["lr_schedule"](0.3) == pytest.approx(3e-4) and loaded["dummy"] is BasePolicy._dummy_schedule
    # MLX arrays outside torch files travel as NumPy arrays (SB3 has no MLX).
    np.testing.assert_array_equal(loaded["array"], [1.0, 2.0])


def test_lambdas_are_embedded_by_value_and_refused_unless_trusted():
    pickled = torch_format.dumps({"learning_rate": lambda progress: 1e-3 * progress})
    with pytest.raises(safe_load.Refused, match=r"_pickle\.loads"):
        torch_format.loads(pickled)
    assert torch_format.loads(pickled, trusted=True)["learning_rate"](0.5) == pytest.approx(5e-4)
