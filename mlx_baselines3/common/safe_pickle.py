"""
A pickle reader that executes nothing: the opcode stream is decoded into plain values and symbolic references.

Python's ``pickle`` is a small stack machine whose ``GLOBAL`` and ``REDUCE`` opcodes import and call whatever the file
names, so unpickling a file runs its author's code. ``decode`` runs the same machine (every opcode of protocols 0 to 5,
as ``pickletools`` lists them) but never imports or calls anything:

- ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``bytearray`` and tuples come out as themselves; lists
  as lists; dicts as :class:`DictNode` (a list of key/value pairs: keys are neither hashed nor compared while decoding,
  so a hostile key costs nothing); sets as :class:`SetNode`.
- ``GLOBAL``/``STACK_GLOBAL`` give a :class:`Global` (a module and a name, nothing imported); ``REDUCE``, ``NEWOBJ``,
  ``NEWOBJ_EX``, ``INST`` and ``OBJ`` give a :class:`Reduce` (the callable's node and its arguments, nothing called);
  ``BUILD`` records its state on the object it applies to (``Reduce.state``: the object keeps its identity, as in
  pickle, so memo references see it built); ``SETITEM(S)``/``APPEND(S)`` on such an object are recorded on it too;
  persistent ids become :class:`PersistentId`.

Turning that tree into objects is the job of a schema-driven builder (``common/safe_load.py``), which knows the few
shapes a model file may hold and builds each through a small validating function.

Bounds are checked while decoding, before the work they guard: the input size, the number of opcodes and of
container items, the memo size, the size of integers (``LONG`` arguments are capped before conversion), and the
protocol. The decoder is a loop over opcodes with an explicit stack: nesting depth costs no C stack here, and the
builder caps it. Every failure is a :class:`~mlx_baselines3.common.exceptions.LoadError`.
"""

import io
import pickletools
from dataclasses import dataclass
from typing import Any

from mlx_baselines3.common.exceptions import LoadError


@dataclass(frozen=True)
class Limits:
    """
    Bounds on what a file may make the loader do. The defaults fit every model, replay buffer and VecNormalize file
    that SB3 or this library writes with room to spare; raise them (``safe_pickle.DEFAULT_LIMITS = Limits(...)``)
    only for files you have reason to expect larger.

    :param max_pickle_bytes: the largest pickle decoded (a replay buffer pickle holds its arrays)
    :param max_member_bytes: the largest decompressed zip member read (``data``, a ``.pth`` file, a torch record)
    :param max_opcodes: opcodes executed per pickle
    :param max_items: container items (list, tuple, dict, set entries) created per pickle
    :param max_memo: memo entries per pickle
    :param max_int_bits: the largest integer (in bits) a pickle may hold
    :param max_depth: the deepest nesting of containers and objects the builder follows
    :param max_array_elements: elements of one array (or one space's shape)
    :param tensor_bytes_factor: a torch file may produce at most this many times its storages' bytes in tensors (a
        shared storage is read once; each tensor made from it is a copy)
    """

    max_pickle_bytes: int = 1 << 36
    max_member_bytes: int = 1 << 32
    max_opcodes: int = 1 << 24
    max_items: int = 1 << 25
    max_memo: int = 1 << 24
    max_int_bits: int = 4096
    max_depth: int = 64
    max_array_elements: int = 1 << 32
    tensor_bytes_factor: int = 8


DEFAULT_LIMITS = Limits()


