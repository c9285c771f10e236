"""
Models that hold functions (issue 13, item 7): zips saved by SB3 with ``learning_rate=lambda ...`` or a
``linear_schedule(...)`` closure, or the RL Zoo's ``SimpleLinearSchedule``, load by default without running them: one
warning, a constant schedule from the value in use, and training continues. ``custom_objects`` still overrides.
"""

import base64
import json
import pickle
import sys
import types
import warnings
import zipfile
from unittest import mock

import gymnasium as gym
import numpy as np
import pytest

from mlx_baselines3 import DQN, PPO
from mlx_baselines3.common.exceptions import LoadError

sb3 = pytest.importorskip("stable_baselines3")


def linear_schedule(initial_value: float):
    """SB3's documented pattern: a closure, pickled by value by cloudpickle."""

    def func(progress_remaining: float) -> float:
        return progress_remaining * initial_value

    return func


def _load_with_warnings(cls, path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = cls.load(path, **kwargs)
    skipped = [str(w.message) for w in caught if "skipped the saved entries" in str(w.message)]
    return model, skipped


@pytest.fixture(scope="module")
def sb3_lambda_zip(tmp_path_factory):
    path = tmp_path_factory.mktemp("legacy") / "sb3_lambda.zip"
    model = sb3.PPO(
        "MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=1, learning_rate=lambda p: 3e-3 * p + 1e-4, seed=0
    )
    model.learn(64)
    model.save(path)
    return path, model.policy.optimizer.param_groups[0]["lr"]


@pytest.fixture(scope="module")
def sb3_closure_zip(tmp_path_factory):
    path = tmp_path_factory.mktemp("legacy") / "sb3_closure.zip"
    model = sb3.PPO(
        "MlpPolicy",
        "CartPole-v1",
        n_steps=32,
        batch_size=16,
        n_epochs=1,
        learning_rate=linear_schedule(1e-3),
        clip_range=linear_schedule(0.3),
        seed=0,
    )
    model.learn(64)
    model.save(path)
    return path, model.policy.optimizer.param_groups[0]["lr"]


def test_sb3_lambda_learning_rate_loads_with_one_warning_and_trains(sb3_lambda_zip):
    path, lr_in_use = sb3_lambda_zip
    model, skipped = _load_with_warnings(PPO, path)
    assert len(skipped) == 1 and "['learning_rate']" in skipped[0]
    assert "custom_objects" in skipped[0] and "trusted=True" in skipped[0]
    # The value in use: the learning rate of the last update, from the saved optimizer state.
    assert lr_in_use == pytest.approx(1e-4)
    assert model.learning_rate == pytest.approx(lr_in_use) and model.lr_schedule(0.5) == pytest.approx(lr_in_use)
    sb3_model = sb3.PPO.load(path)
    obs = np.array([0.01, -0.02, 0.03, 0.04], dtype=np.float32)
    assert model.predict(obs, deterministic=True)[0] == sb3_model.predict(obs, deterministic=True)[0]
    model.set_env(gym.make("CartPole-v1"))
    model.learn(64, reset_num_timesteps=False)
    assert model.num_timesteps == 64 + 64


def test_sb3_closure_schedules_load_with_one_warning_and_train(sb3_closure_zip):
    path, lr_in_use = sb3_closure_zip
    model, skipped = _load_with_warnings(PPO, path)
    assert len(skipped) == 1 and "['clip_range', 'learning_rate']" in skipped[0]
    assert model.learning_rate == pytest.approx(lr_in_use)
    # clip_range has no saved value in use: PPO's default.
    assert model.clip_range(1.0) == pytest.approx(0.2)
    model.set_env(gym.make("CartPole-v1"))
    model.learn(32)


def test_custom_objects_override_the_skipped_functions(sb3_closure_zip):
    path, _ = sb3_closure_zip
    model, skipped = _load_with_warnings(PPO, path, custom_objects={"learning_rate": 5e-4, "clip_range": 0.1})
    assert skipped == []
    assert model.learning_rate == 5e-4 and model.clip_range(0.5) == pytest.approx(0.1)


def test_trusted_runs_the_saved_functions(sb3_closure_zip):
    path, _ = sb3_closure_zip
    model, skipped = _load_with_warnings(PPO, path, trusted=True)
    assert skipped == [] and model.learning_rate(0.5) == pytest.approx(5e-4)


class SimpleLinearSchedule:
    """The RL Zoo's schedule class (rl_zoo3.utils), for writing a file as the zoo does."""

    def __init__(self, initial_value: float):
        self.initial_value = initial_value

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial_value


def _rl_zoo_schedule_pickle(initial_value: float) -> bytes:
    # Pickled by reference to rl_zoo3.utils, as the zoo writes it (rl_zoo3 need not be installed here).
    module = types.ModuleType("rl_zoo3.utils")
    module.SimpleLinearSchedule = SimpleLinearSchedule
    original = SimpleLinearSchedule.__module__
    SimpleLinearSchedule.__module__ = "rl_zoo3.utils"
    try:
        with mock.patch.dict(sys.modules, {"rl_zoo3": types.ModuleType("rl_zoo3"), "rl_zoo3.utils": module}):
            return pickle.dumps(SimpleLinearSchedule(initial_value), protocol=5)
    finally:
        SimpleLinearSchedule.__module__ = original


def test_rl_zoo_simple_linear_schedule_is_skipped(tmp_path):
    model = DQN("MlpPolicy", "CartPole-v1", learning_rate=1e-3, buffer_size=100, learning_starts=0)
    model.save(tmp_path / "dqn.zip")
    with zipfile.ZipFile(tmp_path / "dqn.zip") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(members["data"])
    data["learning_rate"] = {
        ":type:": "<class 'rl_zoo3.utils.SimpleLinearSchedule'>",
        ":serialized:": base64.b64encode(_rl_zoo_schedule_pickle(3e-4)).decode(),
    }
    with zipfile.ZipFile(tmp_path / "zoo.zip", "w") as archive:
        for name, content in {**members, "data": json.dumps(data).encode()}.items():
            archive.writestr(name, content)
    loaded, skipped = _load_with_warnings(DQN, tmp_path / "zoo.zip")
    assert len(skipped) == 1 and "['learning_rate']" in skipped[0]
    assert loaded.learning_rate == pytest.approx(1e-3)  # the saved optimizer's learning rate
    # The zoo passes its hyperparameters again when continuing training (`-i`): keyword arguments win, no warning.
    again, skipped = _load_with_warnings(DQN, tmp_path / "zoo.zip", learning_rate=2e-4)
    assert again.learning_rate == 2e-4 and skipped == []


def test_a_needed_entry_that_is_a_function_is_refused(sb3_lambda_zip, tmp_path):
    path, _ = sb3_lambda_zip
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(members["data"])
    data["observation_space"] = data["learning_rate"]
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as archive:
        for name, content in {**members, "data": json.dumps(data).encode()}.items():
            archive.writestr(name, content)
    with pytest.raises(LoadError, match=r"(?s)\['observation_space'\].*cloudpickle.*custom_objects.*trusted=True"):
        PPO.load(tmp_path / "bad.zip")
