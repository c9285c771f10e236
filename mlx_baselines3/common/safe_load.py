"""
The schema-driven builder: turns a decoded pickle (``common/safe_pickle.py``) into objects, making only known shapes.

A decoded pickle is a tree of plain values and symbolic references. ``Builder.build`` walks it (with a depth cap and a
cycle check; each node is built once however often the memo references it) and makes objects only through small
validating functions, one per shape a model file may hold:

- **calls** (``REDUCE``): ``collections.OrderedDict``/``deque``, sets, NumPy arrays (``_reconstruct`` + state,
  ``_frombuffer``), scalars (``scalar``) and dtypes of numeric or bool types only (from their bytes, the shape checked
  against the byte count; object, void, structured and flag-altered dtypes are refused), ``TrainFreq`` and the enums,
  ``torch.device`` (kept as its name) and, in torch files, ``torch._utils._rebuild_tensor_v2``/``_rebuild_parameter``;
- **instances** (``NEWOBJ``/``copyreg`` + ``BUILD`` state): gymnasium spaces (Box, Discrete, MultiDiscrete,
  MultiBinary, Dict, Tuple; made with their constructors from checked fields; their random generators are dropped),
  schedules, action noises, ``RunningMeanStd``, ``VecNormalize`` and the replay buffers, each from a schema of the fields
  it needs (other fields are not even built);
- **references** (a global used as a value, never called here): this library's policy, features-extractor, buffer and
  noise classes named by SB3's paths (looked up in modules that are already imported: a file cannot make Python import
  anything), torch's activation and optimizer classes (mapped to ``mlx.nn``/``mlx.optimizers``), NumPy scalar types,
  and the classes registered with ``add_safe_globals``.

Anything else raises :class:`Refused` (a ``LoadError`` naming the global): the caller decides whether the field can be
skipped (a pickled function used as a schedule) or the file refused. Invalid values raise ``LoadError``. Algorithms in
``mlx_baselines3.contrib`` load with no change here: their classes are found by the same SB3-path lookup
(``sb3_contrib.X`` -> ``mlx_baselines3.contrib.X``), and a class that needs its own schema registers it with
``register_instance``.
"""

import importlib
import math
import sys
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import numpy as np

from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.safe_pickle import (
    DEFAULT_LIMITS,
    DictNode,
    Global,
    Limits,
    PersistentId,
    Reduce,
    SetNode,
    decode,
    shorten,
)


class Refused(LoadError):
    """The pickle needs a global that default loading does not make (``name``): only ``trusted=True`` would."""

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name


Key = tuple[str, str]
CallHandler = Callable[["Builder", Reduce, int], Any]
InstanceHandler = Callable[["Builder", dict[str, Any], int], Any]

# (canonical module, name) -> handler. Canonical names are SB3's (see ``canonical``).
_CALLS: dict[Key, tuple[CallHandler, bool]] = {}  # handler, whether it consumes BUILD state/items itself
_INSTANCES: dict[Key, InstanceHandler] = {}
_REFERENCES: dict[Key, Any] = {}
_user_references: dict[Key, Any] = {}

_PREFIXES = (
    ("__builtin__", "builtins"),
    ("numpy.core", "numpy._core"),
    ("gym.", "gymnasium."),
    ("mlx_baselines3.contrib.", "sb3_contrib."),
    ("mlx_baselines3.", "stable_baselines3."),
)


def canonical(module: str, name: str) -> Key:
    """
    The name under which a global is looked up: SB3's module paths (ours and sb3_contrib's map to them), NumPy 2's
    ``numpy._core`` for NumPy 1's ``numpy.core``, gymnasium's for gym's.

    :param module: the module the pickle names
    :param name: the qualified name
    :return: (module, name)
    """
    for old, new in _PREFIXES:
        if module == old.rstrip(".") or module.startswith(old if old.endswith(".") else old + "."):
            module = new.rstrip(".") + module[len(old.rstrip(".")) :]
            break
    return module, name


def our_module(module: str) -> str | None:
    """
    :param module: an SB3 or sb3_contrib module path
    :return: the module of ours that stands for it, None for other modules
    """
    if module.startswith("stable_baselines3."):
        return "mlx_baselines3." + module[len("stable_baselines3.") :]
    if module.startswith("sb3_contrib."):
        return "mlx_baselines3.contrib." + module[len("sb3_contrib.") :]
    return None


def register_call(module: str, name: str, handler: CallHandler, consumes_extras: bool = False) -> None:
    """
    Let default loading make a call the pickle asks for (``REDUCE``) through ``handler(builder, node, depth)``, which
    must validate ``node.args`` (build them with ``builder.build(arg, depth + 1)``) before making anything.

    :param module: the module (SB3's path for SB3 classes)
    :param name: the qualified name
    :param handler: the validating function
    :param consumes_extras: the handler reads ``node.state``/``setitems``/``appends`` itself (else they are refused)
    """
    _CALLS[canonical(module, name)] = (handler, consumes_extras)


def register_instance(module: str, name: str, handler: InstanceHandler) -> None:
    """
    Let default loading make an instance of a class pickled by state (``NEWOBJ`` or ``copyreg``, then ``BUILD``)
    through ``handler(builder, fields, depth)``: ``fields`` maps the state's field names to *decoded* nodes; build only
    the fields the class needs, with ``builder.build(fields[name], depth + 1)``, and check them.

    :param module: the module (SB3's or sb3_contrib's path for those classes)
    :param name: the class name
    :param handler: the validating function
    """
    _INSTANCES[canonical(module, name)] = handler


def add_safe_globals(objects: Iterable[Any]) -> None:
    """
    Let files *name* more classes or functions, e.g. your own features extractor class in ``policy_kwargs``. Default
    loading still never calls anything from a file: a named class comes back as the class object (and your code, such
    as the policy constructor, uses it as usual); a file that asks to call it or build an instance of it is refused.

    :param objects: classes or functions, importable by their ``__module__`` and ``__qualname__``
    """
    for obj in objects:
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise TypeError(f"{obj!r} has no __module__/__qualname__: only classes and functions can be allowed.")
        _user_references[canonical(module, qualname)] = obj


