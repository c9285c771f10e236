"""The pickle decoder: every protocol decodes to plain values and symbolic references, nothing runs, bounds hold."""

import os
import pickle
import struct
import time

import numpy as np
import pytest

from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.safe_pickle import DictNode, Global, Limits, PersistentId, Reduce, SetNode, decode, shorten


def _plain(node):
    """The decoded tree as Python values (only for trees of plain values)."""
    if isinstance(node, DictNode):
        return {_plain(key): _plain(value) for key, value in node.pairs}
    if isinstance(node, SetNode):
        return (frozenset if node.frozen else set)(_plain(item) for item in node.items)
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, tuple):
        return tuple(_plain(item) for item in node)
    assert not isinstance(node, (Global, Reduce, PersistentId)), node
    return node


PLAIN = {
    "none": None,
    "bools": [True, False],
    "ints": [0, 1, -1, 255, 256, 65535, 2**31 - 1, -(2**31), 2**63, -(2**100)],
    "floats": [0.0, -1.5, 1e300, float("inf")],
    "text": ["", "é", "x" * 300],
    "bytes": [b"", b"\x00\xff", b"y" * 300],
    "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
    "nested": {"a": [{"b": (1, [2])}]},
    "sets": [{1, 2}, frozenset({3})],
    (1, 2): "tuple key",
}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_values_round_trip_in_every_protocol(protocol):
    expected = dict(PLAIN)
    if protocol < 3:
        # Protocols 0-2 have no bytes type: pickle writes bytes as a call to _codecs.encode, which stays symbolic.
        del expected["bytes"]
    if protocol < 4:
        # Before protocol 4, sets are pickled as calls to builtins.set/frozenset, which stay symbolic too.
        del expected["sets"]
    assert _plain(decode(pickle.dumps(expected, protocol=protocol))) == expected


def test_bytearray_and_shared_references():
    shared = [1, 2]
    decoded = decode(pickle.dumps({"a": shared, "b": shared, "c": bytearray(b"ab")}, protocol=5))
    values = dict(decoded.pairs)
    assert values["a"] is values["b"] and values["a"] == [1, 2]
    assert values["c"] == bytearray(b"ab")


class _Runs:
    def __reduce__(self):
        return os.system, ("echo pwned",)


class _WithState:
    def __init__(self):
        self.x = 1


def test_calls_and_globals_stay_symbolic(tmp_path):
    node = decode(pickle.dumps(_Runs(), protocol=2))
    assert isinstance(node, Reduce) and isinstance(node.func, Global)
    assert (node.func.module, node.func.name) == (os.system.__module__, "system") and node.args == ("echo pwned",)
    obj = decode(pickle.dumps(_WithState(), protocol=4))
    assert isinstance(obj, Reduce) and obj.newobj and obj.func.name == "_WithState"
    assert _plain(obj.state) == {"x": 1}
    array = decode(pickle.dumps(np.arange(3, dtype=np.float32), protocol=5))
    assert array.func.name == "_frombuffer" and array.args[0] == np.arange(3, dtype=np.float32).tobytes()


def test_setitems_and_appends_on_objects_are_recorded():
    from collections import OrderedDict, deque

    ordered = decode(pickle.dumps(OrderedDict(a=1, b=2), protocol=2))
    assert ordered.func.qualified == "collections.OrderedDict" and ordered.setitems == [("a", 1), ("b", 2)]
    queue = decode(pickle.dumps(deque([1, 2], maxlen=5), protocol=2))
    assert queue.func.qualified == "collections.deque" and queue.appends == [1, 2]


def test_persistent_ids_are_symbolic():
    class _Key:
        pass

    class _Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", "key1") if isinstance(obj, _Key) else None

    import io

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump([_Key(), 3])
    decoded = decode(buffer.getvalue())
    assert isinstance(decoded[0], PersistentId) and decoded[0].pid == ("storage", "key1") and decoded[1] == 3


def test_deep_nesting_costs_no_stack():
    depth = 200_000
    # A chain of TUPLE1 opcodes: each nests the tuple below it one level deeper.
    data = b"\x80\x02" + b")" + b"\x85" * depth + b"."
    node = decode(data)
    for _ in range(depth):
        node = node[0]
    assert node == ()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x80\x02K\x01", "STOP"),
        (b"\x80\x02", "STOP"),
        (b"\x80\x06K\x01.", "protocol"),
        (b"\x80\x02h\x05.", "never stored"),
        (b"\x80\x02K\x01K\x02.", "left on the stack"),
        (b"\x80\x02.", "empty stack"),
        (b"\x80\x02K\x01K\x02b.", "BUILD on a int"),
        (b"\x80\x02K\x01K\x02K\x03s.", "SETITEM"),
        (b"\x80\x02\x82\x01.", "EXT1"),
        (b"\x80\x05\x97.", "NEXT_BUFFER"),
        (b"\x80\x02\xff.", "corrupt"),
        (b"\x80\x02B\xff\xff\xff\x7fab.", "corrupt"),
        (b"\x80\x05\x8e\xff\xff\xff\xff\xff\xff\xff\x7fab.", "corrupt"),
        (b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", "corrupt"),
        (b"\x80\x02(K\x01e.", "no value"),
    ],
)
def test_malformed_pickles_raise_load_error(data, message):
    with pytest.raises(LoadError, match=message):
        decode(data, where="test.pkl")


def test_bounds():
    with pytest.raises(LoadError, match="bits"):
        decode(pickle.dumps(1 << 5000, protocol=2))
    with pytest.raises(LoadError, match="bits"):
        decode(b"L" + b"9" * 2000 + b"L\n.")
    with pytest.raises(LoadError, match="memo entries"):
        decode(pickle.dumps([[i] for i in range(100)], protocol=2), limits=Limits(max_memo=10))
    with pytest.raises(LoadError, match="opcodes"):
        decode(pickle.dumps(list(range(100)), protocol=2), limits=Limits(max_opcodes=50))
    with pytest.raises(LoadError, match="container items"):
        decode(pickle.dumps(list(range(100)), protocol=2), limits=Limits(max_items=50))
    with pytest.raises(LoadError, match="limit"):
        decode(b"\x80\x02N." + b" " * 100, limits=Limits(max_pickle_bytes=50))


def test_large_memo_index_allocates_nothing():
    # pickle's C memo is an array indexed by the memo id: 9 bytes asked it for 1 GB. Ours is a dict.
    data = b"\x80\x02N" + b"r" + struct.pack("<I", 2**30) + b"j" + struct.pack("<I", 2**30) + b"\x86."
    assert decode(data) == (None, None)


def test_declared_lengths_beyond_the_data_fail_fast():
    start = time.perf_counter()
    for opcode in (b"B", b"X", b"T"):
        with pytest.raises(LoadError):
            decode(b"\x80\x02" + opcode + struct.pack("<I", 2**31 - 1) + b"x.")
    assert time.perf_counter() - start < 1.0


def test_shorten_caps_untrusted_values():
    assert shorten("x" * 1000).endswith("(1000 long)") and len(shorten("x" * 1000)) < 120
    assert shorten(1 << 4000) == "<int of 4001 bits>"
    assert shorten([[[]]]) == "<list>"
    assert shorten(Global("a" * 500, "b")).startswith("Global('aaaa") and len(shorten(Global("a" * 500, "b"))) < 200
