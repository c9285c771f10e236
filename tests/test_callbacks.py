"""Callbacks: hook order and counters, stopping rules, checkpoint and evaluation files, with a stand-in model and with
every algorithm in ALGOS."""

import io
import os
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium import spaces

from mlx_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from mlx_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    ConvertCallback,
    EvalCallback,
    EventCallback,
    EveryNTimesteps,
    LogEveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.logger import HumanOutputFormat, Logger, configure
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import DummyVecEnv, VecNormalize

# Every algorithm the callbacks are checked with; add new algorithms here.
ALGOS = [A2C, PPO, DQN, SAC, TD3, DDPG]
# Small settings (by class name) so that a few hundred timesteps include several updates.
TINY_KWARGS: dict[str, dict[str, Any]] = {
    "A2C": {"n_steps": 8},
    "PPO": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
    "DQN": {"learning_starts": 50, "buffer_size": 1_000, "policy_kwargs": {"net_arch": [32]}},
    "SAC": {"learning_starts": 50, "buffer_size": 1_000, "policy_kwargs": {"net_arch": [32]}},
    "TD3": {"learning_starts": 50, "buffer_size": 1_000, "policy_kwargs": {"net_arch": [32]}},
    "DDPG": {"learning_starts": 50, "buffer_size": 1_000, "policy_kwargs": {"net_arch": [32]}},
}
CONTINUOUS_ONLY = {"SAC", "TD3", "DDPG"}


class ChoiceEnv(gym.Env):
    """Episodes of ``ep_length`` steps; reward 1 for action 1, 0 for action 0; success when every action was 1."""

    def __init__(self, ep_length: int = 4):
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.ep_length = ep_length
        self._step = 0
        self._total = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._step, self._total = 0, 0.0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self._step += 1
        reward = float(action)
        self._total += reward
        terminated = self._step >= self.ep_length
        info = {"is_success": self._total == self.ep_length} if terminated else {}
        return np.zeros(2, dtype=np.float32), reward, terminated, False, info


class StandInModel:
    """The part of BaseAlgorithm that callbacks use, so that they can be tested on their own."""

    def __init__(self, env, action: int = 1):
        self.env = env
        self.num_timesteps = 0
        self.action = action
        self.stream = io.StringIO()
        self.logger = Logger(folder=None, output_formats=[HumanOutputFormat(self.stream)])
        self.saved: list[str] = []
        self.replay_buffer = None
        self.replay_buffer_saved: list[str] = []
        self.dump_logs_calls = 0

    def get_env(self):
        return self.env

    def get_vec_normalize_env(self):
        return self.env if isinstance(self.env, VecNormalize) else None

    def save(self, path: str) -> None:
        path = path if path.endswith(".zip") else f"{path}.zip"
        with open(path, "w") as file:
            file.write(str(self.num_timesteps))
        self.saved.append(path)

    def save_replay_buffer(self, path: str) -> None:
        with open(path, "w") as file:
            file.write("buffer")
        self.replay_buffer_saved.append(path)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return np.full(len(observation), self.action), state

    def dump_logs(self) -> None:
        self.dump_logs_calls += 1


def run_like_an_algorithm(callback: BaseCallback, model: StandInModel, total_timesteps: int, n_steps: int = 4) -> int:
    """Call the hooks in the order on-policy algorithms do; step the model's env; return the timesteps done."""
    env = model.get_env()
    callback.init_callback(model)
    local_vars: dict[str, Any] = {"total_timesteps": total_timesteps, "tb_log_name": "StandIn"}
    callback.on_training_start(local_vars, {"module": "stand-in"})
    env.reset()
    continue_training = True
    while continue_training and model.num_timesteps < total_timesteps:
        callback.on_rollout_start()
        for _ in range(n_steps):
            actions = np.full(env.num_envs, model.action)
            new_obs, rewards, dones, infos = env.step(actions)
            model.num_timesteps += env.num_envs
            callback.update_locals({"new_obs": new_obs, "rewards": rewards, "dones": dones, "infos": infos})
            if not callback.on_step():
                continue_training = False
                break
        callback.on_rollout_end()
    callback.on_training_end()
    return model.num_timesteps


def make_model(n_envs: int = 1, ep_length: int = 4, action: int = 1) -> StandInModel:
    return StandInModel(DummyVecEnv([lambda: Monitor(ChoiceEnv(ep_length))] * n_envs), action=action)


