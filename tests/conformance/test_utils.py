"""common.utils: schedules, small helpers and run ids give SB3's values and types."""

import importlib
import os

import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common import utils

sb3_utils = pytest.importorskip("stable_baselines3.common.utils") if importlib.util.find_spec("torch") else None


def _both():
    return [utils] + ([sb3_utils] if sb3_utils is not None else [])


@pytest.mark.parametrize("module", _both(), ids=lambda m: m.__name__.split(".")[0])
def test_schedules_return_python_floats(module):
    progress = [1.0, 0.75, 0.5, 0.1, 0.0]
    linear = module.get_linear_fn(1.0, 0.1, 0.5)
    assert [linear(p) for p in progress] == pytest.approx([1.0, 0.55, 0.1, 0.1, 0.1])
    assert all(type(linear(p)) is float for p in progress)
    for schedule in (module.get_schedule_fn(3e-4), module.FloatSchedule(np.float64(0.2)), module.ConstantSchedule(0.5)):
        assert all(type(schedule(p)) is float for p in progress)
    lin = module.LinearSchedule(1.0, 0.0, 0.5)
    assert [lin(p) for p in progress] == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.0])
    assert module.FloatSchedule(lambda p: np.float32(p))(0.5) == 0.5
    assert type(module.FloatSchedule(lambda p: np.float32(p))(0.5)) is float


def test_same_values_as_sb3():
    if sb3_utils is None:
        pytest.skip("SB3 not installed")
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.normal(size=50), rng.normal(size=50)
    assert utils.explained_variance(y_pred, y_true) == pytest.approx(sb3_utils.explained_variance(y_pred, y_true))
    assert np.isnan(utils.explained_variance(np.ones(3), np.ones(3))) and np.isnan(
        sb3_utils.explained_variance(np.ones(3), np.ones(3))
    )
    assert np.isnan(utils.safe_mean([])) and np.isnan(sb3_utils.safe_mean([]))
    assert utils.safe_mean([1, 2, 4]) == sb3_utils.safe_mean([1, 2, 4])
    for name in ("TrainFreq", "TrainFrequencyUnit"):
        assert hasattr(utils, name) == hasattr(sb3_utils, name)
    # SB3 2.9.2's zip_strict is zip(strict=True): Python's own error text.
    for module in (utils, sb3_utils):
        with pytest.raises(ValueError, match=r"^zip\(\) argument 2 is shorter than argument 1$"):
            list(module.zip_strict([1, 2], [1]))


def test_latest_run_id_as_sb3(tmp_path):
    for name in ("PPO_1", "PPO_3", "PPO_x", "SAC_7", "PPO_2.zip"):
        os.makedirs(tmp_path / name, exist_ok=True)
    assert utils.get_latest_run_id(str(tmp_path), "PPO") == 3
    if sb3_utils is not None:
        assert sb3_utils.get_latest_run_id(str(tmp_path), "PPO") == 3
        assert sb3_utils.get_latest_run_id(str(tmp_path), "SAC") == utils.get_latest_run_id(str(tmp_path), "SAC") == 7


def test_check_for_correct_spaces_messages_as_sb3():
    if sb3_utils is None:
        pytest.skip("SB3 not installed")
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    for module in (utils, sb3_utils):
        with pytest.raises(ValueError, match="Observation spaces do not match"):
            module.check_for_correct_spaces(env, spaces.Box(-1, 1, (2,)), env.action_space)
        with pytest.raises(ValueError, match="Action spaces do not match"):
            module.check_for_correct_spaces(env, env.observation_space, spaces.Discrete(5))
