"""Conformance with SB3 2.9.2's ``common.distributions``: which distribution each space gets, the refusals, and
log-probabilities, entropies, KL divergences, sample and mode dtypes next to torch's on the same parameters."""

import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common import distributions
from mlx_baselines3.common.exceptions import UsageError

from ._outcome import assert_same_failure, outcome

rng = np.random.default_rng(0)
BATCH = 64

SPACES = [
    (spaces.Box(-1, 1, (3,)), False, "DiagGaussianDistribution"),
    (spaces.Box(-1, 1, (3,)), True, "StateDependentNoiseDistribution"),
    (spaces.Discrete(4), False, "CategoricalDistribution"),
    (spaces.MultiDiscrete([2, 3]), False, "MultiCategoricalDistribution"),
    (spaces.MultiBinary(4), False, "BernoulliDistribution"),
]


@pytest.fixture(scope="module")
def sb3():
    pytest.importorskip("stable_baselines3")
    import torch as th
    from stable_baselines3.common import distributions as sb3_distributions

    return th, sb3_distributions


@pytest.mark.parametrize(("space", "use_sde", "name"), SPACES)
def test_make_proba_distribution(space, use_sde, name):
    assert type(distributions.make_proba_distribution(space, use_sde=use_sde)).__name__ == name


@pytest.mark.parametrize("space", [spaces.MultiBinary([2, 2]), spaces.Tuple([spaces.Discrete(2)])])
def test_make_proba_distribution_refusals_same_as_sb3(sb3, space):
    _, sb3_distributions = sb3
    ours = outcome(distributions.make_proba_distribution, space)
    theirs = outcome(sb3_distributions.make_proba_distribution, space)
    assert_same_failure(ours, theirs)


def _pair(th, array):
    return mx.array(array), th.as_tensor(array)


def _close(ours, theirs, atol=1e-5):
    np.testing.assert_allclose(np.array(ours), theirs.detach().numpy(), rtol=1e-5, atol=atol)


def _both(sb3, name, args, params):
    th, sb3_distributions = sb3
    ours = getattr(distributions, name)(*args).proba_distribution(*[mx.array(p) for p in params])
    theirs = getattr(sb3_distributions, name)(*args).proba_distribution(*[th.as_tensor(p) for p in params])
    return ours, theirs


CASES = [
    ("DiagGaussianDistribution", (3,), lambda: (rng.normal(size=(BATCH, 3)), rng.normal(size=3) * 0.5)),
    ("SquashedDiagGaussianDistribution", (3,), lambda: (rng.normal(size=(BATCH, 3)), rng.normal(size=3) * 0.5)),
    ("CategoricalDistribution", (5,), lambda: (rng.normal(size=(BATCH, 5)) * 3,)),
    ("MultiCategoricalDistribution", ([2, 3, 4],), lambda: (rng.normal(size=(BATCH, 9)) * 3,)),
    ("BernoulliDistribution", (4,), lambda: (rng.normal(size=(BATCH, 4)) * 4,)),
    # Saturated logits: log-probabilities stay finite and match torch's.
    ("BernoulliDistribution", (4,), lambda: (np.array([[-60.0, -20.0, 20.0, 60.0]] * 4),)),
]


@pytest.mark.parametrize(("name", "args", "make_params"), CASES)
def test_log_prob_entropy_kl_same_as_torch(sb3, name, args, make_params):
    th, sb3_distributions = sb3
    params = [p.astype(np.float32) for p in make_params()]
    ours, theirs = _both(sb3, name, args, params)
    with th.no_grad():
        actions = theirs.sample()
    if name == "SquashedDiagGaussianDistribution":
        actions = actions.clamp(-0.999, 0.999)
    _close(ours.log_prob(mx.array(actions.numpy())), theirs.log_prob(actions), atol=1e-4)
    if name == "SquashedDiagGaussianDistribution":
        assert ours.entropy() is None and theirs.entropy() is None
    else:
        _close(ours.entropy(), theirs.entropy())
    shifted = [p * 0.5 for p in params]
    ours_q, theirs_q = _both(sb3, name, args, shifted)
    _close(distributions.kl_divergence(ours, ours_q), sb3_distributions.kl_divergence(theirs, theirs_q))


@pytest.mark.parametrize(("name", "args", "make_params"), CASES[:5])
def test_sample_and_mode_dtypes_and_shapes_same_as_torch(sb3, name, args, make_params):
    params = [p.astype(np.float32) for p in make_params()]
    ours, theirs = _both(sb3, name, args, params)
    for method in ("sample", "mode"):
        ours_value, theirs_value = getattr(ours, method)(), getattr(theirs, method)()
        assert tuple(ours_value.shape) == tuple(theirs_value.shape)
        assert str(ours_value.dtype).split(".")[-1] == str(theirs_value.dtype).split(".")[-1]
    actions, log_prob = getattr(distributions, name)(*args).log_prob_from_params(*[mx.array(p) for p in params])
    assert log_prob.shape == (BATCH,) and actions.shape == tuple(theirs.sample().shape)


def test_bernoulli_facts():
    logits = mx.array(np.array([[0.0, 2.0, -2.0, 0.5]] * 20000, np.float32))
    dist = distributions.BernoulliDistribution(4).proba_distribution(logits)
    frequencies = np.array(dist.sample()).mean(axis=0)
    np.testing.assert_allclose(frequencies, 1 / (1 + np.exp(-np.array([0.0, 2.0, -2.0, 0.5]))), atol=0.015)
    # The mode rounds the probability half to even, as th.round: p = 0.5 gives 0.
    np.testing.assert_array_equal(np.array(dist.mode())[0], [0.0, 1.0, 0.0, 1.0])
    # Per-row sums over the action dimensions.
    one = distributions.BernoulliDistribution(4).proba_distribution(logits[:3])
    np.testing.assert_allclose(
        np.array(one.log_prob(mx.ones((3, 4)))), np.sum(-np.log1p(np.exp(-np.array(logits[:3]))), axis=1), rtol=1e-5
    )
    np.testing.assert_allclose(np.array(one.entropy()).shape, (3,))


def test_kl_refusals():
    categorical = distributions.CategoricalDistribution(4).proba_distribution(mx.zeros((2, 4)))
    gaussian = distributions.DiagGaussianDistribution(4).proba_distribution(mx.zeros((2, 4)), mx.zeros(4))
    with pytest.raises(AssertionError, match="Error: input distributions should be the same type"):
        distributions.kl_divergence(categorical, gaussian)
    p = distributions.MultiCategoricalDistribution([2, 2]).proba_distribution(mx.zeros((2, 4)))
    q = distributions.MultiCategoricalDistribution([3, 1]).proba_distribution(mx.zeros((2, 4)))
    with pytest.raises(UsageError, match="Error: distributions must have the same input space"):
        distributions.kl_divergence(p, q)