class RecordingCallback(BaseCallback):
    """Remember every hook call with the counters seen at that moment."""

    def __init__(self, stop_at_call: int | None = None):
        super().__init__()
        self.events: list[tuple[str, int, int]] = []
        self.stop_at_call = stop_at_call

    def _record(self, name: str) -> None:
        self.events.append((name, self.n_calls, self.num_timesteps))

    def _init_callback(self) -> None:
        self._record("init")

    def _on_training_start(self) -> None:
        self._record("training_start")

    def _on_rollout_start(self) -> None:
        self._record("rollout_start")

    def _on_step(self) -> bool:
        self._record("step")
        return self.n_calls != self.stop_at_call

    def _on_rollout_end(self) -> None:
        self._record("rollout_end")

    def _on_training_end(self) -> None:
        self._record("training_end")


def test_hook_order_and_counters():
    model = make_model(n_envs=2)
    model.num_timesteps = 10  # a previous learn() call
    callback = RecordingCallback()
    run_like_an_algorithm(callback, model, total_timesteps=26, n_steps=4)
    assert callback.model is model
    assert callback.training_env is model.env
    assert callback.logger is model.logger
    assert callback.events == [
        ("init", 0, 0),
        ("training_start", 0, 10),
        ("rollout_start", 0, 10),
        ("step", 1, 12),
        ("step", 2, 14),
        ("step", 3, 16),
        ("step", 4, 18),
        ("rollout_end", 4, 18),
        ("rollout_start", 4, 18),
        ("step", 5, 20),
        ("step", 6, 22),
        ("step", 7, 24),
        ("step", 8, 26),
        ("rollout_end", 8, 26),
        ("training_end", 8, 26),
    ]
    # locals hold the learn() variables and the last step's variables.
    assert callback.locals["total_timesteps"] == 26
    assert callback.locals["rewards"].shape == (2,)
    assert callback.globals == {"module": "stand-in"}


def test_on_step_false_stops_and_array_booleans_are_accepted():
    import mlx.core as mx

    class ArrayResult(BaseCallback):
        def _on_step(self):
            return mx.array(self.n_calls < 3) if self.n_calls % 2 else np.bool_(self.n_calls < 3)

    model = make_model()
    assert run_like_an_algorithm(ArrayResult(), model, total_timesteps=100) == 3

    model = make_model()
    assert run_like_an_algorithm(RecordingCallback(stop_at_call=5), model, total_timesteps=100) == 5


def test_training_env_required():
    callback = RecordingCallback()
    callback.init_callback(StandInModel(env=None))
    with pytest.raises(AssertionError, match="you must initialize the model with an environment"):
        _ = callback.training_env


def test_callback_list_runs_every_callback():
    first, second = RecordingCallback(stop_at_call=3), RecordingCallback()
    callback_list = CallbackList([first, second])
    model = make_model()
    assert run_like_an_algorithm(callback_list, model, total_timesteps=100) == 3
    # The second callback still ran on the step where the first asked to stop.
    assert [event[0] for event in second.events] == [
        "init",
        "training_start",
        "rollout_start",
        "step",
        "step",
        "step",
        "rollout_end",
        "training_end",
    ]
    assert first.locals["dones"].shape == (1,)
    # The children share the list's locals dict, by reference.
    assert second.locals is first.locals is callback_list.locals
    with pytest.raises(TypeError, match="got tuple"):
        CallbackList((first, second))  # type: ignore[arg-type]


def test_callback_list_children_get_the_list_parent():
    child = RecordingCallback()
    callback_list = CallbackList([child])
    parent = EventCallback(callback_list)
    parent.init_callback(make_model())
    assert callback_list.parent is parent
    assert child.parent is parent


def test_convert_callback():
    seen = []

    def old_style(local_vars, global_vars):
        seen.append((local_vars["total_timesteps"], global_vars["module"]))
        return len(seen) < 2

    assert run_like_an_algorithm(ConvertCallback(old_style), make_model(), total_timesteps=100) == 2
    assert seen == [(100, "stand-in"), (100, "stand-in")]
    assert run_like_an_algorithm(ConvertCallback(None), make_model(), total_timesteps=8) == 8