class Builder:
    """
    Builds objects from a decoded pickle (see the module docstring).

    :param where: names the file and member in error messages
    :param limits: the bounds to enforce
    :param persistent: resolves persistent ids (torch files' storages); None refuses them
    :param tensors: makes a tensor from its checked arguments (torch files only)
    """

    def __init__(
        self,
        where: str,
        limits: Limits | None = None,
        persistent: Callable[[Any], Any] | None = None,
        tensors: Callable[..., Any] | None = None,
    ):
        self.where = where
        self.limits = limits or DEFAULT_LIMITS
        self.persistent = persistent
        self.tensors = tensors
        self._built: dict[int, Any] = {}
        self._building: set[int] = set()

    def fail(self, reason: str) -> LoadError:
        """:return: a LoadError naming the file and member"""
        return LoadError(f"{self.where}: {reason}")

    def build(self, node: Any, depth: int = 0) -> Any:
        """
        :param node: a decoded node
        :param depth: how deep the node is nested
        :return: the object
        :raises Refused: for a global default loading does not make
        :raises LoadError: for invalid values
        """
        if node is None or isinstance(node, (bool, int, float, str, bytes)):
            return node
        if depth > self.limits.max_depth:
            raise self.fail(f"nesting deeper than {self.limits.max_depth} levels")
        key = id(node)
        if key in self._built:
            return self._built[key]
        if key in self._building:
            raise self.fail("a reference cycle (an object containing itself)")
        self._building.add(key)
        try:
            value = self._make(node, depth)
        finally:
            self._building.discard(key)
        self._built[key] = value
        return value

    def _make(self, node: Any, depth: int) -> Any:
        if isinstance(node, bytearray):
            return bytearray(node)
        if isinstance(node, tuple):
            return tuple(self.build(item, depth + 1) for item in node)
        if isinstance(node, list):
            return [self.build(item, depth + 1) for item in node]
        if isinstance(node, DictNode):
            return {self.key(k, depth): self.build(v, depth + 1) for k, v in node.pairs}
        if isinstance(node, SetNode):
            items = [self.key(item, depth) for item in node.items]
            return frozenset(items) if node.frozen else set(items)
        if isinstance(node, Global):
            return self.reference(node)
        if isinstance(node, Reduce):
            return self._reduce(node, depth)
        if isinstance(node, PersistentId):
            if self.persistent is None:
                raise self.fail("a persistent id outside a torch file")
            return self.persistent(self.build(node.pid, depth + 1))
        raise self.fail(f"unexpected {type(node).__name__}")

    def key(self, node: Any, depth: int) -> Any:
        """:return: a built dict key or set item, checked to be hashable"""
        value = self.build(node, depth + 1)
        try:
            hash(value)
        except TypeError:
            raise self.fail(f"an unhashable {type(value).__name__} used as a dict key or set item") from None
        return value

    def reference(self, node: Global) -> Any:
        """:return: the object a global used as a value stands for (a class, never called here)"""
        key = canonical(node.module, node.name)
        for table in (_user_references, _REFERENCES):
            if key in table:
                return table[key]
        found = _library_class(*key)
        if found is not None:
            return found
        raise self.refused(node)

    def refused(self, node: Global) -> Refused:
        """:return: the error for a global that default loading does not make"""
        return Refused(
            f"{self.where}: needs '{node.qualified}', which default loading does not make (loading never runs code "
            "from a file)",
            node.qualified,
        )

    def fields(self, state: Any, depth: int) -> dict[str, Any]:
        """:return: an object's pickled state as field name -> decoded node (the values are not built)"""
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]  # (dict state, slot state) as object.__reduce_ex__ writes for classes with __slots__
        if state is None:
            return {}
        if not isinstance(state, DictNode):
            raise self.fail(f"an object's state is a {type(state).__name__}, expected a dict of fields")
        out: dict[str, Any] = {}
        for key, value in state.pairs:
            if not isinstance(key, str):
                raise self.fail(f"a field name that is not a string: {shorten(key)}")
            out[key] = value
        return out

    def _reduce(self, node: Reduce, depth: int) -> Any:
        func = node.func
        if not isinstance(func, Global):
            raise self.fail(f"a call of a computed object ({shorten(func)})")
        key = canonical(func.module, func.name)
        if node.newobj and key not in _CALLS:
            if (node.args is not None and node.args != ()) or _has_items(node.kwargs):
                raise self.fail(f"'{func.qualified}' created with arguments")
            return self._instance(func, node, depth)
        if node.newobj and _has_items(node.kwargs):
            raise self.fail(f"'{func.qualified}' created with keyword arguments")
        if key == ("copyreg", "_reconstructor"):
            args = node.args
            if not (isinstance(args, tuple) and len(args) == 3 and isinstance(args[0], Global) and args[2] is None):
                raise self.fail("copyreg._reconstructor with unexpected arguments")
            base = args[1]
            if not (isinstance(base, Global) and canonical(base.module, base.name) == ("builtins", "object")):
                raise self.fail("copyreg._reconstructor of a class with a builtin base")
            return self._instance(args[0], node, depth)
        if key == ("copyreg", "__newobj__"):
            args = node.args
            if not (isinstance(args, tuple) and len(args) >= 1 and isinstance(args[0], Global)):
                raise self.fail("copyreg.__newobj__ with unexpected arguments")
            if len(args) > 1:
                # cls.__new__(cls, *args): a call with arguments (namedtuples such as TrainFreq).
                return self._reduce(Reduce(args[0], args[1:]), depth)
            return self._instance(args[0], node, depth)
        if key not in _CALLS:
            if key in _INSTANCES or _library_class(*key) is not None:
                raise self.fail(f"'{func.qualified}' called with arguments, expected its pickled state")
            raise self.refused(func)
        handler, consumes_extras = _CALLS[key]
        if not consumes_extras and (node.state is not None or node.setitems or node.appends):
            raise self.fail(f"unexpected state or items on '{func.qualified}'")
        return handler(self, node, depth)

    def _instance(self, cls: Global, node: Reduce, depth: int) -> Any:
        key = canonical(cls.module, cls.name)
        handler = _INSTANCES.get(key)
        if handler is None:
            raise self.refused(cls)
        if node.setitems or node.appends:
            raise self.fail(f"unexpected items on '{cls.qualified}'")
        fields = self.fields(node.state, depth)
        try:
            return handler(self, fields, depth)
        except LoadError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, AssertionError) as e:
            # A constructor refusing the checked fields (e.g. gymnasium's Box with low > high).
            raise self.fail(f"invalid '{cls.qualified}': {type(e).__name__}: {shorten(str(e), 200)}") from None


