"""
PyTorch's ``torch.save`` file format and SB3's pickled objects, read and written without importing torch.

A ``.pth`` file is a zip archive whose records sit under one folder: ``data.pkl``, a protocol-2 pickle in which every
tensor is a call to ``torch._utils._rebuild_tensor_v2`` on a persistent "storage" id; one raw record ``data/<key>``
per storage; ``byteorder`` and ``version``. Tensors are read into NumPy arrays and written from MLX arrays.

Unpickling is restricted to an allowlist (see ``find_safe_global``): NumPy arrays and dtypes, gymnasium spaces, plain
containers, the classes SB3 files name (``stable_baselines3.X`` is rebuilt as ``mlx_baselines3.X``) and torch layer
and optimizer classes (rebuilt as their ``mlx.nn`` / ``mlx.optimizers`` counterparts). Any other global raises
``UnsafePickleError``: a pickle can otherwise run arbitrary code when it is loaded. Pickles written here name SB3's and
torch's classes instead of ours, so that Stable-Baselines3 loads our files.
"""

import collections
import importlib
import io
import math
import pickle
import pickletools
import struct
import sys
import zipfile
from collections.abc import Callable, Iterable
from enum import Enum
from types import FunctionType
from typing import Any, BinaryIO

import cloudpickle
import gymnasium as gym
import mlx.core as mx
import numpy as np

