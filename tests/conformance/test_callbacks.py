"""common.callbacks: the same files, names, keys and stopping points as SB3's callbacks."""

import importlib
import os

import numpy as np
import pytest

import mlx_baselines3 as mb3
from mlx_baselines3.common import callbacks

sb3 = pytest.importorskip("stable_baselines3") if importlib.util.find_spec("torch") else None


def _libs():
    return [mb3] + ([sb3] if sb3 is not None else [])


@pytest.mark.parametrize("lib", _libs(), ids=lambda m: m.__name__)
def test_checkpoint_and_eval_files(lib, tmp_path):
    cb = importlib.import_module(f"{lib.__name__}.common.callbacks")
    env_util = importlib.import_module(f"{lib.__name__}.common.env_util")
    vec_normalize = importlib.import_module(f"{lib.__name__}.common.vec_env").VecNormalize
    env = vec_normalize(env_util.make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    eval_env = vec_normalize(env_util.make_vec_env("Pendulum-v1", n_envs=1, seed=1), training=False)
    checkpoint = cb.CheckpointCallback(
        save_freq=50, save_path=str(tmp_path / "ckpt"), name_prefix="m", save_replay_buffer=True, save_vecnormalize=True
    )
    evaluation = cb.EvalCallback(eval_env, eval_freq=50, n_eval_episodes=1, log_path=str(tmp_path / "eval"))
    stop = cb.StopTrainingOnMaxEpisodes(max_episodes=1)
    # No gradient step (learning_starts past the run): the test is about the callbacks, not SAC.
    model = lib.SAC("MlpPolicy", env, learning_starts=1000, seed=0)
    model.learn(400, callback=[checkpoint, evaluation, stop])
    # One 200-step Pendulum episode, then the stop: the same timestep in both libraries.
    assert model.num_timesteps == 200
    assert sorted(os.listdir(tmp_path / "ckpt")) == sorted(
        [f"m_{n}_steps.zip" for n in (50, 100, 150, 200)]
        + [f"m_replay_buffer_{n}_steps.pkl" for n in (50, 100, 150, 200)]
        + [f"m_vecnormalize_{n}_steps.pkl" for n in (50, 100, 150, 200)]
    )
    with np.load(tmp_path / "eval" / "evaluations.npz") as data:
        assert sorted(data.files) == ["ep_lengths", "results", "timesteps"]
        np.testing.assert_array_equal(data["timesteps"], [50, 100, 150, 200])
        assert data["results"].shape == data["ep_lengths"].shape == (4, 1)
        assert (data["ep_lengths"] == 200).all()
    assert os.path.isfile(tmp_path / "eval" / "evaluations.npz")
    assert evaluation.last_mean_reward == evaluation.evaluations_results[-1][0]
    assert checkpoint._checkpoint_path("replay_buffer_", extension="pkl").endswith("m_replay_buffer_200_steps.pkl")


def test_class_names_as_sb3():
    if sb3 is None:
        pytest.skip("SB3 not installed")
    from stable_baselines3.common import callbacks as sb3_callbacks

    theirs = {name for name, value in vars(sb3_callbacks).items() if isinstance(value, type) and name.endswith("Callback")}
    ours = {name for name, value in vars(callbacks).items() if isinstance(value, type) and name.endswith("Callback")}
    assert theirs <= ours
    assert callbacks.tqdm is sb3_callbacks.tqdm  # the same class: tqdm's rich front end