def _has_items(node: Any) -> bool:
    return isinstance(node, DictNode) and bool(node.pairs)


# Bases of the classes of ours that a file may name as values (policy_class, features_extractor_class...).
def _library_bases() -> tuple[type, ...]:
    bases: list[type] = []
    for module, name in (
        ("mlx_baselines3.common.policies", "BaseModel"),
        ("mlx_baselines3.common.torch_layers", "BaseFeaturesExtractor"),
        ("mlx_baselines3.common.buffers", "BaseBuffer"),
        ("mlx_baselines3.common.noise", "ActionNoise"),
    ):
        found = getattr(sys.modules.get(module), name, None)
        if isinstance(found, type):
            bases.append(found)
    # Optimizer classes of ours that SB3 files name (RMSpropTFLike in policy_kwargs' optimizer_class).
    optimizers = sys.modules.get("mlx.optimizers")
    if optimizers is not None:
        bases.append(optimizers.Optimizer)
    return tuple(bases)


def _library_class(module: str, name: str) -> type | None:
    # A class of this library named by its SB3 (or sb3_contrib) path, in a module that is already imported. Nothing
    # is imported: importing can run code, and the file must not choose what runs.
    ours = our_module(module)
    if ours is None or not name.isidentifier():
        return None
    found = getattr(sys.modules.get(ours), name, None)
    if isinstance(found, type) and issubclass(found, _library_bases()):
        return found
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Checked values


def _int(builder: Builder, value: Any, what: str, low: int = 0, high: int = 1 << 62) -> int:
    if isinstance(value, np.integer):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise builder.fail(f"{what} must be an integer in [{low}, {high}], got {shorten(value)}")
    return value


def _float(builder: Builder, value: Any, what: str) -> float:
    if isinstance(value, (np.floating, np.integer)):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise builder.fail(f"{what} must be a number, got {shorten(value)}")
    return float(value)


def _bool(builder: Builder, value: Any, what: str) -> bool:
    if isinstance(value, np.bool_):
        value = bool(value)
    if not isinstance(value, bool):
        raise builder.fail(f"{what} must be a bool, got {shorten(value)}")
    return value


def _shape(builder: Builder, value: Any, what: str) -> tuple[int, ...]:
    if isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, tuple) or len(value) > 32:
        raise builder.fail(f"{what} must be a tuple of at most 32 sizes, got {shorten(value)}")
    shape = tuple(_int(builder, n, what, 0, builder.limits.max_array_elements) for n in value)
    if math.prod(shape) > builder.limits.max_array_elements:
        raise builder.fail(f"{what} {shape} has more than {builder.limits.max_array_elements} elements")
    return shape


# NumPy type codes of the dtypes a file may hold: bool, integers, floats, complex numbers.
_NUMERIC_CODES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"}
_BYTE_ORDERS = {"<", ">", "|", "="}


def _numeric_dtype(builder: Builder, value: Any, what: str) -> np.dtype:
    # A dtype built here, or a NumPy scalar type used as one (action noises keep np.float32).
    if isinstance(value, type) and issubclass(value, np.generic):
        value = np.dtype(value)
    if not isinstance(value, np.dtype) or value.kind not in "biufc" or value.fields is not None or value.subdtype:
        raise builder.fail(f"{what} must be a numeric or bool dtype, got {shorten(value)}")
    return value


def _array(builder: Builder, value: Any, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise builder.fail(f"{what} must be an array, got {shorten(value)}")
    return value


def _array_from_bytes(builder: Builder, raw: Any, dtype: np.dtype, shape: tuple[int, ...], fortran: bool) -> np.ndarray:
    if not isinstance(raw, (bytes, bytearray)):
        raise builder.fail(f"array data must be bytes, got {type(raw).__name__}")
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise builder.fail(f"an array of shape {shape} and dtype {dtype} needs {expected} bytes, the file holds {len(raw)}")
    flat = np.frombuffer(raw, dtype=dtype)
    array = flat.reshape(shape, order="F" if fortran else "C")
    # A writable copy in native byte order, independent of the file's bytes.
    return np.array(array, dtype=dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype, order="C")


def _make_dtype(builder: Builder, node: Reduce, depth: int) -> np.dtype:
    args = builder.build(node.args, depth + 1)
    if not (isinstance(args, tuple) and len(args) == 3 and isinstance(args[0], str)) or args[0] not in _NUMERIC_CODES:
        raise builder.fail(f"a dtype that is not numeric or bool: {shorten(args[0] if isinstance(args, tuple) else args)}")
    dtype = np.dtype(args[0])
    if node.state is not None:
        state = builder.build(node.state, depth + 1)
        # What NumPy writes for a plain numeric dtype: (version, byte order, subarray, names, fields, elsize,
        # alignment, flags). Anything else (fields, changed flags: object-like behaviour) is refused.
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4) and state[1] in _BYTE_ORDERS):
            raise builder.fail(f"an unexpected dtype state for {dtype}")
        if state[2:5] != (None, None, None) or state[5:7] != (-1, -1) or state[7] != dtype.flags:
            raise builder.fail(f"a dtype state for {dtype} with altered fields or flags")
        if len(state) == 9 and state[8] is not None:
            raise builder.fail(f"a dtype state for {dtype} with metadata")
        if state[1] in "<>":
            dtype = dtype.newbyteorder(state[1])
    return dtype


