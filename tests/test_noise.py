"""Action noises: Normal and Ornstein-Uhlenbeck statistics and recurrence, vectorized copies per environment."""

import numpy as np
import pytest

from mlx_baselines3.common.noise import (
    ActionNoise,
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
    VectorizedActionNoise,
)


def test_normal_noise_statistics():
    np.random.seed(0)
    noise = NormalActionNoise(mean=np.array([1.0, -2.0]), sigma=np.array([0.1, 0.5]))
    samples = np.stack([noise() for _ in range(20000)])
    assert samples.dtype == np.float32 and samples.shape == (20000, 2)
    np.testing.assert_allclose(samples.mean(axis=0), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(samples.std(axis=0), [0.1, 0.5], rtol=0.03)
    assert NormalActionNoise(np.zeros(1), np.ones(1), dtype=np.float64)().dtype == np.float64
    assert repr(noise).startswith("NormalActionNoise(mu=[ 1. -2.], sigma=[0.1 0.5])")


def test_ornstein_uhlenbeck_recurrence_and_reset():
    mean, sigma, theta, dt = np.array([0.5, -0.5]), np.array([0.2, 0.3]), 0.15, 0.01
    noise = OrnsteinUhlenbeckActionNoise(mean, sigma, theta=theta, dt=dt)
    np.random.seed(1)
    values = [noise() for _ in range(5)]
    # The same recurrence, with the same normal draws.
    np.random.seed(1)
    x = np.zeros(2)
    for value in values:
        x = x + theta * (mean - x) * dt + sigma * np.sqrt(dt) * np.random.normal(size=2)
        np.testing.assert_allclose(value, x, rtol=1e-6)
        assert value.dtype == np.float32
    noise.reset()
    np.testing.assert_array_equal(noise.noise_prev, np.zeros(2))
    start = np.array([1.0, 2.0])
    noise = OrnsteinUhlenbeckActionNoise(mean, sigma, initial_noise=start)
    np.testing.assert_array_equal(noise.noise_prev, start)


def test_ornstein_uhlenbeck_drifts_to_mean():
    np.random.seed(2)
    noise = OrnsteinUhlenbeckActionNoise(np.array([3.0]), np.array([0.01]), theta=1.0, dt=0.1)
    for _ in range(200):
        value = noise()
    assert value[0] == pytest.approx(3.0, abs=0.05)


def test_vectorized_noise():
    base = OrnsteinUhlenbeckActionNoise(np.zeros(2), np.ones(2))
    noise = VectorizedActionNoise(base, n_envs=3)
    assert len(noise.noises) == 3 and all(n is not base for n in noise.noises)
    np.random.seed(0)
    samples = noise()
    assert samples.shape == (3, 2) and len({tuple(row) for row in samples}) == 3
    # Only the listed processes restart.
    noise.reset(indices=[1])
    assert np.all(noise.noises[1].noise_prev == 0) and np.all(noise.noises[0].noise_prev != 0)
    noise.reset()
    assert all(np.all(n.noise_prev == 0) for n in noise.noises)
    assert repr(noise) == f"VecNoise(BaseNoise={base!r}), n_envs=3)"


@pytest.mark.parametrize("n_envs", [0, -1, "two", None])
def test_vectorized_noise_bad_n_envs(n_envs):
    with pytest.raises(ValueError, match="positive integer"):
        VectorizedActionNoise(NormalActionNoise(np.zeros(1), np.ones(1)), n_envs)


def test_vectorized_noise_bad_noises():
    with pytest.raises(ValueError, match="not None"):
        VectorizedActionNoise(None, 2)
    with pytest.raises(TypeError, match="instance of type ActionNoise"):
        VectorizedActionNoise(np.zeros(2), 2)
    noise = VectorizedActionNoise(NormalActionNoise(np.zeros(1), np.ones(1)), 2)
    with pytest.raises(AssertionError, match="Expected a list of 2 ActionNoises, found 1"):
        noise.noises = [NormalActionNoise(np.zeros(1), np.ones(1))]
    with pytest.raises(ValueError, match=r"indices \[1\]"):
        noise.noises = [NormalActionNoise(np.zeros(1), np.ones(1)), OrnsteinUhlenbeckActionNoise(np.zeros(1), np.ones(1))]


def test_action_noise_is_abstract():
    with pytest.raises(TypeError):
        ActionNoise()
