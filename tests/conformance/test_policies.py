"""Conformance with SB3 2.9.2's ``common.policies`` (and SAC's actor): forward/evaluate/predict shapes and dtypes,
the refusals, image policies with normalized images, and action scaling."""

import importlib

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3.common.exceptions import UsageError

from ._outcome import assert_same_failure, outcome


def _lib(name):
    if name == "sb3":
        pytest.importorskip("stable_baselines3")
        import torch as th

        return importlib.import_module("stable_baselines3"), th.as_tensor
    import mlx.core as mx

    return importlib.import_module("mlx_baselines3"), lambda array: mx.array(np.asarray(array))


def _dtype(array):
    return str(array.dtype).split(".")[-1]


@pytest.fixture(scope="module")
def cartpole():
    return {name: _lib(name)[0].PPO("MlpPolicy", "CartPole-v1", seed=0, n_steps=16, batch_size=16) for name in ("mlx", "sb3")}


def _signature(policy, as_array):
    obs = as_array(np.zeros((3, 4), np.float32))
    actions = as_array(np.array([0, 1, 0]))
    return dict(
        forward=[(tuple(x.shape), _dtype(x)) for x in policy(obs)],
        evaluate_actions=[(tuple(x.shape), _dtype(x)) for x in policy.evaluate_actions(obs, actions)],
        predict_values=tuple(policy.predict_values(obs).shape),
        distribution=type(policy.get_distribution(obs)).__name__,
        obs_to_tensor=(tuple(policy.obs_to_tensor(np.zeros(4))[0].shape), policy.obs_to_tensor(np.zeros(4))[1]),
        predict_single=np.shape(policy.predict(np.zeros(4, np.float32), deterministic=True)[0]),
        predict_batch=np.shape(policy.predict(np.zeros((3, 4), np.float32), deterministic=True)[0]),
        constructor=sorted(policy._get_constructor_parameters()),
    )


def test_policy_calls_same_as_sb3(cartpole):
    ours = _signature(cartpole["mlx"].policy, _lib("mlx")[1])
    theirs = _signature(cartpole["sb3"].policy, _lib("sb3")[1])
    assert ours == theirs
    assert ours["forward"] == [((3,), "int64"), ((3, 1), "float32"), ((3,), "float32")]


@pytest.mark.parametrize(
    "call",
    [
        lambda policy: policy.predict({"a": np.zeros((1, 4))}),
        lambda policy: policy.predict(np.zeros((3, 5))),
        lambda policy: policy.predict((np.zeros(4), {})),
        lambda policy: policy.reset_noise(),
    ],
)
def test_policy_refusals_same_as_sb3(cartpole, call):
    ours, theirs = outcome(call, cartpole["mlx"].policy), outcome(call, cartpole["sb3"].policy)
    assert_same_failure(ours, theirs, fragment_length=30)


def test_policy_refusal_classes():
    lib, _ = _lib("mlx")
    model = lib.PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16)
    with pytest.raises(UsageError, match="reset_noise\\(\\) is only available when using gSDE"):
        model.policy.reset_noise()
    with pytest.raises(UsageError, match="The observation provided is a dict but the obs space is"):
        model.policy.predict({"a": np.zeros(4)})
    with pytest.raises(UsageError, match="squash_output=True is only available when using gSDE"):
        lib.PPO("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(squash_output=True))
    sac = lib.SAC("MlpPolicy", "Pendulum-v1")
    for call in (sac.actor.reset_noise, sac.actor.get_std):
        with pytest.raises(AssertionError, match="only available when using gSDE"):
            call()


def test_action_scaling_same_as_sb3():
    scaled = {}
    for name in ("mlx", "sb3"):
        lib, _ = _lib(name)
        policy = lib.PPO("MlpPolicy", "Pendulum-v1", n_steps=16, batch_size=16).policy
        scaled[name] = (policy.scale_action(np.array([-2.0, 0.0, 2.0])), policy.unscale_action(np.array([-1.0, 0.0, 1.0])))
    for ours, theirs in zip(scaled["mlx"], scaled["sb3"], strict=True):
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs)
    np.testing.assert_allclose(scaled["mlx"][0], [-1.0, 0.0, 1.0])


class _FloatImageEnv(gym.Env):
    """Normalized float images, channel-first (1, 36, 36): SB3's CnnPolicy takes them with normalize_images=False."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(0, 1, (1, 36, 36), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


@pytest.mark.parametrize("name", ["mlx", "sb3"])
def test_cnn_policy_with_normalized_float_images(name):
    lib, _ = _lib(name)
    kwargs = dict(normalize_images=False)
    model = lib.PPO("CnnPolicy", _FloatImageEnv(), n_steps=8, batch_size=8, n_epochs=1, policy_kwargs=kwargs).learn(8)
    # SB3 updates the features extractor's keyword arguments to skip the image checks.
    assert model.policy.features_extractor_kwargs == {"normalized_image": True}
    assert type(model.get_env()).__name__ == "DummyVecEnv"  # float images are not transposed
    assert np.shape(model.predict(np.zeros((1, 36, 36), np.float32))[0]) == ()
    with pytest.raises(AssertionError, match="You should use NatureCNN only with images"):
        lib.PPO("CnnPolicy", _FloatImageEnv())