def _make_reconstructed_array(builder: Builder, node: Reduce, depth: int) -> np.ndarray:
    # numpy's ndarray.__reduce__: _reconstruct(ndarray, (0,), b'b') then BUILD (version, shape, dtype, fortran, data).
    args = node.args
    if not (isinstance(args, tuple) and len(args) == 3 and isinstance(args[0], Global) and args[0].name == "ndarray"):
        raise builder.fail("numpy _reconstruct of something other than an ndarray")
    if canonical(args[0].module, args[0].name) != ("numpy", "ndarray") or node.setitems or node.appends:
        raise builder.fail("numpy _reconstruct of something other than an ndarray")
    state = node.state
    if not (isinstance(state, tuple) and len(state) == 5):
        raise builder.fail("an array state that is not (version, shape, dtype, is_fortran, data)")
    shape = _shape(builder, builder.build(state[1], depth + 1), "array shape")
    dtype = _numeric_dtype(builder, builder.build(state[2], depth + 1), "array dtype")
    fortran = _bool(builder, builder.build(state[3], depth + 1), "is_fortran")
    return _array_from_bytes(builder, builder.build(state[4], depth + 1), dtype, shape, fortran)


def _make_frombuffer(builder: Builder, node: Reduce, depth: int) -> np.ndarray:
    args = node.args
    if not (isinstance(args, tuple) and len(args) == 4):
        raise builder.fail("numpy _frombuffer with unexpected arguments")
    dtype = _numeric_dtype(builder, builder.build(args[1], depth + 1), "array dtype")
    shape = _shape(builder, builder.build(args[2], depth + 1), "array shape")
    order = builder.build(args[3], depth + 1)
    if order not in ("C", "F"):
        raise builder.fail(f"array order must be 'C' or 'F', got {shorten(order)}")
    return _array_from_bytes(builder, builder.build(args[0], depth + 1), dtype, shape, order == "F")


def _make_scalar(builder: Builder, node: Reduce, depth: int) -> np.generic:
    args = node.args
    if not (isinstance(args, tuple) and len(args) == 2):
        raise builder.fail("numpy scalar with unexpected arguments")
    dtype = _numeric_dtype(builder, builder.build(args[0], depth + 1), "scalar dtype")
    return cast(np.generic, _array_from_bytes(builder, builder.build(args[1], depth + 1), dtype, (), False)[()])


def _make_ordered_dict(builder: Builder, node: Reduce, depth: int) -> OrderedDict:
    # OrderedDict() then SETITEMS, or OrderedDict([(key, value), ...]). A BUILD state (torch's _metadata) is dropped:
    # nothing here reads it.
    args = builder.build(node.args, depth + 1)
    if not isinstance(args, tuple) or len(args) > 1 or node.appends:
        raise builder.fail("OrderedDict with unexpected arguments")
    result: OrderedDict = OrderedDict()
    for pair in args[0] if args else []:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise builder.fail("OrderedDict items must be (key, value) pairs")
        result[_hashable(builder, pair[0])] = pair[1]
    for key, value in node.setitems:
        result[builder.key(key, depth)] = builder.build(value, depth + 1)
    return result


def _hashable(builder: Builder, value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise builder.fail(f"an unhashable {type(value).__name__} used as a dict key") from None
    return value


def _make_deque(builder: Builder, node: Reduce, depth: int) -> deque:
    args = builder.build(node.args, depth + 1)
    if not (isinstance(args, tuple) and 1 <= len(args) <= 2 and isinstance(args[0], (tuple, list))) or node.setitems:
        raise builder.fail("deque with unexpected arguments")
    maxlen = args[1] if len(args) == 2 else None
    if maxlen is not None:
        maxlen = _int(builder, maxlen, "deque maxlen", 0, builder.limits.max_items)
    if node.state is not None:
        raise builder.fail("deque with a state")
    return deque([*args[0], *(builder.build(item, depth + 1) for item in node.appends)], maxlen=maxlen)


def _make_set(frozen: bool) -> CallHandler:
    def make(builder: Builder, node: Reduce, depth: int) -> Any:
        args = node.args
        if not (isinstance(args, tuple) and len(args) <= 1 and (not args or isinstance(args[0], list))):
            raise builder.fail("set with unexpected arguments")
        items = [builder.key(item, depth) for item in (args[0] if args else [])]
        return frozenset(items) if frozen else set(items)

    return make


def _make_encoded_bytes(builder: Builder, node: Reduce, depth: int) -> bytes:
    # Protocols 0-2 write bytes as _codecs.encode(text, "latin1").
    args = node.args
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1")):
        raise builder.fail("_codecs.encode with unexpected arguments")
    try:
        return args[0].encode("latin-1")
    except UnicodeEncodeError:
        raise builder.fail("_codecs.encode of text outside latin-1") from None


def _make_bytes(kind: type) -> CallHandler:
    def make(builder: Builder, node: Reduce, depth: int) -> Any:
        args = node.args
        if args == ():
            return kind()
        if isinstance(args, tuple) and len(args) == 1 and isinstance(args[0], bytes):
            return kind(args[0])
        raise builder.fail(f"{kind.__name__} with unexpected arguments")

    return make


def _make_torch_device(builder: Builder, node: Reduce, depth: int) -> str:
    # MLX has no device objects: keep the name, as the buffers' ``device`` attribute is re-set on load anyway.
    args = node.args
    if not (isinstance(args, tuple) and 1 <= len(args) <= 2 and isinstance(args[0], str) and len(args[0]) <= 32):
        raise builder.fail("torch.device with unexpected arguments")
    if len(args) == 2:
        return f"{args[0]}:{_int(builder, args[1], 'device index', 0, 1 << 16)}"
    return args[0]


def _enum_call(module: str, name: str) -> CallHandler:
    def make(builder: Builder, node: Reduce, depth: int) -> Any:
        enum = getattr(importlib.import_module(module), name)
        args = node.args
        if not (isinstance(args, tuple) and len(args) == 1):
            raise builder.fail(f"{name} with unexpected arguments")
        try:
            return enum(args[0])
        except (ValueError, TypeError):
            raise builder.fail(f"{shorten(args[0])} is not a {name}") from None

    return make


def _make_train_freq(builder: Builder, node: Reduce, depth: int) -> Any:
    from mlx_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit

    args = builder.build(node.args, depth + 1)
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], TrainFrequencyUnit)):
        raise builder.fail("TrainFreq must be (frequency, TrainFrequencyUnit)")
    return TrainFreq(_int(builder, args[0], "train_freq frequency", 1, 1 << 31), args[1])


