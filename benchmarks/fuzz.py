"""
Fuzz the loaders: mutate legitimate model zips and pickles, load them with the defaults, and check that every outcome
is either "loads and is usable" (a model predicts, a buffer samples, a VecNormalize normalizes) or ``LoadError``.

Mutations are structure-aware (zip members re-zipped with valid CRCs; the ``data`` JSON; pickles mutated opcode by
opcode: opcode bytes, arguments, deletions, duplications, splices from other pickles, globals swapped for hostile
ones; torch records and storages) and byte-level (flips, truncations, insertions in the raw file). The deterministic
test ``tests/security/test_fuzz.py`` runs a few hundred cases; this script runs as many as you like:

    python benchmarks/fuzz.py --seconds 600 --seed 1 --out fuzz-failures/

Any other outcome (another exception type, a crash of the child process) is a bug: with ``--out``, the input is
written there to reproduce it.
"""

import argparse
import base64
import collections
import io
import json
import pathlib
import pickletools
import sys
import time
import warnings
import zipfile
from collections.abc import Iterator

import numpy as np

# Globals an attacker would swap in: code execution, memory-unsafe NumPy, attribute access, and known good ones in
# the wrong place.
HOSTILE_GLOBALS = [
    ("os", "system"),
    ("builtins", "eval"),
    ("builtins", "getattr"),
    ("builtins", "setattr"),
    ("posix", "system"),
    ("numpy", "void"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("copyreg", "_reconstructor"),
    ("collections", "OrderedDict"),
    ("collections", "deque"),
    ("gymnasium.spaces.box", "Box"),
    ("gymnasium.spaces.discrete", "Discrete"),
    ("stable_baselines3.common.utils", "FloatSchedule"),
    ("stable_baselines3.common.policies", "ActorCriticPolicy"),
    ("stable_baselines3.common.buffers", "ReplayBuffer"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch", "FloatStorage"),
    ("cloudpickle.cloudpickle", "_make_function"),
]
OPCODE_BYTES = [op.code.encode("latin-1") for op in pickletools.opcodes]


def legit_samples() -> dict[str, tuple[str, bytes]]:
    """
    :return: name -> (kind, bytes) of legitimate files: model zips, a VecNormalize and a replay buffer pickle
    """
    from mlx_baselines3 import DQN, PPO, SAC
    from mlx_baselines3.common.env_util import make_vec_env
    from mlx_baselines3.common.vec_env import VecNormalize

    samples: dict[str, tuple[str, bytes]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model in (
            ("ppo", PPO("MlpPolicy", "Pendulum-v1", n_steps=16, batch_size=8, n_epochs=1, seed=0).learn(16)),
            ("dqn", DQN("MlpPolicy", "CartPole-v1", buffer_size=64, learning_starts=8, seed=0).learn(16)),
            ("sac", SAC("MlpPolicy", "Pendulum-v1", buffer_size=64, learning_starts=8, seed=0).learn(12)),
        ):
            buffer = io.BytesIO()
            model.save(buffer)
            samples[name] = (type(model).__name__, buffer.getvalue())
            if name == "dqn":
                buffer = io.BytesIO()
                model.save_replay_buffer(buffer)
                samples["replay_buffer"] = ("replay_buffer", buffer.getvalue())
        venv = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0))
        venv.reset()
        venv.step(np.zeros((2, 1), dtype=np.float32))
        path = pathlib.Path(_scratch()) / "vec_normalize.pkl"
        venv.save(str(path))
        samples["vec_normalize"] = ("vec_normalize", path.read_bytes())
    return samples


def _scratch() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="mlx_baselines3_fuzz_")


# --- mutations --------------------------------------------------------------------------------------------------------


def _opcode_spans(data: bytes) -> list[tuple[int, int]]:
    try:
        positions = [pos for _, _, pos in pickletools.genops(data)]
    except Exception:
        return [(0, len(data))]
    return list(zip(positions, [*positions[1:], len(data)], strict=True))