from mlx_baselines3.common.utils import TORCH_TO_MLX_CLASSES, torch_class_to_mlx


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside the allowlist; it was not loaded because loading it could run code."""


# SB3 classes that its files reference (policy classes, schedules, buffers, noise, ...), by module under
# ``stable_baselines3.``; the same names under ``mlx_baselines3.`` are ours.
_SB3_CLASSES: dict[str, tuple[str, ...]] = {
    "common.policies": (
        "BaseModel",
        "BasePolicy",
        "ActorCriticPolicy",
        "ActorCriticCnnPolicy",
        "MultiInputActorCriticPolicy",
        "ContinuousCritic",
    ),
    "common.torch_layers": ("BaseFeaturesExtractor", "FlattenExtractor", "NatureCNN", "CombinedExtractor", "MlpExtractor"),
    "common.utils": ("FloatSchedule", "ConstantSchedule", "LinearSchedule"),
    "common.type_aliases": ("TrainFreq", "TrainFrequencyUnit"),
    "common.buffers": (
        "BaseBuffer",
        "RolloutBuffer",
        "DictRolloutBuffer",
        "ReplayBuffer",
        "DictReplayBuffer",
        "NStepReplayBuffer",
    ),
    "common.noise": ("NormalActionNoise", "OrnsteinUhlenbeckActionNoise", "VectorizedActionNoise"),
    "common.running_mean_std": ("RunningMeanStd",),
    "common.sb2_compat.rmsprop_tf_like": ("RMSpropTFLike",),
    "common.vec_env.vec_normalize": ("VecNormalize",),
    "her.her_replay_buffer": ("HerReplayBuffer",),
    "her.goal_selection_strategy": ("GoalSelectionStrategy",),
    "dqn.policies": ("DQNPolicy", "CnnPolicy", "MultiInputPolicy", "QNetwork"),
    "sac.policies": ("SACPolicy", "CnnPolicy", "MultiInputPolicy", "Actor"),
    "td3.policies": ("TD3Policy", "CnnPolicy", "MultiInputPolicy", "Actor"),
}

# The same for sb3-contrib's classes, under ``sb3_contrib.`` there and ``mlx_baselines3.contrib.`` here.
_SB3_CONTRIB_CLASSES: dict[str, tuple[str, ...]] = {
    "common.maskable.policies": (
        "MaskableActorCriticPolicy",
        "MaskableActorCriticCnnPolicy",
        "MaskableMultiInputActorCriticPolicy",
    ),
    "common.maskable.buffers": ("MaskableRolloutBuffer", "MaskableDictRolloutBuffer"),
    "common.recurrent.policies": (
        "RecurrentActorCriticPolicy",
        "RecurrentActorCriticCnnPolicy",
        "RecurrentMultiInputActorCriticPolicy",
    ),
    "common.recurrent.buffers": ("RecurrentRolloutBuffer", "RecurrentDictRolloutBuffer"),
    "qrdqn.policies": ("QRDQNPolicy", "CnnPolicy", "MultiInputPolicy", "QuantileNetwork"),
    "ars.policies": ("ARSPolicy", "ARSLinearPolicy"),
    "tqc.policies": ("TQCPolicy", "CnnPolicy", "MultiInputPolicy", "Critic"),
    "crossq.policies": ("CrossQPolicy", "Actor", "CrossQCritic"),
}

# (their package, ours, the classes): the most specific of our prefixes first.
_PACKAGES = (
    ("sb3_contrib.", "mlx_baselines3.contrib.", _SB3_CONTRIB_CLASSES),
    ("stable_baselines3.", "mlx_baselines3.", _SB3_CLASSES),
)

# Harmless globals: constructors of containers and NumPy arrays, dtypes and random generators.
_SAFE_GLOBALS = {
    ("builtins", "object"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("collections", "OrderedDict"),
    ("collections", "deque"),
    ("copyreg", "_reconstructor"),
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("numpy.random._generator", "Generator"),
    ("numpy.random.mtrand", "RandomState"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
}

# Functions that pickles reach as attributes of an allowed class.
_SAFE_NESTED_FUNCTIONS = ("BasePolicy._dummy_schedule",)

# Globals registered with ``add_safe_globals``: (module, qualified name) -> object.
_user_safe_globals: dict[tuple[str, str], Any] = {}


def add_safe_globals(objects: Iterable[Any]) -> None:
    """
    Allow more classes or functions in the files this library loads, e.g. a custom features extractor class named in
    ``policy_kwargs``. Only allow what cannot run harmful code when called with arguments taken from a file.

    :param objects: classes or functions, importable by their module and qualified name
    """
    for obj in objects:
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if module is None or qualname is None:
            raise TypeError(f"{obj!r} has no __module__/__qualname__: only classes and functions can be allowed.")
        _user_safe_globals[(module, qualname)] = obj


def _import_attribute(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _refuse(module: str, name: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"Refusing to load the global '{module}.{name}': it is not in mlx_baselines3's allowlist of what SB3 files "
        "contain, and unpickling it could run code from the file. If you trust the file, pass trusted=True; to allow "
        "this one class or function, call mlx_baselines3.common.torch_format.add_safe_globals([obj]); to replace a "
        "saved attribute, pass custom_objects={'<attribute>': value}."
    )


def _ours(relative_module: str, name: str, theirs: str = "stable_baselines3.", ours: str = "mlx_baselines3.") -> Any:
    # A class SB3 (or sb3-contrib) files name, rebuilt from our module of the same path.
    try:
        return _import_attribute(f"{ours}{relative_module}", name)
    except (ImportError, AttributeError) as e:
        raise pickle.UnpicklingError(
            f"The file needs {theirs}{relative_module}.{name}, but {ours}{relative_module}.{name} "
            f"is not available ({e}). Pass custom_objects to replace the attribute that holds it."
        ) from e


def _safe_getattr(obj: Any, name: str) -> Any:
    # Pickles reach nested functions (``BasePolicy._dummy_schedule``) and enum members through ``getattr``. Only
    # those are allowed: other methods called with objects from the file could write files or worse.
    if isinstance(obj, type) and isinstance(name, str) and not name.startswith("_" * 2):
        value = getattr(obj, name, None)
        if isinstance(value, Enum) and isinstance(value, obj):
            return value
        if isinstance(value, FunctionType) and value.__qualname__ in _SAFE_NESTED_FUNCTIONS:
            return value
    raise UnsafePickleError(
        f"Refusing getattr({obj!r}, {name!r}) while unpickling: only enum members and {_SAFE_NESTED_FUNCTIONS} are allowed."
    )


def _torch_device(type_name: str, index: int | None = None) -> str:
    # SB3 buffers pickle their ``torch.device``; MLX has no device objects, keep the name.
    return type_name if index is None else f"{type_name}:{index}"


def find_safe_global(module: str, name: str) -> Any:
    """
    Resolve a global named in a pickle, if it is on the allowlist: SB3's classes become ours, torch layer and
    optimizer classes become MLX's, gym spaces become gymnasium's, and NumPy 1 module paths are read as NumPy 2's.

    :param module: the module named in the pickle
    :param name: the qualified name
    :return: the object
    :raises UnsafePickleError: when the global is not allowed
    """
    if module == "__builtin__":  # protocol-2 pickles written by Python 2-compatible picklers
        module = "builtins"
    if module.startswith("numpy.core"):
        module = "numpy._core" + module[len("numpy.core") :]
    if (module, name) in _user_safe_globals:
        return _user_safe_globals[(module, name)]
    for theirs, ours, classes in _PACKAGES:
        prefix = next((p for p in (theirs, ours) if module.startswith(p)), None)
        if prefix is not None:
            relative = module[len(prefix) :]
            if name in classes.get(relative, ()):
                return _ours(relative, name, theirs, ours)
            raise _refuse(module, name)
    if (mlx_class := torch_class_to_mlx(module, name)) is not None:
        return mlx_class
    if (module, name) == ("torch", "device"):
        return _torch_device
    if (module, name) == ("builtins", "getattr"):
        return _safe_getattr
    if module.startswith("gym.spaces."):
        module = "gymnasium" + module[len("gym") :]
    # NumPy scalar types ("numpy", "float32"): action noises keep their dtype as one.
    if module.startswith("gymnasium.spaces.") or module in ("numpy", "numpy.dtypes") or (module, name) in _SAFE_GLOBALS:
        try:
            obj = _import_attribute(module, name)
        except (ImportError, AttributeError) as e:
            raise pickle.UnpicklingError(f"The file needs {module}.{name}, which cannot be imported here: {e}") from e
        if (module, name) in _SAFE_GLOBALS:
            return obj
        if isinstance(obj, type) and issubclass(obj, (gym.spaces.Space, np.dtype, np.generic)):
            return obj
    raise _refuse(module, name)


def _find_trusted_global(module: str, name: str) -> Any:
    # trusted=True: anything goes, but SB3 and torch names still map to ours so that the objects work here.
    try:
        return find_safe_global(module, name)
    except UnsafePickleError:
        return _import_attribute(module, name)


class RestrictedUnpickler(pickle.Unpickler):
    """
    Unpickler that only rebuilds allowlisted globals (see ``find_safe_global``), or any global when ``trusted``.

    :param file: a binary file holding the pickle
    :param trusted: allow every global (only for files from a trusted source: unpickling can then run any code)
    """

    def __init__(self, file: BinaryIO, trusted: bool = False):
        super().__init__(file)
        self._find = _find_trusted_global if trusted else find_safe_global

    def find_class(self, module: str, name: str) -> Any:
        return self._find(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"Unexpected persistent id {pid!r} outside a torch file.")


def loads(data: bytes, trusted: bool = False) -> Any:
    """
    Unpickle bytes with the allowlist (SB3's ``cloudpickle.loads``, made safe).

    :param data: the pickle
    :param trusted: allow every global (unsafe: only for files you trust)
    :return: the object
    """
    _check_lengths(data)
    return RestrictedUnpickler(io.BytesIO(data), trusted=trusted).load()


def _check_lengths(data: bytes) -> None:
    # CPython's unpickler allocates a bytes/bytearray object of the length a pickle declares before reading it; a
    # damaged length would allocate gigabytes. pickletools reads each argument without allocating it first and fails
    # on one longer than the data.
    for _ in pickletools.genops(data):
        pass


class _TorchGlobal:
    """A torch function or class, written into pickles by name (torch itself is never imported)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name


# torch storage class name <-> NumPy dtype ("BFloat16Storage" has no NumPy dtype: read as uint16 bits).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype(np.float64),
    "FloatStorage": np.dtype(np.float32),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": np.dtype(np.uint16),
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
    "ComplexDoubleStorage": np.dtype(np.complex128),
    "ComplexFloatStorage": np.dtype(np.complex64),
}
_STORAGE_TYPES = {name: _TorchGlobal("torch", name) for name in _STORAGE_DTYPES}
_STORAGE_NAME_OF_DTYPE = {dtype: name for name, dtype in _STORAGE_DTYPES.items() if name != "BFloat16Storage"}


