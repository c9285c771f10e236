"""
PyTorch's ``torch.save`` file format, read and written without importing torch.

A ``.pth`` file is a zip archive whose records sit under one folder: ``data.pkl``, a protocol-2 pickle in which every
tensor is a call to ``torch._utils._rebuild_tensor_v2`` on a persistent "storage" id; one raw record ``data/<key>``
per storage; ``byteorder`` and ``version``. Tensors are read into NumPy arrays and written from MLX arrays.

Reading never runs code from the file: ``data.pkl`` is decoded by ``safe_pickle`` and built by ``safe_load``'s
schema-driven builder, with the storages and tensor records checked here (keys, sizes, offsets, strides, total bytes).
``trusted=True`` unpickles with Python's ``pickle`` instead, for files you trust. Pickles written here name SB3's and
torch's classes instead of ours, so that Stable-Baselines3 loads our files; the tables below map those names both ways.
"""

import bz2
import collections
import copy
import importlib
import io
import math
import pickle
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from types import FunctionType
from typing import Any, BinaryIO

import cloudpickle
import mlx.core as mx
import numpy as np

from mlx_baselines3.common import safe_load, safe_pickle
from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.safe_pickle import Global, Limits, shorten
from mlx_baselines3.common.utils import TORCH_TO_MLX_CLASSES, torch_class_to_mlx

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


