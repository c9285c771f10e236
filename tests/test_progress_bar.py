"""ProgressBarCallback: counts this learn() call's timesteps, prints through rich, and names the extra when missing."""

import re
import sys

import pytest

from mlx_baselines3.common.callbacks import ProgressBarCallback
from mlx_baselines3.common.envs import IdentityEnv
from mlx_baselines3.common.logger import Logger, make_output_format
from mlx_baselines3.common.vec_env import DummyVecEnv

pytest.importorskip("tqdm")
pytest.importorskip("rich")


class StepCounter:
    """What ProgressBarCallback needs from a model: a timestep count and the training env."""

    def __init__(self, n_envs: int, num_timesteps: int = 0):
        self.env = DummyVecEnv([lambda: IdentityEnv(dim=2)] * n_envs)
        self.num_timesteps = num_timesteps

    def get_env(self):
        return self.env


def drive(callback: ProgressBarCallback, model: StepCounter, total_timesteps: int) -> None:
    """Call the hooks the way an algorithm's learn() does until total_timesteps is reached."""
    callback.init_callback(model)
    callback.on_training_start({"total_timesteps": total_timesteps}, {})
    while model.num_timesteps < total_timesteps:
        model.num_timesteps += model.env.num_envs
        callback.on_step()
    callback.on_training_end()


@pytest.mark.parametrize(("n_envs", "already_done"), [(1, 0), (4, 0), (2, 100)])
def test_bar_counts_this_learn_call(n_envs, already_done, capsys):
    callback = ProgressBarCallback()
    model = StepCounter(n_envs, num_timesteps=already_done)
    drive(callback, model, total_timesteps=already_done + 64)
    # Timesteps from an earlier learn() call are not part of this bar.
    assert callback.pbar.total == 64
    assert callback.pbar.n == 64
    assert callback.n_calls == 64 // n_envs
    assert re.search(r"\b64/64\b", capsys.readouterr().out)


def test_logger_table_printed_while_bar_runs(capsys):
    callback = ProgressBarCallback()
    model = StepCounter(n_envs=1)
    logger = Logger(folder=None, output_formats=[make_output_format("stdout", ".")])
    callback.init_callback(model)
    callback.on_training_start({"total_timesteps": 4}, {})
    for _ in range(4):
        model.num_timesteps += 1
        callback.on_step()
        logger.record("time/total_timesteps", model.num_timesteps)
        logger.dump(model.num_timesteps)
    callback.on_training_end()
    out = capsys.readouterr().out
    # Each table reaches stdout whole: four tables with their header, value and dashes lines.
    assert out.count("| time/              |   |") == 4
    assert [int(value) for value in re.findall(r"\|    total_timesteps \| (\d+)", out)] == [1, 2, 3, 4]
    assert re.search(r"\b4/4\b", out)


@pytest.mark.parametrize("missing", ["tqdm", "tqdm.rich", "rich"])
def test_missing_packages_name_the_extra(monkeypatch, missing):
    # A None entry in sys.modules makes the import fail, as if the package were not installed.
    # tqdm.rich is dropped too, so that it is imported afresh and meets the missing package.
    for name in [module for module in sys.modules if module in (missing, "tqdm.rich") or module.startswith(f"{missing}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ImportError, match=re.escape('pip install "mlx-baselines3[extra]"')):
        ProgressBarCallback()


@pytest.mark.parametrize("n_envs", [1, 2])
def test_learn_with_progress_bar_reaches_total(n_envs, capsys):
    from mlx_baselines3 import PPO
    from mlx_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, verbose=1)
    model.learn(128, progress_bar=True)
    model.learn(64, progress_bar=True, reset_num_timesteps=False)
    assert model.num_timesteps == 192
    out = capsys.readouterr().out
    # The first bar ends at 128/128; the second counts only its own 64 timesteps.
    assert re.search(r"\b128/128\b", out)
    assert re.search(r"\b64/64\b", out)
    # The logger's tables are printed in full next to the bars.
    assert len(re.findall(r"\|    total_timesteps +\| 192 ", out)) == 1