class Global:
    """A global the pickle names (``module.name``); nothing is imported."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"Global({shorten(self.module)}, {shorten(self.name)})"

    @property
    def qualified(self) -> str:
        """:return: ``module.name``, length-capped for messages"""
        text = f"{self.module}.{self.name}"
        return text if len(text) <= 200 else text[:200] + "..."


class Reduce:
    """
    A call the pickle asks for, not made: ``func(*args, **kwargs)`` (``REDUCE``, ``INST``, ``OBJ``), or
    ``cls.__new__(cls, *args, **kwargs)`` when ``newobj``. What later opcodes do to the result is recorded:
    ``state`` (``BUILD``), ``setitems`` (``SETITEM(S)``) and ``appends`` (``APPEND(S)``).
    """

    __slots__ = ("appends", "args", "func", "kwargs", "newobj", "setitems", "state")

    def __init__(self, func: Any, args: Any, kwargs: Any = None, newobj: bool = False):
        self.func, self.args, self.kwargs, self.newobj = func, args, kwargs, newobj
        self.state: Any = None
        self.setitems: list[tuple[Any, Any]] = []
        self.appends: list[Any] = []

    def __repr__(self) -> str:
        func = self.func.qualified if isinstance(self.func, Global) else type(self.func).__name__
        return f"Reduce({func}, ...)"


class PersistentId:
    """A persistent id (torch's storages): resolved by the builder of the file format that defines them."""

    __slots__ = ("pid",)

    def __init__(self, pid: Any):
        self.pid = pid

    def __repr__(self) -> str:
        return "PersistentId(...)"


class DictNode:
    """A dict as key/value pairs, in order; keys are not hashed until the builder has made and checked them."""

    __slots__ = ("pairs",)

    def __init__(self) -> None:
        self.pairs: list[tuple[Any, Any]] = []

    def __repr__(self) -> str:
        return f"DictNode({len(self.pairs)} items)"


class SetNode:
    """A set or frozenset as a list of items, not hashed until built."""

    __slots__ = ("frozen", "items")

    def __init__(self, items: list[Any], frozen: bool):
        self.items, self.frozen = items, frozen

    def __repr__(self) -> str:
        return f"SetNode({len(self.items)} items)"


def shorten(value: Any, length: int = 80) -> str:
    """
    A short, safe description of an untrusted value for error messages: strings and bytes are cut, containers and
    objects are named by type only (their ``repr`` could be huge, deep or hostile).

    :param value: any value
    :param length: the most characters of a string or bytes shown
    :return: the text
    """
    if isinstance(value, (str, bytes, bytearray)):
        text = repr(value[: length + 1])
        return text if len(value) <= length else text + f"... ({len(value)} long)"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 64:
            return f"<int of {value.bit_length()} bits>"
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (Global, Reduce, PersistentId, DictNode, SetNode)):
        return repr(value)
    return f"<{type(value).__name__}>"


class _Mark:
    """The stack marker pushed by ``MARK``."""


_MARK = _Mark()

# Opcodes whose argument pickletools decodes as an int of any size from decimal text (protocol 0 LONG and INT).
_TEXT_INTEGERS = {"INT", "LONG"}


def _fail(where: str, position: int, reason: str) -> LoadError:
    return LoadError(f"{where}: the pickle is invalid at byte {position}: {reason}")


def decode(data: bytes, where: str = "pickle", limits: Limits | None = None) -> Any:
    """
    Decode a pickle into plain values and symbolic references (see the module docstring). Nothing from the file is
    imported or called.

    :param data: the pickle's bytes
    :param where: names the file and member in error messages, e.g. ``"model.zip, member 'data', key 'lr_schedule'"``
    :param limits: the bounds to enforce (``DEFAULT_LIMITS`` when None)
    :return: the decoded tree
    :raises LoadError: when the pickle is malformed, exceeds a bound or uses an unsupported opcode
    """
    limits = limits or DEFAULT_LIMITS
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LoadError(f"{where}: expected the bytes of a pickle, got {type(data).__name__}")
    if len(data) > limits.max_pickle_bytes:
        raise LoadError(
            f"{where}: the pickle is {len(data)} bytes, more than the limit of {limits.max_pickle_bytes} "
            "(safe_pickle.DEFAULT_LIMITS.max_pickle_bytes)"
        )
    decoder = _Decoder(where, limits)
    try:
        ops = pickletools.genops(io.BytesIO(bytes(data)))
        for count, (opcode, arg, position) in enumerate(ops):
            if count >= limits.max_opcodes:
                raise _fail(where, position or 0, f"more than {limits.max_opcodes} opcodes")
            if decoder.step(opcode.name, arg, position or 0):
                return decoder.result
    except LoadError:
        raise
    except (ValueError, UnicodeDecodeError, OverflowError, EOFError, IndexError, KeyError, TypeError) as e:
        # pickletools' argument readers: truncated arguments, bad text numbers or escapes, unknown opcodes.
        raise LoadError(f"{where}: the pickle is corrupt: {type(e).__name__}: {shorten(str(e), 200)}") from None
    raise LoadError(f"{where}: the pickle ends without a STOP opcode")


