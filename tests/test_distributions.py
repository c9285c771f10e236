"""Distributions: shapes, sampling statistics, and log-prob/entropy parity with SB3's torch distributions."""

import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    MultiCategoricalDistribution,
    SquashedDiagGaussianDistribution,
    TanhBijector,
    kl_divergence,
    make_proba_distribution,
)

BATCH = 7
rng = np.random.default_rng(0)


def test_make_proba_distribution_types():
    assert isinstance(make_proba_distribution(spaces.Box(-1, 1, (3,))), DiagGaussianDistribution)
    assert isinstance(make_proba_distribution(spaces.Discrete(4)), CategoricalDistribution)
    assert isinstance(make_proba_distribution(spaces.MultiDiscrete([2, 3])), MultiCategoricalDistribution)
    assert isinstance(make_proba_distribution(spaces.MultiBinary(3)), BernoulliDistribution)
    with pytest.raises(NotImplementedError, match="not implemented for action space"):
        make_proba_distribution(spaces.Tuple([spaces.Discrete(2)]))


def test_categorical_sampling_frequencies():
    mx.random.seed(0)
    logits = mx.log(mx.array([[0.1, 0.2, 0.7]]))
    dist = CategoricalDistribution(3).proba_distribution(mx.repeat(logits, 20000, axis=0))
    counts = np.bincount(np.array(dist.sample()), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.7], atol=0.015)
    assert np.array(dist.mode()).tolist() == [2] * 20000


def test_gaussian_sampling_moments():
    mx.random.seed(1)
    dist = DiagGaussianDistribution(2).proba_distribution(
        mx.zeros((50000, 2)) + mx.array([1.0, -2.0]), mx.log(mx.array([0.5, 2.0]))
    )
    samples = np.array(dist.sample())
    np.testing.assert_allclose(samples.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(samples.std(axis=0), [0.5, 2.0], rtol=0.03)


def test_squashed_samples_in_bounds_and_bijector_inverse():
    mx.random.seed(2)
    dist = SquashedDiagGaussianDistribution(3).proba_distribution(mx.zeros((1000, 3)), mx.full((3,), 2.0))
    actions = np.array(dist.sample())
    assert np.all(np.abs(actions) <= 1.0)
    x = mx.array([-0.9, 0.0, 0.5])
    np.testing.assert_allclose(np.array(TanhBijector.inverse(mx.tanh(x))), np.array(x), atol=1e-5)


def test_kl_divergence_zero_for_same_and_positive_otherwise():
    logits = mx.array(rng.normal(size=(BATCH, 4)).astype(np.float32))
    p = CategoricalDistribution(4).proba_distribution(logits)
    q = CategoricalDistribution(4).proba_distribution(logits * 2)
    np.testing.assert_allclose(np.array(kl_divergence(p, p)), 0.0, atol=1e-6)
    assert np.all(np.array(kl_divergence(p, q)) > 0)
    with pytest.raises(AssertionError, match="should be the same type"):
        kl_divergence(p, DiagGaussianDistribution(4).proba_distribution(logits, mx.zeros(4)))


# --- parity with SB3 / torch ------------------------------------------------------------------------------------------


def _torch_and_sb3():
    th = pytest.importorskip("torch")
    sb3_dist = pytest.importorskip("stable_baselines3.common.distributions")
    return th, sb3_dist


def _pair(array: np.ndarray):
    th = pytest.importorskip("torch")
    return mx.array(array), th.as_tensor(array)


def _close(ours, theirs, atol=1e-5):
    np.testing.assert_allclose(np.array(ours), theirs.detach().numpy(), atol=atol, rtol=1e-5)


def test_parity_diag_gaussian():
    _, sb3 = _torch_and_sb3()
    mean, th_mean = _pair(rng.normal(size=(BATCH, 3)).astype(np.float32))
    log_std, th_log_std = _pair(rng.normal(size=(3,)).astype(np.float32) * 0.5)
    actions, th_actions = _pair(rng.normal(size=(BATCH, 3)).astype(np.float32))
    ours = DiagGaussianDistribution(3).proba_distribution(mean, log_std)
    theirs = sb3.DiagGaussianDistribution(3).proba_distribution(th_mean, th_log_std)
    _close(ours.log_prob(actions), theirs.log_prob(th_actions))
    _close(ours.entropy(), theirs.entropy())
    other = DiagGaussianDistribution(3).proba_distribution(mean + 0.3, log_std - 0.2)
    other_th = sb3.DiagGaussianDistribution(3).proba_distribution(th_mean + 0.3, th_log_std - 0.2)
    _close(kl_divergence(ours, other), sb3.kl_divergence(theirs, other_th))


def test_parity_squashed_gaussian():
    _, sb3 = _torch_and_sb3()
    mean, th_mean = _pair(rng.normal(size=(BATCH, 2)).astype(np.float32))
    log_std, th_log_std = _pair(np.array([-0.5, 0.3], dtype=np.float32))
    actions, th_actions = _pair(np.tanh(rng.normal(size=(BATCH, 2))).astype(np.float32))
    ours = SquashedDiagGaussianDistribution(2).proba_distribution(mean, log_std)
    theirs = sb3.SquashedDiagGaussianDistribution(2).proba_distribution(th_mean, th_log_std)
    _close(ours.log_prob(actions), theirs.log_prob(th_actions), atol=1e-4)
    assert ours.entropy() is None and theirs.entropy() is None


def test_parity_categorical():
    th, sb3 = _torch_and_sb3()
    logits, th_logits = _pair(rng.normal(size=(BATCH, 5)).astype(np.float32) * 3)
    actions = rng.integers(0, 5, size=BATCH)
    ours = CategoricalDistribution(5).proba_distribution(logits)
    theirs = sb3.CategoricalDistribution(5).proba_distribution(th_logits)
    _close(ours.log_prob(mx.array(actions)), theirs.log_prob(th.as_tensor(actions)))
    _close(ours.entropy(), theirs.entropy())
    other = CategoricalDistribution(5).proba_distribution(logits * 0.5)
    other_th = sb3.CategoricalDistribution(5).proba_distribution(th_logits * 0.5)
    _close(kl_divergence(ours, other), sb3.kl_divergence(theirs, other_th))


def test_parity_multicategorical():
    th, sb3 = _torch_and_sb3()
    dims = [2, 3, 4]
    logits, th_logits = _pair(rng.normal(size=(BATCH, sum(dims))).astype(np.float32))
    actions = np.stack([rng.integers(0, n, size=BATCH) for n in dims], axis=1)
    ours = MultiCategoricalDistribution(dims).proba_distribution(logits)
    theirs = sb3.MultiCategoricalDistribution(dims).proba_distribution(th_logits)
    _close(ours.log_prob(mx.array(actions)), theirs.log_prob(th.as_tensor(actions)))
    _close(ours.entropy(), theirs.entropy())
    assert np.array(ours.mode()).shape == (BATCH, 3)


def test_parity_bernoulli():
    _, sb3 = _torch_and_sb3()
    logits, th_logits = _pair(rng.normal(size=(BATCH, 4)).astype(np.float32) * 4)
    actions, th_actions = _pair(rng.integers(0, 2, size=(BATCH, 4)).astype(np.float32))
    ours = BernoulliDistribution(4).proba_distribution(logits)
    theirs = sb3.BernoulliDistribution(4).proba_distribution(th_logits)
    _close(ours.log_prob(actions), theirs.log_prob(th_actions))
    _close(ours.entropy(), theirs.entropy())