def test_every_n_timesteps():
    child = RecordingCallback()
    every = EveryNTimesteps(n_steps=5, callback=child)
    assert child.parent is every
    run_like_an_algorithm(every, make_model(n_envs=2), total_timesteps=24)
    # num_timesteps advances by 2: the child runs at the first count at least 5 past the previous trigger.
    assert [event[2] for event in child.events if event[0] == "step"] == [6, 12, 18, 24]
    assert ("training_start", 0, 0) in child.events


def test_log_every_n_timesteps():
    model = make_model()
    run_like_an_algorithm(LogEveryNTimesteps(n_steps=3), model, total_timesteps=12)
    assert model.dump_logs_calls == 4


def test_checkpoint_files(tmp_path, capsys):
    model = make_model(n_envs=2)
    model.replay_buffer = object()
    save_path = tmp_path / "checkpoints"
    callback = CheckpointCallback(
        save_freq=3, save_path=str(save_path), name_prefix="ckpt", save_replay_buffer=True, verbose=2
    )
    run_like_an_algorithm(callback, model, total_timesteps=16)
    assert sorted(os.listdir(save_path)) == [
        "ckpt_12_steps.zip",
        "ckpt_6_steps.zip",
        "ckpt_replay_buffer_12_steps.pkl",
        "ckpt_replay_buffer_6_steps.pkl",
    ]
    assert (save_path / "ckpt_12_steps.zip").read_text() == "12"
    out = capsys.readouterr().out
    assert f"Saving model checkpoint to {save_path / 'ckpt_6_steps.zip'}" in out
    assert f"Saving model replay buffer checkpoint to {save_path / 'ckpt_replay_buffer_6_steps.pkl'}" in out


def test_checkpoint_vecnormalize(tmp_path):
    model = StandInModel(VecNormalize(DummyVecEnv([lambda: ChoiceEnv()])))
    callback = CheckpointCallback(save_freq=2, save_path=str(tmp_path), save_replay_buffer=True, save_vecnormalize=True)
    run_like_an_algorithm(callback, model, total_timesteps=4)
    # No replay buffer on this model: only the model and the statistics are saved.
    assert sorted(os.listdir(tmp_path)) == [
        "rl_model_2_steps.zip",
        "rl_model_4_steps.zip",
        "rl_model_vecnormalize_2_steps.pkl",
        "rl_model_vecnormalize_4_steps.pkl",
    ]
    loaded = VecNormalize.load(str(tmp_path / "rl_model_vecnormalize_4_steps.pkl"), DummyVecEnv([lambda: ChoiceEnv()]))
    assert loaded.obs_rms.count == pytest.approx(model.env.obs_rms.count)


def test_stop_on_max_episodes(capsys):
    model = make_model(n_envs=2, ep_length=3)
    callback = StopTrainingOnMaxEpisodes(max_episodes=2, verbose=1)
    # Each env finishes an episode every 3 steps: 4 episodes (2 per env) after 6 calls, 12 timesteps.
    assert run_like_an_algorithm(callback, model, total_timesteps=1000) == 12
    assert callback.n_episodes == 4
    assert capsys.readouterr().out == (
        "Stopping training with a total of 12 steps because the StandIn model reached max_episodes=2, "
        "by playing for 4 episodes with an average of 2.00 episodes per env\n"
    )


def test_stop_on_reward_threshold_needs_parent():
    callback = StopTrainingOnRewardThreshold(reward_threshold=1.0)
    callback.init_callback(make_model())
    with pytest.raises(AssertionError, match="must be used with an ``EvalCallback``"):
        callback.on_step()


def test_stop_on_no_improvement_counts_evaluations():
    parent = EvalCallback(ChoiceEnv(), verbose=0)
    callback = StopTrainingOnNoModelImprovement(max_no_improvement_evals=2, min_evals=1)
    callback.parent = parent
    callback.init_callback(make_model())
    results = []
    for best in (1.0, 1.0, 2.0, 2.0, 2.0, 2.0):
        parent.best_mean_reward = best
        results.append(callback.on_step())
    # First evaluation ignored (min_evals=1); improvement at the third; stop once 3 evaluations in a row did not improve.
    assert results == [True, True, True, True, True, False]
    assert callback.no_improvement_evals == 3


