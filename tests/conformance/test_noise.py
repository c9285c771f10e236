"""Conformance with SB3 2.9.2's ``common.noise``: dtypes, shapes, representations and refusals."""

import numpy as np
import pytest

from mlx_baselines3.common import noise

from ._outcome import assert_same_failure, outcome


def _sb3_noise():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common import noise as sb3_noise

    return sb3_noise


@pytest.mark.parametrize("name", ["NormalActionNoise", "OrnsteinUhlenbeckActionNoise"])
@pytest.mark.parametrize("dtype", [None, np.float32])
def test_noise_values_same_as_sb3(name, dtype):
    sb3_noise = _sb3_noise()
    kwargs = {} if dtype is None else {"dtype": dtype}
    ours = getattr(noise, name)(np.zeros(2), 0.1 * np.ones(2), **kwargs)
    theirs = getattr(sb3_noise, name)(np.zeros(2), 0.1 * np.ones(2), **kwargs)
    assert repr(ours) == repr(theirs)
    np.random.seed(0)
    ours_values = [ours() for _ in range(3)]
    np.random.seed(0)
    theirs_values = [theirs() for _ in range(3)]
    for a, b in zip(ours_values, theirs_values, strict=True):
        assert a.dtype == b.dtype == (dtype or np.float32)
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_vectorized_noise_facts():
    base = noise.NormalActionNoise(np.zeros(2), np.ones(2))
    vectorized = noise.VectorizedActionNoise(base, 3)
    assert vectorized().shape == (3, 2) and len(vectorized.noises) == 3
    assert all(type(n) is noise.NormalActionNoise and n is not base for n in vectorized.noises)


@pytest.mark.parametrize(
    "call",
    [
        lambda module: module.VectorizedActionNoise(module.NormalActionNoise(np.zeros(2), np.ones(2)), 0),
        lambda module: module.VectorizedActionNoise(object(), 2),
        lambda module: setattr(
            module.VectorizedActionNoise(module.NormalActionNoise(np.zeros(2), np.ones(2)), 2), "noises", [1, 2]
        ),
        lambda module: setattr(
            module.VectorizedActionNoise(module.NormalActionNoise(np.zeros(2), np.ones(2)), 2),
            "noises",
            [module.NormalActionNoise(np.zeros(2), np.ones(2))],
        ),
    ],
)
def test_vectorized_noise_refusals_same_as_sb3(call):
    sb3_noise = _sb3_noise()
    assert_same_failure(outcome(call, noise), outcome(call, sb3_noise), fragment_length=30)