class _Decoder:
    """The pickle machine's stack, metastack and memo, with bounds."""

    def __init__(self, where: str, limits: Limits):
        self.where, self.limits = where, limits
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.items = 0
        self.result: Any = None
        self.position = 0

    # -- helpers ---------------------------------------------------------------------------------------------------
    def fail(self, reason: str) -> LoadError:
        return _fail(self.where, self.position, reason)

    def pop(self) -> Any:
        if not self.stack:
            raise self.fail("pop from an empty stack")
        value = self.stack.pop()
        if value is _MARK:
            raise self.fail("a MARK where a value was expected")
        return value

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise self.fail("no value on the stack")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise self.fail("no MARK to pop to")
        items = self.stack
        self.stack = self.metastack.pop()
        if any(item is _MARK for item in items):
            raise self.fail("unbalanced MARK")
        return items

    def count(self, n: int) -> None:
        self.items += n
        if self.items > self.limits.max_items:
            raise self.fail(f"more than {self.limits.max_items} container items")

    def check_int(self, value: int) -> int:
        if value.bit_length() > self.limits.max_int_bits:
            raise self.fail(f"an integer of {value.bit_length()} bits, more than the limit of {self.limits.max_int_bits}")
        return value

    def memo_put(self, index: Any, value: Any) -> None:
        if not isinstance(index, int) or index < 0:
            raise self.fail(f"invalid memo index {shorten(index)}")
        if index not in self.memo and len(self.memo) >= self.limits.max_memo:
            raise self.fail(f"more than {self.limits.max_memo} memo entries")
        self.memo[index] = value

    def memo_get(self, index: Any) -> Any:
        try:
            return self.memo[index]
        except (KeyError, TypeError):
            raise self.fail(f"memo index {shorten(index)} was never stored") from None

    def setitems(self, target: Any, pairs: list[tuple[Any, Any]]) -> None:
        self.count(len(pairs))
        if isinstance(target, DictNode):
            target.pairs.extend(pairs)
        elif isinstance(target, Reduce):
            target.setitems.extend(pairs)
        else:
            raise self.fail(f"SETITEM(S) on a {type(target).__name__}")

    def appends(self, target: Any, items: list[Any]) -> None:
        self.count(len(items))
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Reduce):
            target.appends.extend(items)
        else:
            raise self.fail(f"APPEND(S) on a {type(target).__name__}")

    # -- the machine -----------------------------------------------------------------------------------------------
    def step(self, name: str, arg: Any, position: int) -> bool:
        """Run one opcode; True at STOP."""
        self.position = position
        stack = self.stack
        if name in _TEXT_INTEGERS and isinstance(arg, int) and not isinstance(arg, bool):
            self.check_int(arg)
        if name in _PUSH_ARGUMENT:
            if name in ("LONG1", "LONG4"):
                self.check_int(arg)
            stack.append(arg)
        elif name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):
            stack.append(bytes(arg))
        elif name in ("BINSTRING", "SHORT_BINSTRING"):
            # Python 2 str: text in Python 3 pickles of SB3's era; latin-1 maps every byte.
            stack.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
        elif name == "BYTEARRAY8":
            stack.append(bytearray(arg))
        elif name == "NONE":
            stack.append(None)
        elif name == "NEWTRUE":
            stack.append(True)
        elif name == "NEWFALSE":
            stack.append(False)
        elif name == "MARK":
            self.metastack.append(stack)
            self.stack = []
        elif name == "STOP":
            self.result = self.pop()
            if self.stack or self.metastack:
                raise self.fail("values left on the stack at STOP")
            return True
        elif name == "POP":
            if stack and stack[-1] is _MARK:
                raise self.fail("POP of a MARK")
            if stack:
                stack.pop()
            else:
                self.pop_mark()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            stack.append(self.top())
        elif name in ("PROTO",):
            if not 0 <= arg <= 5:
                raise self.fail(f"unsupported pickle protocol {shorten(arg)}")
        elif name == "FRAME":
            pass
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo_put(arg, self.top())
        elif name == "MEMOIZE":
            self.memo_put(len(self.memo), self.top())
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(self.memo_get(arg))
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "EMPTY_DICT":
            stack.append(DictNode())
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name == "EMPTY_SET":
            stack.append(SetNode([], frozen=False))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            if len(stack) < n:
                raise self.fail(f"{name} with fewer than {n} values on the stack")
            values = tuple(stack[-n:])
            if any(value is _MARK for value in values):
                raise self.fail(f"{name} over a MARK")
            del stack[-n:]
            self.count(n)
            stack.append(values)
        elif name == "TUPLE":
            items = self.pop_mark()
            self.count(len(items))
            self.stack.append(tuple(items))
        elif name == "LIST":
            items = self.pop_mark()
            self.count(len(items))
            self.stack.append(items)
        elif name == "DICT":
            items = self.pop_mark()
            if len(items) % 2:
                raise self.fail("DICT with an odd number of items")
            node = DictNode()
            self.count(len(items) // 2)
            node.pairs.extend(zip(items[::2], items[1::2], strict=True))
            self.stack.append(node)
        elif name == "FROZENSET":
            items = self.pop_mark()
            self.count(len(items))
            self.stack.append(SetNode(items, frozen=True))
        elif name == "ADDITEMS":
            items = self.pop_mark()
            target = self.top()
            if not isinstance(target, SetNode) or target.frozen:
                raise self.fail(f"ADDITEMS on a {type(target).__name__}")
            self.count(len(items))
            target.items.extend(items)
        elif name == "APPEND":
            value = self.pop()
            self.appends(self.top(), [value])
        elif name == "APPENDS":
            items = self.pop_mark()
            self.appends(self.top(), items)
        elif name == "SETITEM":
            value = self.pop()
            key = self.pop()
            self.setitems(self.top(), [(key, value)])
        elif name == "SETITEMS":
            items = self.pop_mark()
            if len(items) % 2:
                raise self.fail("SETITEMS with an odd number of items")
            self.setitems(self.top(), list(zip(items[::2], items[1::2], strict=True)))
        elif name == "GLOBAL":
            module, _, qualname = arg.partition(" ")
            stack.append(Global(module, qualname))
        elif name == "STACK_GLOBAL":
            qualname = self.pop()
            module = self.pop()
            if not isinstance(module, str) or not isinstance(qualname, str):
                raise self.fail("STACK_GLOBAL needs two strings")
            stack.append(Global(module, qualname))
        elif name == "REDUCE":
            args = self.pop()
            func = self.pop()
            stack.append(Reduce(func, args))
        elif name == "NEWOBJ":
            args = self.pop()
            cls = self.pop()
            stack.append(Reduce(cls, args, newobj=True))
        elif name == "NEWOBJ_EX":
            kwargs = self.pop()
            args = self.pop()
            cls = self.pop()
            stack.append(Reduce(cls, args, kwargs, newobj=True))
        elif name == "INST":
            module, _, qualname = arg.partition(" ")
            args = tuple(self.pop_mark())
            self.stack.append(Reduce(Global(module, qualname), args))
        elif name == "OBJ":
            items = self.pop_mark()
            if not items:
                raise self.fail("OBJ without a class")
            self.stack.append(Reduce(items[0], tuple(items[1:])))
        elif name == "BUILD":
            state = self.pop()
            target = self.top()
            if not isinstance(target, Reduce):
                raise self.fail(f"BUILD on a {type(target).__name__}")
            if target.state is not None:
                raise self.fail("BUILD twice on one object")
            target.state = state
        elif name == "PERSID":
            stack.append(PersistentId(arg))
        elif name == "BINPERSID":
            stack.append(PersistentId(self.pop()))
        elif name in ("EXT1", "EXT2", "EXT4"):
            raise self.fail(f"{name} (copyreg's extension registry) is not supported")
        elif name in ("NEXT_BUFFER", "READONLY_BUFFER"):
            raise self.fail(f"{name} (out-of-band buffers) is not supported")
        else:
            raise self.fail(f"unknown opcode {name}")
        return False


# Opcodes that push their decoded argument as it is.
_PUSH_ARGUMENT = {
    "INT",
    "BININT",
    "BININT1",
    "BININT2",
    "LONG",
    "LONG1",
    "LONG4",
    "FLOAT",
    "BINFLOAT",
    "STRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
}


__all__ = [
    "DEFAULT_LIMITS",
    "DictNode",
    "Global",
    "Limits",
    "PersistentId",
    "Reduce",
    "SetNode",
    "decode",
    "shorten",
]