def _mlx_global_names() -> dict[Any, tuple[str, str]]:
    # Our classes and MLX's, by the name SB3 and torch know them under.
    names: dict[Any, tuple[str, str]] = {}
    for theirs, ours, classes in _PACKAGES:
        for relative, class_names in classes.items():
            module = sys.modules.get(f"{ours}{relative}")
            for class_name in class_names:
                if module is not None and hasattr(module, class_name):
                    names[getattr(module, class_name)] = (f"{theirs}{relative}", class_name)
    for torch_module, mapping in TORCH_TO_MLX_CLASSES.items():
        for torch_name, (mlx_module, mlx_name) in mapping.items():
            names.setdefault(getattr(mlx_module, mlx_name), (torch_module, torch_name))
    return names


class SB3Pickler(pickle._Pickler):
    """
    Pickler that writes SB3's and torch's names for our and MLX's classes, so that SB3 (with torch) loads the result.

    It extends the pure-Python pickler because only that one lets a subclass choose the name written for a global.
    Objects that cannot be named (lambdas, classes defined in ``__main__``) are embedded by value with cloudpickle,
    as SB3 does; MLX arrays become torch tensors in torch files (``storages`` given) and NumPy arrays elsewhere.

    :param file: the binary file to write to
    :param protocol: the pickle protocol (torch files use 2)
    :param storages: collects tensor storages when writing a torch file
    """

    def __init__(self, file: BinaryIO, protocol: int, storages: "_StorageWriter | None" = None):
        super().__init__(file, protocol)
        self._storages = storages
        self._names = _mlx_global_names()
        # Tensors are rebuilt by our reader's function here and by torch's in torch.
        self._names[_rebuild_tensor] = ("torch._utils", "_rebuild_tensor_v2")

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            return ("storage", _STORAGE_TYPES[obj.type_name], obj.key, "cpu", obj.numel)
        return None

    # typeshed's stubs lack the pure-Python _Pickler's proto, save, save_reduce, write and memoize, and
    # pickle.whichmodule: hence the attr-defined ignores below.
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _TorchGlobal):
            return obj.name
        if isinstance(obj, mx.array):
            if self._storages is None:
                return np.asarray(obj).__reduce_ex__(self.proto)  # type: ignore[attr-defined]
            storage = self._storages.add(obj)
            strides = tuple(int(np.prod(obj.shape[i + 1 :], dtype=np.int64)) for i in range(obj.ndim))
            return _rebuild_tensor, (storage, 0, tuple(obj.shape), strides, False, collections.OrderedDict())
        return NotImplemented

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, _TorchGlobal):
            module, qualname = obj.module, obj.name
        elif isinstance(obj, (type, FunctionType)) and obj in self._names:
            module, qualname = self._names[obj]
        else:
            qualname = name or getattr(obj, "__qualname__", None) or obj.__name__
            module = pickle.whichmodule(obj, qualname)  # type: ignore[attr-defined]
            if module == "__main__" or not _is_importable(obj, module, qualname):
                self.save_reduce(pickle.loads, (cloudpickle.dumps(obj),), obj=obj)  # type: ignore[attr-defined]
                return
            if "." in qualname:
                parent_name, _, attribute = qualname.rpartition(".")
                parent = _import_attribute(module, parent_name)
                if self.proto < 4 or parent in self._names:  # type: ignore[attr-defined]
                    # Protocol 2 only names module-level objects, and a parent class may be written under SB3's
                    # name: reach the nested object (``BasePolicy._dummy_schedule``) through getattr on its parent.
                    self.save_reduce(getattr, (parent, attribute), obj=obj)  # type: ignore[attr-defined]
                    return
        if self.proto >= 4:  # type: ignore[attr-defined]
            self.save(module)  # type: ignore[attr-defined]
            self.save(qualname)  # type: ignore[attr-defined]
            self.write(pickle.STACK_GLOBAL)  # type: ignore[attr-defined]
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())  # type: ignore[attr-defined]
        self.memoize(obj)  # type: ignore[attr-defined]