def _make_getattr(builder: Builder, node: Reduce, depth: int) -> Any:
    # Protocol-2 pickles name nested objects as getattr(parent, name): enum members and BasePolicy._dummy_schedule.
    from enum import Enum

    from mlx_baselines3.common.policies import BasePolicy

    args = node.args
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], Global) and isinstance(args[1], str)):
        raise builder.fail("getattr with unexpected arguments")
    name = args[1]
    try:
        owner = builder.reference(args[0])
    except Refused:
        owner = None
    if isinstance(owner, type) and issubclass(owner, Enum) and name in owner.__members__:
        return owner[name]
    if isinstance(args[0], Global) and canonical(args[0].module, args[0].name) == (
        "stable_baselines3.her.goal_selection_strategy",
        "GoalSelectionStrategy",
    ):
        from mlx_baselines3.her.goal_selection_strategy import GoalSelectionStrategy

        if name in GoalSelectionStrategy.__members__:
            return GoalSelectionStrategy[name]
    if isinstance(owner, type) and issubclass(owner, BasePolicy) and name == "_dummy_schedule":
        return BasePolicy._dummy_schedule
    raise Refused(f"{builder.where}: needs getattr({args[0].qualified}, {shorten(name)})", f"{args[0].qualified}.{name}")


_NUMPY_SCALAR_TYPES = (
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)


# ---------------------------------------------------------------------------------------------------------------------
# torch files: storages and tensors


class StorageType:
    """A torch storage class named in a torch file (``torch.FloatStorage``...): its NumPy dtype."""

    def __init__(self, name: str, dtype: np.dtype, bfloat16: bool = False):
        self.name, self.dtype, self.bfloat16 = name, dtype, bfloat16


STORAGE_TYPES: dict[str, StorageType] = {
    name: StorageType(name, np.dtype(code), bfloat16=name == "BFloat16Storage")
    for name, code in (
        ("DoubleStorage", "f8"),
        ("FloatStorage", "f4"),
        ("HalfStorage", "f2"),
        ("BFloat16Storage", "u2"),  # no NumPy bfloat16: read as its uint16 bits
        ("LongStorage", "i8"),
        ("IntStorage", "i4"),
        ("ShortStorage", "i2"),
        ("CharStorage", "i1"),
        ("ByteStorage", "u1"),
        ("BoolStorage", "b1"),
        ("ComplexDoubleStorage", "c16"),
        ("ComplexFloatStorage", "c8"),
    )
}


def _make_tensor(builder: Builder, node: Reduce, depth: int) -> Any:
    if builder.tensors is None:
        raise builder.fail("a torch tensor outside a torch file's data.pkl")
    args = builder.build(node.args, depth + 1)
    if not (isinstance(args, tuple) and 6 <= len(args) <= 7):
        raise builder.fail("torch._utils._rebuild_tensor_v2 with unexpected arguments")
    storage, offset, size, stride = args[:4]
    offset = _int(builder, offset, "tensor storage offset")
    size = _shape(builder, size, "tensor size")
    stride = _shape(builder, stride, "tensor stride")
    if len(size) != len(stride):
        raise builder.fail(f"tensor size {size} and stride {stride} differ in length")
    return builder.tensors(storage, offset, size, stride)


def _make_parameter(builder: Builder, node: Reduce, depth: int) -> Any:
    # torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): keep the tensor.
    args = node.args
    if not (isinstance(args, tuple) and 2 <= len(args) <= 3):
        raise builder.fail("torch._utils._rebuild_parameter with unexpected arguments")
    return builder.build(args[0], depth + 1)


# ---------------------------------------------------------------------------------------------------------------------
# Instances from their fields


def _get(builder: Builder, fields: dict[str, Any], name: str, depth: int, *alternatives: str) -> Any:
    for candidate in (name, *alternatives):
        if candidate in fields:
            return builder.build(fields[candidate], depth + 1)
    raise builder.fail(f"the field '{name}' is missing")


def _space(builder: Builder, value: Any, what: str) -> Any:
    from gymnasium import spaces

    if not isinstance(value, spaces.Space):
        raise builder.fail(f"{what} must be a gymnasium space, got {shorten(value)}")
    return value


def _make_box(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from gymnasium import spaces

    dtype = _numeric_dtype(builder, _get(builder, fields, "dtype", depth), "Box dtype")
    shape = _shape(builder, _get(builder, fields, "_shape", depth, "shape"), "Box shape")
    low = _array(builder, _get(builder, fields, "low", depth), "Box low")
    high = _array(builder, _get(builder, fields, "high", depth), "Box high")
    if low.shape != shape or high.shape != shape:
        raise builder.fail(f"Box low {low.shape} and high {high.shape} must have the space's shape {shape}")
    return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)