def _import_attribute(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _register_torch_references() -> None:
    # Files name torch's layer and optimizer classes (policy_kwargs' activation_fn, optimizer_class), which stand for
    # MLX's (utils.TORCH_TO_MLX_CLASSES). They are references: the builder returns the class, the policy uses it.
    for torch_module, mapping in TORCH_TO_MLX_CLASSES.items():
        for torch_name in mapping:
            safe_load.register_reference(torch_module, torch_name, torch_class_to_mlx(torch_module, torch_name))


_register_torch_references()


def _find_trusted_global(module: str, name: str) -> Any:
    # trusted=True: anything is imported, but SB3's and torch's names still map to ours so that the objects work here.
    key = safe_load.canonical(module, name)
    try:
        return safe_load.Builder("trusted").reference(Global(*key))
    except LoadError:
        pass
    if key == ("torch", "device"):
        return _torch_device
    if key == ("torch._utils", "_rebuild_parameter"):
        return _keep_tensor
    ours = safe_load.our_module(key[0])
    return _import_attribute(ours if ours is not None else key[0], key[1])


def _torch_device(kind: str, index: int | None = None) -> str:
    # MLX has no device objects: a pickled torch.device (in SB3's buffers) becomes its name.
    return kind if index is None else f"{kind}:{index}"


def _keep_tensor(data: Any, *_: Any) -> Any:
    # torch._utils._rebuild_parameter wraps an nn.Parameter around a tensor; keep the tensor.
    return data


class _TrustedUnpickler(pickle.Unpickler):
    """Python's unpickler (runs whatever the file says: for trusted files only), with SB3/torch names mapped to ours."""

    def find_class(self, module: str, name: str) -> Any:
        return _find_trusted_global(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("Unexpected persistent id outside a torch file.")


def loads(data: bytes, trusted: bool = False, where: str = "pickle", limits: Limits | None = None) -> Any:
    """
    Load a pickle (SB3's ``cloudpickle.loads``, made safe): decoded and built from known shapes only (see
    ``safe_load``), or, with ``trusted``, unpickled by Python.

    :param data: the pickle
    :param trusted: unpickle with Python's ``pickle`` (runs code from the file: only for files you trust)
    :param where: names the file and member in error messages
    :param limits: the bounds of the safe decoder
    :return: the object
    :raises LoadError: when the pickle is corrupt or invalid; ``safe_load.Refused`` (a LoadError) when it needs
        something default loading does not make
    """
    if not trusted:
        return safe_load.build(data, where, limits)
    try:
        return _TrustedUnpickler(io.BytesIO(data)).load()
    except Exception as e:
        raise LoadError(f"{where}: cannot unpickle: {type(e).__name__}: {shorten(str(e), 200)}") from e


class _TorchGlobal:
    """A torch function or class, written into pickles by name (torch itself is never imported)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:
        # Callable only so that pickle accepts it as the function of a reduce tuple; never called.
        raise TypeError(f"{self.module}.{self.name} is a torch function, written to files by name only")


_REBUILD_TENSOR = _TorchGlobal("torch._utils", "_rebuild_tensor_v2")


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
            return _REBUILD_TENSOR, (storage, 0, tuple(obj.shape), strides, False, collections.OrderedDict())
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


def _tensor_from_storage(
    values: np.ndarray, bfloat16: bool, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> np.ndarray:
    # torch._utils._rebuild_tensor_v2, checked so that a record can neither read out of bounds nor make us allocate
    # more than its storage holds.
    count = math.prod(size)
    if count == 0:
        array = np.empty(size, dtype=values.dtype)
    else:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= values.size or count > values.size:
            raise LoadError(
                f"a tensor of size {size} (offset {offset}, stride {stride}) exceeds its storage of {values.size} elements"
            )
        array = np.lib.stride_tricks.as_strided(
            values[offset:], shape=size, strides=tuple(s * values.itemsize for s in stride), writeable=False
        ).copy()
    if bfloat16:
        # bfloat16 is the upper half of a float32.
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


class _TorchReader:
    """Reads one torch zip archive: its records (size-capped) and its storages (each read once, checked)."""

    def __init__(self, archive: zipfile.ZipFile, where: str, limits: Limits, map_tensor: Callable[[np.ndarray], Any] | None):
        self.archive, self.where, self.limits, self.map_tensor = archive, where, limits, map_tensor
        names = archive.namelist()
        if not names or "/" not in names[0]:
            raise LoadError(f"{where}: not a torch file (its records are not in a folder)")
        self.prefix = names[0].split("/", 1)[0]
        self.big_endian = f"{self.prefix}/byteorder" in names and self.record("byteorder") == b"big"
        self.storages: dict[str, tuple[np.ndarray, bool]] = {}
        self.storage_bytes = 0
        self.tensor_bytes = 0

    def record(self, name: str) -> bytes:
        return read_member(self.archive, f"{self.prefix}/{name}", self.where, self.limits.max_member_bytes)

    def storage(self, pid: Any) -> tuple[np.ndarray, bool]:
        # ("storage", storage type, key, location, numel), as torch's persistent_load expects.
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise LoadError(f"{self.where}: an unsupported persistent id (expected a torch storage)")
        _, storage_type, key, _, numel = pid
        if not isinstance(storage_type, safe_load.StorageType):
            raise LoadError(f"{self.where}: a storage of an unknown type")
        if not (isinstance(key, str) and key.isdigit() and len(key) <= 12):
            raise LoadError(f"{self.where}: an invalid storage key {shorten(key)}")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise LoadError(f"{self.where}: an invalid storage size {shorten(numel)}")
        if key not in self.storages:
            dtype = storage_type.dtype
            raw = self.record(f"data/{key}")
            if len(raw) != numel * dtype.itemsize:
                raise LoadError(f"{self.where}: storage {key} holds {len(raw)} bytes, expected {numel} x {dtype.itemsize}")
            values = np.frombuffer(raw, dtype=dtype.newbyteorder(">" if self.big_endian else "<")).astype(dtype, copy=False)
            self.storages[key] = (values, storage_type.bfloat16)
            self.storage_bytes += len(raw)
        elif self.storages[key][0].size != numel:
            raise LoadError(f"{self.where}: storage {key} is declared with two sizes")
        return self.storages[key]

    def tensor(self, storage: Any, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> Any:
        if not (isinstance(storage, tuple) and len(storage) == 2 and isinstance(storage[0], np.ndarray)):
            raise LoadError(f"{self.where}: a tensor rebuilt from something other than a storage")
        values, bfloat16 = storage
        # A storage is read once however many tensors use it, but each tensor is a copy: bound what they add up to.
        self.tensor_bytes += math.prod(size) * values.itemsize
        budget = self.limits.tensor_bytes_factor * self.storage_bytes + (1 << 20)
        if self.tensor_bytes > budget:
            raise LoadError(
                f"{self.where}: its tensors add up to more than {self.limits.tensor_bytes_factor} times the "
                f"{self.storage_bytes} bytes of storage the file holds"
            )
        try:
            array = _tensor_from_storage(values, bfloat16, offset, size, stride)
        except LoadError as e:
            raise LoadError(f"{self.where}: {e}") from None
        return array if self.map_tensor is None else self.map_tensor(array)

    def load(self, trusted: bool) -> Any:
        pickled = self.record("data.pkl")
        where = f"{self.where}, record data.pkl"
        if trusted:
            return _TrustedTorchUnpickler(io.BytesIO(pickled), self).load()
        tree = safe_pickle.decode(pickled, where, self.limits)
        builder = safe_load.Builder(where, self.limits, persistent=self.storage, tensors=self.tensor)
        return builder.build(tree)


class _TrustedTorchUnpickler(_TrustedUnpickler):
    """trusted=True for a torch file: Python's unpickler, with storages and tensors read as the safe path does."""

    def __init__(self, file: BinaryIO, reader: _TorchReader):
        super().__init__(file)
        self._reader = reader

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in safe_load.STORAGE_TYPES:
            return safe_load.STORAGE_TYPES[name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *_: self._reader.tensor(storage, offset, tuple(size), tuple(stride))
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        return self._reader.storage(pid)


def read_member(archive: zipfile.ZipFile, member: str, where: str, max_bytes: int) -> bytes:
    """
    Read a zip member with a bound on its decompressed size: the size the zip declares is checked first, then the
    data is inflated with a cap, so a member that inflates beyond what it declares (a zip bomb) stops at the cap.

    Python's ``zipfile`` inflates bzip2 members without a cap per read (a few KB can become gigabytes in one call), so
    those are inflated here with ``max_length``; LZMA members (which neither SB3 nor torch writes) are refused.

    :param archive: the open archive
    :param member: the member's name
    :param where: names the file in error messages
    :param max_bytes: the largest size accepted
    :return: the member's bytes
    :raises LoadError: when it is missing, too large, compressed with LZMA or corrupt
    """
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise LoadError(f"{where}: the member {shorten(member)} is missing") from None
    if info.file_size > max_bytes:
        raise LoadError(
            f"{where}: the member {shorten(member)} declares {info.file_size} bytes, more than the limit of "
            f"{max_bytes} (safe_pickle.DEFAULT_LIMITS.max_member_bytes)"
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
        raise LoadError(f"{where}: the member {shorten(member)} uses compression method {info.compress_type}")
    try:
        if info.compress_type == zipfile.ZIP_BZIP2:
            data = _inflate_bzip2(archive, info)
        else:
            with archive.open(info) as stream:
                # Deflate is inflated in bounded steps by zipfile; stop one byte past the declared size.
                data = stream.read(info.file_size + 1)
    except LoadError:
        raise
    except Exception as e:
        # A damaged member raises BadZipFile (bad CRC or header), EOFError (truncated), NotImplementedError (unknown
        # compression), RuntimeError (flagged as encrypted), zlib/bz2 errors...: all mean a corrupt file.
        reason = f"{type(e).__name__}: {shorten(str(e), 200)}"
        raise LoadError(f"{where}: the member {shorten(member)} cannot be read, the file is corrupt ({reason})") from e
    if len(data) != info.file_size:
        raise LoadError(f"{where}: the member {shorten(member)} is not the size its header declares")
    return data


def _inflate_bzip2(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Read the member's compressed bytes as they are (a copy of its entry marked stored, without CRC), then inflate
    # at most one byte past the declared size and check the CRC ourselves.
    raw_info = copy.copy(info)
    raw_info.compress_type = zipfile.ZIP_STORED
    raw_info.file_size = info.compress_size
    del raw_info.CRC
    with archive.open(raw_info) as stream:
        compressed = stream.read(info.compress_size)
    data = bz2.BZ2Decompressor().decompress(compressed, max_length=info.file_size + 1)
    if len(data) == info.file_size and zlib.crc32(data) != info.CRC:
        raise LoadError(f"bad CRC-32 for the bzip2 member {shorten(info.filename)}")
    return data


def load(
    file: BinaryIO | bytes,
    trusted: bool = False,
    map_tensor: Callable[[np.ndarray], Any] | None = None,
    where: str = "torch file",
    limits: Limits | None = None,
) -> Any:
    """
    Read a file written by ``torch.save`` (or ``save``), without torch and without running code from it.

    :param file: a readable binary file, or the file's bytes
    :param trusted: unpickle ``data.pkl`` with Python's ``pickle`` (runs code from the file: only for files you trust)
    :param map_tensor: applied to each tensor, read as a NumPy array (e.g. ``mx.array``); None keeps NumPy arrays
    :param where: names the file (and member) in error messages
    :param limits: the bounds of the safe decoder (``safe_pickle.DEFAULT_LIMITS`` when None)
    :return: the object, tensors replaced by arrays
    :raises LoadError: when the file is not a torch zip file, is corrupt, or needs what default loading does not make
    """
    limits = limits or safe_pickle.DEFAULT_LIMITS
    raw = file if isinstance(file, bytes) else safe_load.read_capped(file, limits.max_member_bytes, where)
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        if raw[:2] == b"\x80\x02":
            raise LoadError(
                f"{where}: a torch file in the legacy format of torch < 1.6, which is not supported: load it with torch "
                "and save it again with a recent torch."
            )
        raise LoadError(f"{where}: Not a torch file (torch.save writes a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return _TorchReader(archive, where, limits, map_tensor).load(trusted)
    except LoadError:
        raise
    except Exception as e:
        # A damaged zip directory (BadZipFile, struct.error...) and, with trusted=True, whatever unpickling raises.
        raise LoadError(f"{where}: cannot load the torch file: {type(e).__name__}: {shorten(str(e), 200)}") from e


__all__ = ["SB3Pickler", "dumps", "load", "loads", "read_member", "save"]