# The base class dispatches functions to its own save_global; route them to ours (typeshed types dispatch's values
# with the wrong class).
SB3Pickler.dispatch = {**pickle._Pickler.dispatch, FunctionType: SB3Pickler.save_global}  # type: ignore[dict-item]


def _is_importable(obj: Any, module: str, qualname: str) -> bool:
    try:
        return _import_attribute(module, qualname) is obj
    except (ImportError, AttributeError):
        return False


def dumps(obj: Any, protocol: int = 5) -> bytes:
    """
    Pickle an object with SB3's and torch's names for our and MLX's classes (see ``SB3Pickler``).

    :param obj: the object
    :param protocol: the pickle protocol (SB3's cloudpickle writes 5)
    :return: the pickle
    """
    buffer = io.BytesIO()
    SB3Pickler(buffer, protocol).dump(obj)
    return buffer.getvalue()


class _Storage:
    """One tensor's storage while writing a torch file."""

    def __init__(self, key: str, type_name: str, data: bytes, numel: int):
        self.key, self.type_name, self.data, self.numel = key, type_name, data, numel


class _StorageWriter:
    """Collects the storages of the MLX arrays pickled into a torch file; an array pickled twice shares one."""

    def __init__(self) -> None:
        self.storages: list[_Storage] = []
        self._by_array: dict[int, tuple[mx.array, _Storage]] = {}

    def add(self, array: mx.array) -> _Storage:
        known = self._by_array.get(id(array))
        if known is not None:
            return known[1]
        if array.dtype == mx.bfloat16:
            values, type_name = np.asarray(array.view(mx.uint16)), "BFloat16Storage"
        else:
            values = np.asarray(array)
            if values.dtype not in _STORAGE_NAME_OF_DTYPE:
                raise TypeError(f"Cannot write an array of dtype {array.dtype} in torch format.")
            type_name = _STORAGE_NAME_OF_DTYPE[values.dtype]
        # A C-ordered little-endian copy; np.asarray keeps 0-d arrays 0-d (Adam's step must stay a scalar).
        values = np.asarray(values, dtype=values.dtype.newbyteorder("<"), order="C")
        storage = _Storage(str(len(self.storages)), type_name, values.tobytes(), int(values.size))
        self.storages.append(storage)
        # Keep the array alive so that its id is not reused while the file is written.
        self._by_array[id(array)] = (array, storage)
        return storage