def mutate_pickle(data: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    """
    Mutate a pickle at opcode granularity.

    :param data: the pickle
    :param rng: the random generator
    :param donors: other pickles to splice segments from
    :return: the mutated pickle
    """
    spans = _opcode_spans(data)
    start, end = spans[int(rng.integers(len(spans)))]
    kind = int(rng.integers(8))
    if kind == 0:  # another opcode in place of this one
        return data[:start] + OPCODE_BYTES[int(rng.integers(len(OPCODE_BYTES)))] + data[start + 1 :]
    if kind == 1 and end - start > 1:  # damage the argument
        position = int(rng.integers(start + 1, end))
        return data[:position] + bytes([int(rng.integers(256))]) + data[position + 1 :]
    if kind == 2:  # drop the opcode
        return data[:start] + data[end:]
    if kind == 3:  # repeat it
        return data[:end] + data[start:end] * int(rng.integers(1, 4)) + data[end:]
    if kind == 4 and donors:  # splice a segment of another pickle
        donor = donors[int(rng.integers(len(donors)))]
        donor_spans = _opcode_spans(donor)
        first = int(rng.integers(len(donor_spans)))
        last = min(len(donor_spans) - 1, first + int(rng.integers(1, 6)))
        return data[:start] + donor[donor_spans[first][0] : donor_spans[last][1]] + data[start:]
    if kind == 5:  # swap a global for a hostile one
        module, name = HOSTILE_GLOBALS[int(rng.integers(len(HOSTILE_GLOBALS)))]
        return data[:start] + f"c{module}\n{name}\n".encode() + data[end:]
    if kind == 6:  # an extreme integer
        value = [0, -1, 2**31 - 1, 2**31, 2**63, -(2**63), 2**64 + 1][int(rng.integers(7))]
        encoded = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return data[:start] + b"\x8a" + bytes([len(encoded)]) + encoded + data[start:]
    cut = int(rng.integers(len(data) + 1))  # truncate
    return data[:cut]


def _members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _mutate_json(text: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    data = json.loads(text)
    key = sorted(data)[int(rng.integers(len(data)))]
    value = data[key]
    kind = int(rng.integers(5))
    if isinstance(value, dict) and ":serialized:" in value and kind < 3:
        pickled = base64.b64decode(value[":serialized:"])
        for _ in range(int(rng.integers(1, 4))):
            pickled = mutate_pickle(pickled, rng, donors)
        data[key] = {**value, ":serialized:": base64.b64encode(pickled).decode()}
    elif kind == 3:
        data[key] = [None, -1, 10**30, "x" * 1000, [[[]]], {"a": 1}, True, 1e308, float("nan")][int(rng.integers(9))]
    else:
        del data[key]
    return json.dumps(data, allow_nan=True).encode()


def _mutate_torch_file(content: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    inner = _members(content)
    names = sorted(inner)
    name = names[int(rng.integers(len(names)))]
    record = inner[name]
    if name.endswith("data.pkl"):
        for _ in range(int(rng.integers(1, 3))):
            record = mutate_pickle(record, rng, donors)
    elif rng.random() < 0.5:
        record = record[: int(rng.integers(len(record) + 1))]
    else:
        record = record + bytes(int(rng.integers(1, 64)))
    return _zip({**inner, name: record})


def mutate_zip(content: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    """
    Mutate one member of a model zip (structure-aware) and zip it again with valid CRCs.

    :param content: the model zip
    :param rng: the random generator
    :param donors: pickles to splice from
    :return: the mutated zip
    """
    members = _members(content)
    names = sorted(members)
    name = names[int(rng.integers(len(names)))]
    kind = int(rng.integers(10))
    if kind == 0:
        del members[name]
    elif kind == 1:
        members[f"{name}.copy.pth" if rng.random() < 0.5 else "pytorch_variables.pth"] = members[name]
    elif name == "data":
        members[name] = _mutate_json(members[name], rng, donors)
    elif name.endswith(".pth"):
        members[name] = _mutate_torch_file(members[name], rng, donors)
    else:
        members[name] = mutate_bytes(members[name], rng)
    return _zip(members)


def mutate_bytes(content: bytes, rng: np.random.Generator) -> bytes:
    """
    Byte-level damage: flips, overwrites, truncations, insertions.

    :param content: the file
    :param rng: the random generator
    :return: the damaged file
    """
    damaged = bytearray(content)
    kind = int(rng.integers(4))
    if kind == 0 and damaged:
        for _ in range(int(rng.integers(1, 8))):
            damaged[int(rng.integers(len(damaged)))] ^= 1 << int(rng.integers(8))
    elif kind == 1 and damaged:
        position = int(rng.integers(len(damaged)))
        damaged[position : position + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    elif kind == 2:
        del damaged[int(rng.integers(len(damaged) + 1)) :]
    else:
        position = int(rng.integers(len(damaged) + 1))
        damaged[position:position] = rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8).tobytes()
    return bytes(damaged)


def _pickles_in(samples: dict[str, tuple[str, bytes]]) -> list[bytes]:
    donors = []
    for kind, content in samples.values():
        if kind in ("replay_buffer", "vec_normalize"):
            donors.append(content)
            continue
        members = _members(content)
        for value in json.loads(members["data"]).values():
            if isinstance(value, dict) and ":serialized:" in value:
                donors.append(base64.b64decode(value[":serialized:"]))
        for name, member in members.items():
            if name.endswith(".pth"):
                donors.extend(record for record_name, record in _members(member).items() if record_name.endswith("data.pkl"))
    return donors


def cases(samples: dict[str, tuple[str, bytes]], seed: int, count: int) -> Iterator[tuple[str, str, bytes]]:
    """
    :param samples: the legitimate files (``legit_samples``)
    :param seed: the seed of the mutations
    :param count: how many cases
    :return: (sample name, mutation, mutated bytes) for each case; a third are byte-level
    """
    rng = np.random.default_rng(seed)
    donors = _pickles_in(samples)
    names = sorted(samples)
    for _ in range(count):
        name = names[int(rng.integers(len(names)))]
        kind, content = samples[name]
        if rng.random() < 1 / 3:
            yield name, "bytes", mutate_bytes(content, rng)
        elif kind in ("replay_buffer", "vec_normalize"):
            mutated = content
            for _ in range(int(rng.integers(1, 4))):
                mutated = mutate_pickle(mutated, rng, donors)
            yield name, "pickle", mutated
        else:
            yield name, "zip", mutate_zip(content, rng, donors)


# --- loading ----------------------------------------------------------------------------------------------------------


def load_and_use(kind: str, content: bytes) -> str:
    """
    Load a file with the defaults and use what loads.

    :param kind: the algorithm's class name, ``"replay_buffer"`` or ``"vec_normalize"``
    :param content: the file
    :return: ``"usable"`` or ``"LoadError"``; any other exception propagates (a bug)
    """
    import gymnasium as gym

    import mlx_baselines3
    from mlx_baselines3 import DQN
    from mlx_baselines3.common.exceptions import LoadError
    from mlx_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "replay_buffer":
                model = DQN("MlpPolicy", "CartPole-v1", buffer_size=64)
                model.load_replay_buffer(io.BytesIO(content))
                if model.replay_buffer.size() > 0:
                    model.replay_buffer.sample(4)
            elif kind == "vec_normalize":
                path = pathlib.Path(_scratch()) / "vn.pkl"
                path.write_bytes(content)
                venv = VecNormalize.load(str(path), DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
                venv.normalize_obs(venv.observation_space.sample()[None])
            else:
                model = getattr(mlx_baselines3, kind).load(io.BytesIO(content))
                model.predict(model.observation_space.sample(), deterministic=True)
        except LoadError:
            return "LoadError"
    return "usable"


def run(samples: dict[str, tuple[str, bytes]], seed: int, count: int, out: pathlib.Path | None = None) -> collections.Counter:
    """
    Run ``count`` cases and count their outcomes.

    :param samples: the legitimate files
    :param seed: the mutation seed
    :param count: how many cases
    :param out: where to write the inputs of failing cases (None: nowhere)
    :return: outcome -> count (outcomes other than "usable"/"LoadError" are ``"BUG <exception type>"``)
    """
    outcomes: collections.Counter = collections.Counter()
    for index, (name, mutation, content) in enumerate(cases(samples, seed, count)):
        try:
            outcome = load_and_use(samples[name][0], content)
        except Exception as e:
            outcome = f"BUG {type(e).__name__}: {str(e)[:200]}"
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{seed}-{index}-{name}-{mutation}").write_bytes(content)
        outcomes[(mutation, outcome)] += 1
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="stop after this long (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="first seed; each batch of 100 cases uses the next one")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write failing inputs to this folder")
    args = parser.parse_args(argv)
    samples = legit_samples()
    total: collections.Counter = collections.Counter()
    start, seed = time.perf_counter(), args.seed
    while time.perf_counter() - start < args.seconds:
        total.update(run(samples, seed, 100, args.out))
        seed += 1
    for (mutation, outcome), n in sorted(total.items()):
        print(f"{mutation:8s} {outcome:60s} {n}")
    bugs = sum(n for (_, outcome), n in total.items() if outcome.startswith("BUG"))
    print(f"{sum(total.values())} cases, seeds {args.seed}-{seed - 1}, {bugs} bugs, {time.perf_counter() - start:.0f} s")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