def test_eval_callback_files_and_logs(tmp_path, capsys):
    model = make_model(ep_length=4, action=1)
    eval_env = DummyVecEnv([lambda: Monitor(ChoiceEnv(ep_length=4))])
    new_best = RecordingCallback()
    after_eval = RecordingCallback()
    callback = EvalCallback(
        eval_env,
        callback_on_new_best=new_best,
        callback_after_eval=after_eval,
        n_eval_episodes=3,
        eval_freq=5,
        log_path=str(tmp_path / "logs"),
        best_model_save_path=str(tmp_path / "best"),
        verbose=1,
    )
    assert new_best.parent is callback and after_eval.parent is callback
    run_like_an_algorithm(callback, model, total_timesteps=15)

    evaluations = np.load(tmp_path / "logs" / "evaluations.npz")
    assert sorted(evaluations.files) == ["ep_lengths", "results", "successes", "timesteps"]
    np.testing.assert_array_equal(evaluations["timesteps"], [5, 10, 15])
    np.testing.assert_array_equal(evaluations["results"], np.full((3, 3), 4.0))
    np.testing.assert_array_equal(evaluations["ep_lengths"], np.full((3, 3), 4))
    np.testing.assert_array_equal(evaluations["successes"], np.ones((3, 3), dtype=bool))
    # The reward never improves after the first evaluation: one best model, saved at timestep 5.
    assert model.saved == [str(tmp_path / "best" / "best_model.zip")]
    assert (tmp_path / "best" / "best_model.zip").read_text() == "5"
    assert callback.best_mean_reward == 4.0 and callback.last_mean_reward == 4.0
    assert [event[0] for event in new_best.events].count("step") == 1
    assert [event[0] for event in after_eval.events].count("step") == 3

    out = capsys.readouterr().out
    assert out.count("Eval num_timesteps=") == 3
    assert "Eval num_timesteps=5, episode_reward=4.00 +/- 0.00\nEpisode length: 4.00 +/- 0.00\nSuccess rate: 100.00%\n" in out
    assert out.count("New best mean reward!") == 1
    table = model.stream.getvalue()
    assert table.count("| eval/") == 3
    assert "|    mean_reward     | 4        |" in table
    assert "|    success_rate    | 1        |" in table
    assert "|    total_timesteps | 15       |" in table