_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the zip epoch: saving the same object twice gives the same bytes


def _write_aligned(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # torch pads each record's local header ("FB" extra field) so that the data starts on a 64-byte boundary, which
    # lets torch.load(mmap=True) map the tensors.
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_STORED
    # archive.fp is the open output file while writing.
    header_end = archive.fp.tell() + 30 + len(name.encode()) + 4  # type: ignore[union-attr]
    padding = -header_end % 64
    info.extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
    archive.writestr(info, data)


def save(obj: Any, file: BinaryIO, archive_name: str = "archive") -> None:
    """
    Write an object in ``torch.save``'s format (what ``torch.load`` reads, ``weights_only=True`` included when the
    object holds only containers, numbers, strings and tensors). MLX arrays become tensors.

    :param obj: e.g. a state dict (``OrderedDict`` of MLX arrays) or an optimizer state dict
    :param file: a writable binary file
    :param archive_name: the folder of the records inside the archive (torch uses ``archive`` for streams)
    """
    storages = _StorageWriter()
    pickled = io.BytesIO()
    SB3Pickler(pickled, protocol=2, storages=storages).dump(obj)
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
        _write_aligned(archive, f"{archive_name}/data.pkl", pickled.getvalue())
        _write_aligned(archive, f"{archive_name}/.format_version", b"1")
        _write_aligned(archive, f"{archive_name}/.storage_alignment", b"64")
        _write_aligned(archive, f"{archive_name}/byteorder", b"little")
        for storage in storages.storages:
            _write_aligned(archive, f"{archive_name}/data/{storage.key}", storage.data)
        _write_aligned(archive, f"{archive_name}/version", b"3\n")


class _LoadedStorage:
    """A storage read from a torch file: a flat NumPy array."""

    def __init__(self, values: np.ndarray, bfloat16: bool):
        self.values, self.bfloat16 = values, bfloat16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rebuild_tensor(
    storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False, backward_hooks: Any = None, *_
) -> np.ndarray:
    # torch._utils._rebuild_tensor_v2, checked so that a corrupt file can neither read out of bounds nor make us
    # allocate more than the storage holds.
    if not isinstance(storage, _LoadedStorage):
        raise pickle.UnpicklingError(f"Tensor rebuilt from {type(storage).__name__}, expected a storage.")
    if not (
        _is_int(storage_offset)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(_is_int(v) and v >= 0 for v in (storage_offset, *size, *stride))
    ):
        raise pickle.UnpicklingError(f"Invalid tensor geometry: offset {storage_offset!r}, size {size!r}, stride {stride!r}.")
    values = storage.values
    count = math.prod(size)
    if count == 0:
        array = np.empty(size, dtype=values.dtype)
    else:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= values.size or count > values.size:
            raise pickle.UnpicklingError(
                f"Tensor of size {size} (offset {storage_offset}, stride {stride}) exceeds its storage "
                f"of {values.size} elements."
            )
        array = np.lib.stride_tricks.as_strided(
            values[storage_offset:], shape=size, strides=tuple(s * values.itemsize for s in stride), writeable=False
        ).copy()
    if storage.bfloat16:
        # bfloat16 is the upper half of a float32.
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None, *_: Any) -> Any:
    # torch._utils._rebuild_parameter wraps an nn.Parameter around a tensor; keep the tensor.
    return data