def _make_discrete(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from gymnasium import spaces

    n = _int(builder, _get(builder, fields, "n", depth), "Discrete n", 1)
    start = _int(builder, _get(builder, fields, "start", depth) if "start" in fields else 0, "Discrete start", -(1 << 62))
    return spaces.Discrete(n, start=start)


def _make_multi_discrete(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from gymnasium import spaces

    nvec = _array(builder, _get(builder, fields, "nvec", depth), "MultiDiscrete nvec")
    dtype = _numeric_dtype(builder, _get(builder, fields, "dtype", depth), "MultiDiscrete dtype")
    start = _array(builder, _get(builder, fields, "start", depth), "MultiDiscrete start") if "start" in fields else None
    if nvec.dtype.kind not in "iu" or (start is not None and (start.shape != nvec.shape or start.dtype.kind not in "iu")):
        raise builder.fail("MultiDiscrete nvec and start must be integer arrays of one shape")
    return spaces.MultiDiscrete(nvec, dtype=dtype, start=start)


def _make_multi_binary(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from gymnasium import spaces

    n = _get(builder, fields, "n", depth)
    if isinstance(n, np.ndarray):
        n = n.tolist()
    n = _int(builder, n, "MultiBinary n", 1) if not isinstance(n, (tuple, list)) else _shape(builder, n, "MultiBinary n")
    return spaces.MultiBinary(n)


def _make_dict_space(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from gymnasium import spaces

    children = _get(builder, fields, "spaces", depth)
    if not isinstance(children, dict) or not all(isinstance(key, str) for key in children):
        raise builder.fail("Dict spaces must map names to spaces")
    return spaces.Dict({key: _space(builder, value, f"Dict space '{key}'") for key, value in children.items()})


def _make_tuple_space(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from gymnasium import spaces

    children = _get(builder, fields, "spaces", depth)
    if not isinstance(children, (tuple, list)):
        raise builder.fail("Tuple spaces must be a sequence of spaces")
    return spaces.Tuple([_space(builder, value, "Tuple space") for value in children])


def _schedule(builder: Builder, value: Any, what: str) -> Any:
    from mlx_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule

    if not isinstance(value, (ConstantSchedule, FloatSchedule, LinearSchedule)):
        raise builder.fail(f"{what} must be a schedule, got {shorten(value)}")
    return value


def _make_float_schedule(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.utils import FloatSchedule

    value = _get(builder, fields, "value_schedule", depth)
    if not isinstance(value, float):
        value = _schedule(builder, value, "FloatSchedule.value_schedule")
    return FloatSchedule(value)


def _make_constant_schedule(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.utils import ConstantSchedule

    return ConstantSchedule(_float(builder, _get(builder, fields, "val", depth), "ConstantSchedule.val"))


def _make_linear_schedule(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.utils import LinearSchedule

    start, end, fraction = (
        _float(builder, _get(builder, fields, name, depth), f"LinearSchedule.{name}")
        for name in ("start", "end", "end_fraction")
    )
    if not 0 < fraction <= 1:
        raise builder.fail(f"LinearSchedule.end_fraction must be in (0, 1], got {fraction}")
    return LinearSchedule(start, end, fraction)


def _noise_array(builder: Builder, fields: dict[str, Any], name: str, depth: int) -> np.ndarray:
    value = _get(builder, fields, name, depth)
    if isinstance(value, (float, int)):
        value = np.asarray(value, dtype=np.float64)
    array = _array(builder, value, f"action noise {name}")
    if array.dtype.kind not in "fiu":
        raise builder.fail(f"action noise {name} must be a number array")
    return array


def _make_normal_noise(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.noise import NormalActionNoise

    dtype = (
        _numeric_dtype(builder, _get(builder, fields, "_dtype", depth), "noise dtype") if "_dtype" in fields else np.float32
    )
    return NormalActionNoise(
        _noise_array(builder, fields, "_mu", depth), _noise_array(builder, fields, "_sigma", depth), dtype
    )


def _make_ou_noise(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

    dtype = (
        _numeric_dtype(builder, _get(builder, fields, "_dtype", depth), "noise dtype") if "_dtype" in fields else np.float32
    )
    initial = _get(builder, fields, "initial_noise", depth) if "initial_noise" in fields else None
    if initial is not None:
        initial = _array(builder, initial, "initial_noise")
    noise = OrnsteinUhlenbeckActionNoise(
        _noise_array(builder, fields, "_mu", depth),
        _noise_array(builder, fields, "_sigma", depth),
        theta=_float(builder, _get(builder, fields, "_theta", depth), "theta"),
        dt=_float(builder, _get(builder, fields, "_dt", depth), "dt"),
        initial_noise=initial,
        dtype=dtype,
    )
    if "noise_prev" in fields:
        previous = _array(builder, _get(builder, fields, "noise_prev", depth), "noise_prev")
        if previous.shape == noise.noise_prev.shape:
            noise.noise_prev = previous.astype(noise.noise_prev.dtype)
    return noise


def _make_vectorized_noise(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.noise import ActionNoise, VectorizedActionNoise

    base = _get(builder, fields, "_base_noise", depth)
    n_envs = _int(builder, _get(builder, fields, "n_envs", depth), "n_envs", 1, 1 << 16)
    if not isinstance(base, ActionNoise):
        raise builder.fail("VectorizedActionNoise base noise must be an action noise")
    return VectorizedActionNoise(base, n_envs)


def _make_running_mean_std(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.running_mean_std import RunningMeanStd

    # A scalar statistic (ret_rms) may have become a NumPy float after an update.
    mean, var = (_get(builder, fields, name, depth) for name in ("mean", "var"))
    mean, var = (np.asarray(v) if isinstance(v, (float, np.floating)) else v for v in (mean, var))
    mean = _array(builder, mean, "RunningMeanStd mean")
    var = _array(builder, var, "RunningMeanStd var")
    if mean.shape != var.shape or mean.dtype.kind != "f" or var.dtype.kind != "f":
        raise builder.fail("RunningMeanStd mean and var must be float arrays of one shape")
    rms = RunningMeanStd(shape=mean.shape)
    rms.mean, rms.var = mean.astype(np.float64), var.astype(np.float64)
    rms.count = _float(builder, _get(builder, fields, "count", depth), "RunningMeanStd count")
    return rms


def _make_vec_normalize(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
    from mlx_baselines3.common.running_mean_std import RunningMeanStd
    from mlx_baselines3.common.vec_env.vec_normalize import VecNormalize

    def rms(value: Any, what: str) -> Any:
        if isinstance(value, dict) and all(isinstance(v, RunningMeanStd) for v in value.values()):
            return value
        if not isinstance(value, RunningMeanStd):
            raise builder.fail(f"VecNormalize {what} must be RunningMeanStd statistics")
        return value

    get = lambda name: _get(builder, fields, name, depth)  # noqa: E731
    observation_space = _space(builder, get("observation_space"), "VecNormalize observation_space")
    state: dict[str, Any] = {
        "num_envs": _int(builder, get("num_envs"), "num_envs", 1, 1 << 16),
        "observation_space": observation_space,
        "action_space": _space(builder, get("action_space"), "VecNormalize action_space"),
        "obs_rms": rms(get("obs_rms"), "obs_rms"),
        "ret_rms": rms(get("ret_rms"), "ret_rms"),
        "clip_obs": _float(builder, get("clip_obs"), "clip_obs"),
        "clip_reward": _float(builder, get("clip_reward"), "clip_reward"),
        "gamma": _float(builder, get("gamma"), "gamma"),
        "epsilon": _float(builder, get("epsilon"), "epsilon"),
        "training": _bool(builder, get("training"), "training"),
        "norm_obs": _bool(builder, get("norm_obs"), "norm_obs"),
        "norm_reward": _bool(builder, get("norm_reward"), "norm_reward"),
    }
    keys = get("norm_obs_keys") if "norm_obs_keys" in fields else None
    if keys is not None and not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise builder.fail("VecNormalize norm_obs_keys must be a list of names")
    state["norm_obs_keys"] = keys
    render_mode = get("render_mode") if "render_mode" in fields else None
    state["render_mode"] = render_mode if isinstance(render_mode, str) else None
    for name in ("old_obs", "old_reward"):
        value = get(name) if name in fields else None
        if value is not None and not isinstance(value, (np.ndarray, dict)):
            raise builder.fail(f"VecNormalize {name} must be an array")
        state[name] = value
    # Bookkeeping of the VecEnv interface starts fresh, as after a reset.
    state.update(reset_infos=[{} for _ in range(state["num_envs"])], _seeds=[None] * state["num_envs"])
    state.update(_options=[{} for _ in range(state["num_envs"])], metadata={"render_modes": []})
    vec_normalize = VecNormalize.__new__(VecNormalize)
    vec_normalize.__setstate__(state)
    return vec_normalize


def _buffer_arrays(builder: Builder, value: Any, expected: Any, what: str) -> Any:
    # An array field of a replay buffer, checked against the freshly allocated one (shape; numeric dtype).
    if isinstance(expected, dict):
        if not (isinstance(value, dict) and value.keys() == expected.keys()):
            raise builder.fail(f"replay buffer {what} must be a dict with the keys {sorted(expected)}")
        return {key: _buffer_arrays(builder, value[key], expected[key], f"{what}['{key}']") for key in expected}
    array = _array(builder, value, f"replay buffer {what}")
    if array.shape != expected.shape:
        raise builder.fail(f"replay buffer {what} has shape {array.shape}, the buffer needs {expected.shape}")
    if expected.dtype != object:
        array = array.astype(expected.dtype, copy=False)
    return array


def _plain_object_array(builder: Builder, node: Any, shape: tuple[int, ...], depth: int) -> np.ndarray:
    # HerReplayBuffer.infos: an object array of info dicts (or None). Only plain values are built into it.
    if not (isinstance(node, Reduce) and isinstance(node.func, Global) and node.func.name == "_reconstruct"):
        raise builder.fail("replay buffer infos must be an array")
    state = node.state
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], list)):
        raise builder.fail("replay buffer infos must be an object array of dicts")
    if _shape(builder, builder.build(state[1], depth + 1), "infos shape") != shape or len(state[4]) != math.prod(shape):
        raise builder.fail(f"replay buffer infos must have shape {shape}")
    values = [builder.build(item, depth + 2) for item in state[4]]
    if not all(value is None or isinstance(value, dict) for value in values):
        raise builder.fail("replay buffer infos must hold dicts")
    infos = np.empty(len(values), dtype=object)
    infos[:] = values
    return infos.reshape(shape)


def _make_replay_buffer(kind: str) -> InstanceHandler:
    def make(builder: Builder, fields: dict[str, Any], depth: int) -> Any:
        from mlx_baselines3.common import buffers
        from mlx_baselines3.her.her_replay_buffer import HerReplayBuffer

        cls = HerReplayBuffer if kind == "HerReplayBuffer" else getattr(buffers, kind)
        get = lambda name: _get(builder, fields, name, depth)  # noqa: E731
        n_envs = _int(builder, get("n_envs"), "n_envs", 1, 1 << 16)
        buffer_size = _int(builder, get("buffer_size"), "buffer_size", 1)
        observation_space = _space(builder, get("observation_space"), "observation_space")
        action_space = _space(builder, get("action_space"), "action_space")
        # The file must hold the whole buffer (buffer_size x n_envs steps): checked before anything is allocated, so
        # a large buffer_size costs only what the file itself holds.
        observations = get("observations")
        first = next(iter(observations.values())) if isinstance(observations, dict) and observations else observations
        if not isinstance(first, np.ndarray) or first.shape[:2] != (buffer_size, n_envs):
            raise builder.fail(f"replay buffer observations must have {buffer_size} x {n_envs} steps")
        kwargs: dict[str, Any] = dict(
            device="cpu",
            n_envs=n_envs,
            optimize_memory_usage=_bool(builder, get("optimize_memory_usage"), "optimize_memory_usage"),
            handle_timeout_termination=_bool(builder, get("handle_timeout_termination"), "handle_timeout_termination")
            if "handle_timeout_termination" in fields
            else False,
        )
        if kind == "NStepReplayBuffer":
            kwargs.update(
                n_steps=_int(builder, get("n_steps"), "n_steps", 1, 1 << 16), gamma=_float(builder, get("gamma"), "gamma")
            )
        if kind == "HerReplayBuffer":
            strategy = get("goal_selection_strategy")
            kwargs.update(
                env=None,
                n_sampled_goal=_int(builder, get("n_sampled_goal"), "n_sampled_goal", 0, 1 << 16),
                goal_selection_strategy=strategy,
                copy_info_dict=_bool(builder, get("copy_info_dict"), "copy_info_dict")
                if "copy_info_dict" in fields
                else False,
            )
        buffer = cls(buffer_size * n_envs, observation_space, action_space, **kwargs)
        for name, current in list(vars(buffer).items()):
            if name == "infos" and kind == "HerReplayBuffer":
                buffer.infos = _plain_object_array(builder, fields["infos"], current.shape, depth)
            elif isinstance(current, (np.ndarray, dict)) and name in fields and name not in ("observation_space",):
                if isinstance(current, dict) and not all(isinstance(v, np.ndarray) for v in current.values()):
                    continue
                setattr(buffer, name, _buffer_arrays(builder, get(name), current, name))
        buffer.pos = _int(builder, get("pos"), "pos", 0, buffer.buffer_size)
        buffer.full = _bool(builder, get("full"), "full")
        return buffer

    return make


# ---------------------------------------------------------------------------------------------------------------------
# Registration


def _register_defaults() -> None:
    register_call("collections", "OrderedDict", _make_ordered_dict, consumes_extras=True)
    register_call("collections", "deque", _make_deque, consumes_extras=True)
    register_call("builtins", "set", _make_set(False))
    register_call("builtins", "frozenset", _make_set(True))
    register_call("builtins", "bytes", _make_bytes(bytes))
    register_call("builtins", "bytearray", _make_bytes(bytearray))
    register_call("builtins", "getattr", _make_getattr)
    register_call("_codecs", "encode", _make_encoded_bytes)
    register_call("numpy", "dtype", _make_dtype, consumes_extras=True)
    register_call("numpy._core.multiarray", "_reconstruct", _make_reconstructed_array, consumes_extras=True)
    register_call("numpy._core.multiarray", "scalar", _make_scalar)
    register_call("numpy._core.numeric", "_frombuffer", _make_frombuffer)
    register_call("torch", "device", _make_torch_device)
    register_call("torch._utils", "_rebuild_tensor_v2", _make_tensor)
    register_call("torch._utils", "_rebuild_parameter", _make_parameter)
    register_call("stable_baselines3.common.type_aliases", "TrainFreq", _make_train_freq)
    register_call(
        "stable_baselines3.common.type_aliases",
        "TrainFrequencyUnit",
        _enum_call("mlx_baselines3.common.type_aliases", "TrainFrequencyUnit"),
    )
    register_call(
        "stable_baselines3.her.goal_selection_strategy",
        "GoalSelectionStrategy",
        _enum_call("mlx_baselines3.her.goal_selection_strategy", "GoalSelectionStrategy"),
    )
    for module, name, handler in (
        ("gymnasium.spaces.box", "Box", _make_box),
        ("gymnasium.spaces.discrete", "Discrete", _make_discrete),
        ("gymnasium.spaces.multi_discrete", "MultiDiscrete", _make_multi_discrete),
        ("gymnasium.spaces.multi_binary", "MultiBinary", _make_multi_binary),
        ("gymnasium.spaces.dict", "Dict", _make_dict_space),
        ("gymnasium.spaces.tuple", "Tuple", _make_tuple_space),
        ("stable_baselines3.common.utils", "FloatSchedule", _make_float_schedule),
        ("stable_baselines3.common.utils", "ConstantSchedule", _make_constant_schedule),
        ("stable_baselines3.common.utils", "LinearSchedule", _make_linear_schedule),
        ("stable_baselines3.common.noise", "NormalActionNoise", _make_normal_noise),
        ("stable_baselines3.common.noise", "OrnsteinUhlenbeckActionNoise", _make_ou_noise),
        ("stable_baselines3.common.noise", "VectorizedActionNoise", _make_vectorized_noise),
        ("stable_baselines3.common.running_mean_std", "RunningMeanStd", _make_running_mean_std),
        ("stable_baselines3.common.vec_env.vec_normalize", "VecNormalize", _make_vec_normalize),
    ):
        register_instance(module, name, handler)
    for kind in ("ReplayBuffer", "DictReplayBuffer", "NStepReplayBuffer"):
        register_instance("stable_baselines3.common.buffers", kind, _make_replay_buffer(kind))
    register_instance("stable_baselines3.her.her_replay_buffer", "HerReplayBuffer", _make_replay_buffer("HerReplayBuffer"))
    for name in _NUMPY_SCALAR_TYPES:
        _REFERENCES[("numpy", name)] = getattr(np, name)
    _REFERENCES[("numpy", "ndarray")] = np.ndarray
    for name, storage_type in STORAGE_TYPES.items():
        _REFERENCES[("torch", name)] = storage_type
    # Enum classes, named as getattr's first argument (protocol-2 pickles of enum members).
    from mlx_baselines3.common.type_aliases import TrainFrequencyUnit

    _REFERENCES[("stable_baselines3.common.type_aliases", "TrainFrequencyUnit")] = TrainFrequencyUnit


_register_defaults()


def register_reference(module: str, name: str, obj: Any) -> None:
    """
    Let files name ``obj`` (returned as a value, never called here) under ``module.name``; used for the torch
    activation and optimizer classes, which map to MLX's.

    :param module: the module the file names
    :param name: the name
    :param obj: the object it stands for
    """
    _REFERENCES[canonical(module, name)] = obj


# The largest integer in saved constructor arguments (layer widths, features dims...): a file must not make a network
# allocate more than any real one needs.
MAX_KEYWORD_INT = 1 << 20


def check_keyword_arguments(value: Any, what: str) -> dict[str, Any]:
    """
    Check keyword arguments read from a file before they reach a constructor (``policy_kwargs``, a policy file's
    constructor parameters): a dict with string keys, and no integer anywhere in it beyond ``MAX_KEYWORD_INT``.

    :param value: the built value
    :param what: names the file and entry in error messages
    :return: a shallow copy of the dict
    :raises LoadError: when the check fails
    """
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise LoadError(f"{what} must be a dict of keyword arguments, got {type(value).__name__}")
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and abs(int(item)) > MAX_KEYWORD_INT:
            raise LoadError(
                f"{what} hold the size {shorten(int(item))}, more than {MAX_KEYWORD_INT}. Pass custom_objects (or the "
                "arguments yourself) if that is intended."
            )
    return dict(value)


def read_capped(file: Any, limit: int, where: str) -> bytes:
    """
    Read a whole binary file, refusing one larger than ``limit`` bytes (read in chunks: nothing is allocated for the
    size a file claims).

    :param file: a readable binary file
    :param limit: the most bytes accepted
    :param where: names the file in error messages
    :return: the content
    :raises LoadError: when the file is larger
    """
    chunks, total = [], 0
    while True:
        chunk = file.read(min(1 << 24, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise LoadError(f"{where}: larger than the limit of {limit} bytes (safe_pickle.DEFAULT_LIMITS)")
    return b"".join(chunks)


def build(data: bytes, where: str, limits: Limits | None = None) -> Any:
    """
    Decode and build a pickle with the default rules (no torch storages).

    :param data: the pickle
    :param where: names the file and member in error messages
    :param limits: the bounds (``DEFAULT_LIMITS`` when None)
    :return: the object
    :raises Refused: when the pickle needs a global default loading does not make
    :raises LoadError: when it is malformed or invalid
    """
    return Builder(where, limits).build(decode(data, where, limits))


__all__ = [
    "STORAGE_TYPES",
    "Builder",
    "Refused",
    "StorageType",
    "add_safe_globals",
    "build",
    "canonical",
    "check_keyword_arguments",
    "our_module",
    "read_capped",
    "register_call",
    "register_instance",
    "register_reference",
]
