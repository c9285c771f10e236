"""Deterministic fuzzing of the loaders: the only outcomes are "loads and is usable" and LoadError."""

import importlib.util
import pathlib
import time

import pytest

_FUZZ = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz.py"
_spec = importlib.util.spec_from_file_location("mlx_baselines3_fuzz", _FUZZ)
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


@pytest.fixture(scope="module")
def samples():
    return fuzz.legit_samples()


def test_legitimate_files_load_and_are_usable(samples):
    for name, (kind, content) in samples.items():
        assert fuzz.load_and_use(kind, content) == "usable", name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mutations_give_only_documented_outcomes(samples, seed):
    start = time.perf_counter()
    outcomes = fuzz.run(samples, seed=seed, count=100)
    bugs = {key: n for key, n in outcomes.items() if key[1] not in ("usable", "LoadError")}
    assert bugs == {}, bugs
    assert sum(outcomes.values()) == 100
    by_outcome = {outcome: sum(n for (_, o), n in outcomes.items() if o == outcome) for outcome in ("usable", "LoadError")}
    # Most mutations break the file; some leave a loadable one (a number changed, a member duplicated).
    assert by_outcome["LoadError"] > 40 and by_outcome["usable"] > 0, outcomes
    assert {mutation for mutation, _ in outcomes} == {"bytes", "pickle", "zip"}
    print(f"seed {seed}: {dict(outcomes)} in {time.perf_counter() - start:.1f} s")