class _TorchUnpickler(RestrictedUnpickler):
    """Restricted unpickler for a torch file's ``data.pkl``: tensors become NumPy arrays (or ``map_tensor(array)``)."""

    def __init__(
        self,
        file: BinaryIO,
        read_record: Callable[[str], bytes],
        big_endian: bool,
        trusted: bool,
        map_tensor: Callable[[np.ndarray], Any] | None,
    ):
        super().__init__(file, trusted=trusted)
        self._read_record = read_record
        self._big_endian = big_endian
        self._map_tensor = map_tensor
        self._storages: dict[str, _LoadedStorage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_TYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        return super().find_class(module, name)

    def _rebuild_tensor(self, *args: Any) -> Any:
        array = _rebuild_tensor(*args)
        return array if self._map_tensor is None else self._map_tensor(array)

    def persistent_load(self, pid: Any) -> _LoadedStorage:
        if not (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _TorchGlobal)
            and isinstance(pid[2], str)
            and _is_int(pid[4])
            and pid[4] >= 0
        ):
            raise pickle.UnpicklingError(f"Unsupported persistent id {pid!r} (expected a torch storage).")
        _, storage_type, key, _, numel = pid
        if key not in self._storages:
            dtype = _STORAGE_DTYPES[storage_type.name]
            raw = self._read_record(f"data/{key}")
            if len(raw) != numel * dtype.itemsize:
                raise pickle.UnpicklingError(f"Storage {key} holds {len(raw)} bytes, expected {numel} x {dtype.itemsize}.")
            values = np.frombuffer(raw, dtype=dtype.newbyteorder(">" if self._big_endian else "<"))
            bfloat16 = storage_type.name == "BFloat16Storage"
            self._storages[key] = _LoadedStorage(values.astype(dtype, copy=False), bfloat16=bfloat16)
        return self._storages[key]


def load(file: BinaryIO | bytes, trusted: bool = False, map_tensor: Callable[[np.ndarray], Any] | None = None) -> Any:
    """
    Read a file written by ``torch.save`` (or ``save``), without torch.

    :param file: a readable binary file, or the file's bytes
    :param trusted: allow every global in the pickle (unsafe: only for files you trust)
    :param map_tensor: applied to each tensor, read as a NumPy array (e.g. ``mx.array``); None keeps NumPy arrays
    :return: the object, tensors replaced by arrays
    :raises ValueError: when the file is not a torch zip file or is corrupt
    :raises UnsafePickleError: when the pickle names a global outside the allowlist
    """
    raw = file if isinstance(file, bytes) else file.read()
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        if raw[:2] == b"\x80\x02":
            raise ValueError(
                "This is a torch file in the legacy format of torch < 1.6, which is not supported: load it with "
                "torch and save it again with a recent torch."
            )
        raise ValueError("Not a torch file: torch.save writes a zip archive.")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = archive.namelist()
            if "/" not in names[0]:
                raise ValueError("its records are not in a folder")
            prefix = names[0].split("/", 1)[0]

            def read_record(record: str) -> bytes:
                try:
                    return archive.read(f"{prefix}/{record}")
                except KeyError:
                    raise ValueError(f"it has no record '{record}'") from None

            big_endian = f"{prefix}/byteorder" in names and read_record("byteorder") == b"big"
            pickled = read_record("data.pkl")
            _check_lengths(pickled)
            return _TorchUnpickler(io.BytesIO(pickled), read_record, big_endian, trusted, map_tensor).load()
    except UnsafePickleError:
        raise
    except Exception as e:
        # Whatever a corrupt archive or pickle raises (BadZipFile, EOFError, KeyError, struct.error...) is one error.
        raise ValueError(f"Cannot load the torch file: {type(e).__name__}: {e}") from e


__all__ = [
    "RestrictedUnpickler",
    "SB3Pickler",
    "UnsafePickleError",
    "add_safe_globals",
    "dumps",
    "find_safe_global",
    "load",
    "loads",
    "save",
]