def test_eval_callback_best_model_and_stop_on_threshold(tmp_path):
    model = make_model(action=0)

    class ImproveAfterFirstEval(BaseCallback):
        def _on_step(self):
            model.action = 1  # the second evaluation scores 4 instead of 0
            return True

    stop = StopTrainingOnRewardThreshold(reward_threshold=3.5, verbose=1)
    callback = EvalCallback(
        ChoiceEnv(),
        callback_on_new_best=stop,
        callback_after_eval=ImproveAfterFirstEval(),
        n_eval_episodes=2,
        eval_freq=3,
        best_model_save_path=str(tmp_path),
        verbose=0,
        warn=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The Gymnasium env is wrapped in a DummyVecEnv, the same type as the training env: no warning.
        assert run_like_an_algorithm(callback, model, total_timesteps=100) == 6
    assert not [w for w in caught if "not of the same type" in str(w.message)]
    assert isinstance(callback.eval_env, DummyVecEnv)
    assert callback.best_mean_reward == 4.0
    assert model.saved == [str(tmp_path / "best_model.zip")] * 2
    assert (tmp_path / "best_model.zip").read_text() == "6"


def test_eval_callback_never_evaluates_with_non_positive_freq(tmp_path):
    model = make_model()
    callback = EvalCallback(ChoiceEnv(), eval_freq=0, log_path=str(tmp_path), verbose=0)
    run_like_an_algorithm(callback, model, total_timesteps=20)
    assert callback.evaluations_timesteps == []
    assert not (tmp_path / "evaluations.npz").exists()


def test_eval_callback_env_type_warning_and_normalization_sync(tmp_path):
    train_env = VecNormalize(DummyVecEnv([lambda: ChoiceEnv()]))
    model = StandInModel(train_env)
    callback = EvalCallback(DummyVecEnv([lambda: Monitor(ChoiceEnv())]), eval_freq=2, verbose=0)
    # The eval env has no VecNormalize to receive the training statistics.
    with (
        pytest.warns(UserWarning, match="Training and eval env are not of the same type"),
        pytest.raises(AssertionError, match="wrapped the same way"),
    ):
        run_like_an_algorithm(callback, model, total_timesteps=4)

    model = StandInModel(VecNormalize(DummyVecEnv([lambda: ChoiceEnv()])))
    eval_env = VecNormalize(DummyVecEnv([lambda: Monitor(ChoiceEnv())]), training=False)
    callback = EvalCallback(eval_env, eval_freq=2, verbose=0)
    run_like_an_algorithm(callback, model, total_timesteps=4)
    # Statistics copied at the evaluation made at timestep 4.
    np.testing.assert_array_equal(eval_env.obs_rms.mean, model.env.obs_rms.mean)
    assert eval_env.obs_rms.count == model.env.obs_rms.count
    assert eval_env.obs_rms is not model.env.obs_rms


def env_id_for(algo) -> str:
    return "Pendulum-v1" if algo.__name__ in CONTINUOUS_ONLY else "CartPole-v1"


def make_algo(algo, env, **kwargs):
    return algo("MlpPolicy", env, seed=0, verbose=0, **{**TINY_KWARGS.get(algo.__name__, {}), **kwargs})


@pytest.mark.parametrize("algo", ALGOS)
def test_callbacks_during_learn(algo, tmp_path):
    n_envs = 2
    env_id = env_id_for(algo)
    model = make_algo(algo, make_vec_env(env_id, n_envs=n_envs, seed=0))
    recorder = RecordingCallback()
    function_calls = []
    eval_callback = EvalCallback(
        Monitor(gym.make(env_id)),
        callback_on_new_best=StopTrainingOnRewardThreshold(reward_threshold=1e9),
        callback_after_eval=StopTrainingOnNoModelImprovement(max_no_improvement_evals=1_000),
        n_eval_episodes=2,
        eval_freq=50,
        log_path=str(tmp_path / "eval"),
        best_model_save_path=str(tmp_path / "eval"),
        verbose=0,
    )
    callbacks = [
        recorder,
        CheckpointCallback(save_freq=50, save_path=str(tmp_path / "checkpoints"), save_replay_buffer=True),
        eval_callback,
        EveryNTimesteps(n_steps=120, callback=CheckpointCallback(save_freq=1, save_path=str(tmp_path / "every"))),
        StopTrainingOnMaxEpisodes(max_episodes=10_000),
        ConvertCallback(lambda local_vars, _: function_calls.append(local_vars["self"]) is None),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same env types for training and evaluation: no warning
        model.learn(200, callback=callbacks)

    n_calls = model.num_timesteps // n_envs
    names = [event[0] for event in recorder.events]
    assert names.count("training_start") == names.count("training_end") == 1
    assert names.count("step") == recorder.n_calls == n_calls
    assert names.count("rollout_start") == names.count("rollout_end") >= 1
    assert len(function_calls) == n_calls and function_calls[0] is model

    checkpoint_steps = [n_envs * call for call in range(50, n_calls + 1, 50)]
    expected = {f"rl_model_{steps}_steps.zip" for steps in checkpoint_steps}
    if getattr(model, "replay_buffer", None) is not None:
        expected |= {f"rl_model_replay_buffer_{steps}_steps.pkl" for steps in checkpoint_steps}
    assert set(os.listdir(tmp_path / "checkpoints")) == expected
    for steps in checkpoint_steps:
        loaded = algo.load(tmp_path / "checkpoints" / f"rl_model_{steps}_steps.zip")
        assert loaded.num_timesteps == steps
    # Triggered at the first timestep count at least 120 past the previous trigger.
    every_steps = list(range(120, model.num_timesteps + 1, 120))
    assert sorted(os.listdir(tmp_path / "every")) == sorted(f"rl_model_{steps}_steps.zip" for steps in every_steps)

    evaluations = np.load(tmp_path / "eval" / "evaluations.npz")
    np.testing.assert_array_equal(evaluations["timesteps"], checkpoint_steps)
    assert evaluations["results"].shape == evaluations["ep_lengths"].shape == (len(checkpoint_steps), 2)
    if env_id == "CartPole-v1":
        # One point of reward per step: the returns are the episode lengths.
        np.testing.assert_array_equal(evaluations["results"], evaluations["ep_lengths"])
    assert eval_callback.best_mean_reward == pytest.approx(evaluations["results"].mean(axis=1).max())
    assert eval_callback.last_mean_reward == pytest.approx(evaluations["results"][-1].mean())
    best_model = algo.load(tmp_path / "eval" / "best_model.zip")
    action, _ = best_model.predict(model.get_env().reset(), deterministic=True)
    assert action.shape[0] == n_envs


@pytest.mark.parametrize("algo", ALGOS)
def test_on_step_false_stops_learn(algo):
    model = make_algo(algo, make_vec_env(env_id_for(algo), n_envs=2, seed=0))
    recorder = RecordingCallback(stop_at_call=7)
    model.learn(1_000, callback=recorder)
    assert model.num_timesteps == 14
    assert [event[0] for event in recorder.events].count("training_end") == 1


@pytest.mark.parametrize("algo", ALGOS)
def test_reward_threshold_stops_at_first_evaluation(algo):
    model = make_algo(algo, make_vec_env(env_id_for(algo), n_envs=2, seed=0))
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1e9)
    callback = EvalCallback(Monitor(gym.make(env_id_for(algo))), callback_on_new_best=stop, n_eval_episodes=1, eval_freq=20)
    model.learn(1_000, callback=callback)
    assert model.num_timesteps == 40
    assert stop.parent is callback and callback.best_mean_reward > -1e9


@pytest.mark.parametrize("algo", ALGOS)
def test_max_episodes_stops_learn(algo):
    if algo.__name__ in CONTINUOUS_ONLY:
        pytest.skip("Pendulum episodes last 200 steps; the rule itself is checked with the stand-in model")
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = make_algo(algo, env)
    callback = StopTrainingOnMaxEpisodes(max_episodes=3)
    model.learn(10_000, callback=callback)
    episodes_seen = sum(len(rewards) for rewards in env.env_method("get_episode_rewards"))
    assert callback.n_episodes == episodes_seen >= 6
    assert model.num_timesteps < 10_000


@pytest.mark.parametrize("algo", ALGOS)
def test_no_improvement_stops_learn(algo):
    if algo.__name__ in CONTINUOUS_ONLY:
        pytest.skip("needs discrete actions (ChoiceEnv); the rule itself is checked with the stand-in model")
    # With a learning rate of 0 the policy never changes, so every evaluation scores the same.
    model = make_algo(algo, DummyVecEnv([lambda: ChoiceEnv()]), learning_rate=0.0)
    stop = StopTrainingOnNoModelImprovement(max_no_improvement_evals=1)
    callback = EvalCallback(ChoiceEnv(), callback_after_eval=stop, n_eval_episodes=2, eval_freq=16, verbose=0, warn=False)
    model.learn(1_000, callback=callback)
    # Evaluation 1 sets the best, 2 and 3 do not improve: stop at the third.
    assert model.num_timesteps == 48
    assert stop.no_improvement_evals == 2


@pytest.mark.parametrize("algo", ALGOS)
def test_eval_callback_syncs_vec_normalize(algo):
    env_id = env_id_for(algo)
    train_env = VecNormalize(make_vec_env(env_id, n_envs=2, seed=0))
    eval_env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=1), training=False, norm_reward=False)
    model = make_algo(algo, train_env)
    callback = EvalCallback(eval_env, n_eval_episodes=1, eval_freq=32, verbose=0)
    model.learn(128, callback=callback)
    # The last evaluation happened at the last step: the statistics match the training env's final ones.
    assert model.num_timesteps == 128
    np.testing.assert_allclose(eval_env.obs_rms.mean, train_env.obs_rms.mean)
    np.testing.assert_allclose(eval_env.obs_rms.var, train_env.obs_rms.var)
    assert eval_env.obs_rms is not train_env.obs_rms


@pytest.mark.parametrize("algo", ALGOS)
def test_log_every_n_timesteps_dumps(algo, tmp_path):
    model = make_algo(algo, make_vec_env(env_id_for(algo), n_envs=2, seed=0))
    model.set_logger(configure(str(tmp_path), ["csv"]))
    # A log_interval beyond the run leaves the dumps to the callback.
    model.learn(128, callback=LogEveryNTimesteps(n_steps=40), log_interval=10_000)
    progress = pd.read_csv(tmp_path / "progress.csv")
    assert progress["time/total_timesteps"].tolist() == [40, 80, 120]
