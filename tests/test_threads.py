"""
Models work from any thread, one call at a time per model, as in SB3: built in one thread and trained, used, saved
or loaded in others. Each scenario runs in a child interpreter, because a failure here can abort the process
(``terminate called without an active exception``) instead of raising.
"""

import os
import subprocess
import sys
import textwrap

import pytest

_PRELUDE = """
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlx_baselines3 import DQN, PPO, SAC
"""


def _run(body: str, timeout: float = 300.0) -> str:
    """
    Run ``body`` in a fresh interpreter and return what it printed; fail on any non-zero exit (abort included) or
    output on stderr other than warnings.
    """
    code = _PRELUDE + textwrap.dedent(body)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "terminate called" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "make_model",
    [
        'PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=2, seed=0)',
        'DQN("MlpPolicy", "CartPole-v1", learning_starts=16, batch_size=8, train_freq=4, seed=0)',
        'SAC("MlpPolicy", "Pendulum-v1", learning_starts=16, batch_size=8, seed=0)',
    ],
    ids=["ppo", "dqn", "sac"],
)
def test_build_in_main_learn_in_worker_predict_from_four_workers(make_model):
    out = _run(
        f"""
        model = {make_model}
        obs = model.env.reset()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(model.learn, 64).result()
        print("timesteps", model.num_timesteps)
        with ThreadPoolExecutor(4) as pool:
            answers = [pool.submit(model.predict, obs, deterministic=True).result()[0] for _ in range(4)]
        print("same", all(np.array_equal(answer, answers[0]) for answer in answers))
        main_answer = model.predict(obs, deterministic=True)[0]
        print("main", np.array_equal(main_answer, answers[0]))
        stochastic = [pool_answer for pool_answer in ThreadPoolExecutor(4).map(lambda _: model.predict(obs)[0], range(8))]
        print("shape", stochastic[0].shape == answers[0].shape)
        model.learn(32, reset_num_timesteps=False)  # back in the main thread
        print("timesteps", model.num_timesteps)
        """
    )
    assert out.split() == ["timesteps", "64", "same", "True", "main", "True", "shape", "True", "timesteps", "96"]


def test_save_in_one_thread_load_in_another(tmp_path):
    out = _run(
        f"""
        path = {str(tmp_path / "model.zip")!r}
        model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=16, batch_size=8, seed=0)
        model.learn(32)
        obs = model.env.reset()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(model.save, path).result()
        with ThreadPoolExecutor(1) as pool:
            loaded = pool.submit(SAC.load, path, env=model.get_env()).result()
        with ThreadPoolExecutor(1) as pool:
            theirs = pool.submit(loaded.predict, obs, deterministic=True).result()[0]
        print(np.allclose(theirs, model.predict(obs, deterministic=True)[0], atol=1e-6))
        with ThreadPoolExecutor(1) as pool:
            pool.submit(loaded.learn, 16).result()
        print(loaded.num_timesteps)
        """
    )
    assert out.split() == ["True", "16"]


def test_two_models_in_two_threads_at_once():
    out = _run(
        """
        ppo = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=2, seed=0)
        sac = SAC("MlpPolicy", "Pendulum-v1", learning_starts=16, batch_size=8, seed=0)
        with ThreadPoolExecutor(2) as pool:
            done = [pool.submit(ppo.learn, 128), pool.submit(sac.learn, 64)]
            [future.result() for future in done]
        print(ppo.num_timesteps, sac.num_timesteps)
        """
    )
    assert out.split() == ["128", "64"]


def test_rl_zoo_parallel_train_callback_pattern(tmp_path):
    # The RL Zoo's ParallelTrainCallback: a copy of the model trains SAC in a background thread while the main thread
    # keeps collecting with the original, whose train() is disabled; weights are copied back when a round is done.
    out = _run(
        """
        import copy, io

        from mlx_baselines3.common.callbacks import BaseCallback

        class ParallelTrainCallback(BaseCallback):
            def __init__(self, gradient_steps=20):
                super().__init__()
                self.gradient_steps = gradient_steps
                self.process = None
                self.rounds = 0
                self._model_ready = True

            def _init_callback(self):
                buffer = io.BytesIO()
                self.model.save(buffer)
                buffer.seek(0)
                self._model = SAC.load(buffer)
                self.batch_size = self._model.batch_size
                self._model.set_logger(self.model.logger)
                self.model.train = lambda *args, **kwargs: None

            def _train_thread(self):
                self._model.train(gradient_steps=self.gradient_steps, batch_size=self.batch_size)
                self.rounds += 1
                self._model_ready = True

            def _on_step(self):
                return True

            def _on_rollout_end(self):
                if self._model_ready:
                    self._model.replay_buffer = copy.deepcopy(self.model.replay_buffer)
                    self.model.set_parameters(copy.deepcopy(self._model.get_parameters()))
                    if self.num_timesteps >= self._model.learning_starts:
                        self._model_ready = False
                        self.process = threading.Thread(target=self._train_thread, daemon=True)
                        self.process.start()

            def _on_training_end(self):
                if self.process is not None:
                    self.process.join()

        model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=32, batch_size=16, train_freq=4, seed=0)
        callback = ParallelTrainCallback()
        model.learn(400, callback=callback)
        print("rounds", callback.rounds > 1, "updates", callback._model._n_updates >= 40)
        obs = model.env.reset()
        print("predict", model.predict(obs, deterministic=True)[0].shape)
        """
    )
    assert out.split() == ["rounds", "True", "updates", "True", "predict", "(1,", "1)"]


@pytest.mark.parametrize("algo", ["PPO", "SAC"])
def test_a_seeded_model_learns_the_same_in_any_thread(algo):
    # MLX's generator is per thread; the model's random stream follows it, as SB3's global torch generator does.
    out = _run(
        f"""
        from mlx.utils import tree_flatten

        def make():
            if {algo!r} == "PPO":
                return PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=2, seed=3)
            return SAC("MlpPolicy", "Pendulum-v1", learning_starts=16, batch_size=8, seed=3)

        def weights(model):
            return [np.array(value) for _, value in tree_flatten(model.policy.parameters())]

        in_main = make()
        in_main.learn(64)
        in_main.learn(32, reset_num_timesteps=False)
        elsewhere = make()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(elsewhere.learn, 64).result()
        elsewhere.learn(32, reset_num_timesteps=False)  # back in the main thread: the stream continues
        print(all(np.array_equal(a, b) for a, b in zip(weights(in_main), weights(elsewhere), strict=True)))
        """
    )
    assert out.split() == ["True"]
