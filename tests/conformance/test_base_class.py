"""Conformance with SB3 2.9.2's ``common.base_class``: ``set_env``/``_last_obs``/``force_reset``, loading with another
number of envs, and the attributes user code reads."""

import collections
import importlib

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3.common.exceptions import UsageError

from ._outcome import assert_same_failure, outcome

# Tiny budgets: what is compared is bookkeeping, not learning.
SETTINGS = {
    "PPO": ("CartPole-v1", "MountainCar-v0", dict(n_steps=16, batch_size=16, n_epochs=1)),
    "SAC": ("Pendulum-v1", "MountainCarContinuous-v0", dict(learning_starts=5, buffer_size=100, batch_size=8)),
}


def _library(name):
    if name == "sb3":
        pytest.importorskip("stable_baselines3")
        return importlib.import_module("stable_baselines3"), importlib.import_module("stable_baselines3.common.env_util")
    return importlib.import_module("mlx_baselines3"), importlib.import_module("mlx_baselines3.common.env_util")


def _model(lib_name, algo, n_envs=1):
    lib, env_util = _library(lib_name)
    env_id, _, kwargs = SETTINGS[algo]
    return getattr(lib, algo)("MlpPolicy", env_util.make_vec_env(env_id, n_envs=n_envs, seed=0), seed=0, **kwargs)


@pytest.mark.parametrize("algo", list(SETTINGS))
def test_set_env_keeps_or_discards_the_last_observation(algo):
    model = _model("mlx", algo).learn(32)
    _, env_util = _library("mlx")
    env_id = SETTINGS[algo][0]
    last_obs = model._last_obs.copy()
    other = env_util.make_vec_env(env_id, n_envs=1, seed=1)
    model.set_env(other, force_reset=False)
    np.testing.assert_array_equal(model._last_obs, last_obs)
    assert model.get_env() is other and model.n_envs == 1
    model.set_env(other)
    assert model._last_obs is None
    # A plain gym.Env is wrapped (Monitor, then DummyVecEnv), as in SB3.
    model.set_env(gym.make(env_id))
    assert type(model.env).__name__ == "DummyVecEnv" and type(model.env.envs[0]).__name__ == "Monitor"
    model.learn(16, reset_num_timesteps=False)
    assert model.num_timesteps == 48 and model._last_obs.shape[0] == 1


@pytest.mark.parametrize("lib_name", ["mlx", "sb3"])
@pytest.mark.parametrize("algo", list(SETTINGS))
def test_set_env_refuses_another_number_of_envs(lib_name, algo):
    model = _model(lib_name, algo)
    _, env_util = _library(lib_name)
    two_envs = env_util.make_vec_env(SETTINGS[algo][0], n_envs=2, seed=0)
    with pytest.raises(AssertionError, match="The number of environments to be set is different"):
        model.set_env(two_envs)
    assert model.n_envs == 1
    # Other spaces: SB3's ValueError.
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        model.set_env(gym.make(SETTINGS[algo][1]))


def test_set_env_error_class():
    model = _model("mlx", "PPO")
    _, env_util = _library("mlx")
    with pytest.raises(UsageError, match=r"\(2 != 1\).*use `PPO.load\(path, env\)` instead"):
        model.set_env(env_util.make_vec_env("CartPole-v1", n_envs=2))


@pytest.mark.parametrize("lib_name", ["mlx", "sb3"])
@pytest.mark.parametrize("algo", list(SETTINGS))
def test_load_with_another_number_of_envs(tmp_path, lib_name, algo):
    lib, env_util = _library(lib_name)
    _model(lib_name, algo).learn(16).save(tmp_path / "model")
    two_envs = env_util.make_vec_env(SETTINGS[algo][0], n_envs=2, seed=0)
    loaded = getattr(lib, algo).load(tmp_path / "model", env=two_envs)
    assert loaded.n_envs == 2 and loaded._last_obs is None
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded.num_timesteps == 48 and loaded._last_obs.shape[0] == 2
    # force_reset=False keeps the saved last observation.
    kept = getattr(lib, algo).load(tmp_path / "model", env=env_util.make_vec_env(SETTINGS[algo][0], n_envs=1))
    assert kept._last_obs is None
    kept = getattr(lib, algo).load(tmp_path / "model", env=env_util.make_vec_env(SETTINGS[algo][0]), force_reset=False)
    assert kept._last_obs is not None and kept._last_obs.shape[0] == 1


@pytest.mark.parametrize("algo", list(SETTINGS))
def test_learn_without_env_same_as_sb3(tmp_path, algo):
    pytest.importorskip("stable_baselines3")
    results = {}
    for lib_name in ("mlx", "sb3"):
        lib, _ = _library(lib_name)
        _model(lib_name, algo).save(tmp_path / lib_name)
        results[lib_name] = outcome(getattr(lib, algo).load(tmp_path / lib_name).learn, 16)
    # SB3 asserts (PPO's assert has no message, SAC's says which call needs the env).
    assert isinstance(results["sb3"].error, AssertionError)
    assert_same_failure(results["mlx"], results["sb3"])


@pytest.mark.parametrize("lib_name", ["mlx", "sb3"])
@pytest.mark.parametrize("algo", list(SETTINGS))
def test_attributes_users_read(lib_name, algo):
    model = _model(lib_name, algo).learn(32)
    assert isinstance(model.ep_info_buffer, collections.deque) and model.ep_info_buffer.maxlen == 100
    assert isinstance(model.ep_success_buffer, collections.deque) and model.ep_success_buffer.maxlen == 100
    assert isinstance(model.logger.name_to_value, dict)
    assert type(model.lr_schedule(0.5)) is float and model.lr_schedule(0.5) == 3e-4
    assert type(model.learning_rate) is float
    assert type(model._current_progress_remaining) is float and model._current_progress_remaining == 0.0
    assert model.num_timesteps == 32 and model._total_timesteps == 32 and model._num_timesteps_at_start == 0
    assert type(model._n_updates) is int and model._n_updates > 0
    assert model.get_vec_normalize_env() is None and model.n_envs == 1
    assert model.policy_class.__name__ == {"PPO": "ActorCriticPolicy", "SAC": "SACPolicy"}[algo]
    if algo == "PPO":
        assert type(model.policy.optimizer).__name__ in ("Adam",)
    else:
        assert type(model.actor.optimizer).__name__ == "Adam" and type(model.critic.optimizer).__name__ == "Adam"
