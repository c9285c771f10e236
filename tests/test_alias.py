"""The opt-in import alias: SB3's module names resolve to ours, and the RL Zoo runs unmodified through it."""

import os
import subprocess
import sys
import textwrap

import pytest


def _python(*args: str, cwd=None, timeout: int = 500) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "MLX_BASELINES3_OPENBLAS": "0"}
    env.pop("MLX_BASELINES3_ALIAS", None)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False
    )


def _run_code(code: str) -> subprocess.CompletedProcess:
    return _python("-c", textwrap.dedent(code))


def test_aliased_modules_are_ours():
    result = _run_code(
        """
        import sys
        import mlx_baselines3.alias
        mlx_baselines3.alias.install()
        import stable_baselines3
        from stable_baselines3 import PPO
        from stable_baselines3.common.policies import ActorCriticPolicy
        from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
        import mlx_baselines3
        import mlx_baselines3.common.policies as policies
        assert stable_baselines3 is mlx_baselines3
        assert sys.modules["stable_baselines3.common.policies"] is policies
        assert PPO is mlx_baselines3.PPO and ActorCriticPolicy is policies.ActorCriticPolicy
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16)
        assert isinstance(model.policy, ActorCriticPolicy)
        assert RMSpropTFLike.__module__ == "mlx_baselines3.common.sb2_compat.rmsprop_tf_like"
        assert "torch" not in sys.modules
        mlx_baselines3.alias.install()  # a second call does nothing
        assert sum(type(f).__name__ == "AliasFinder" for f in sys.meta_path) == 1
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_missing_counterpart_and_late_install_are_explained():
    result = _run_code(
        """
        import mlx_baselines3.alias
        mlx_baselines3.alias.install()
        try:
            import stable_baselines3.common.no_such_module
        except ModuleNotFoundError as e:
            print(e)
        """
    )
    assert "No module named 'stable_baselines3.common.no_such_module': the mlx_baselines3 import alias maps it to " in (
        result.stdout
    ), result.stderr
    pytest.importorskip("stable_baselines3")
    result = _run_code(
        """
        import stable_baselines3
        import mlx_baselines3.alias
        try:
            mlx_baselines3.alias.install()
        except RuntimeError as e:
            print(e)
        """
    )
    assert result.stdout.startswith("stable_baselines3 was imported before mlx_baselines3.alias.install()"), result.stderr


def test_script_runs_with_its_arguments(tmp_path):
    script = tmp_path / "sb3_script.py"
    script.write_text("import sys\nimport stable_baselines3\nprint(stable_baselines3.__name__, sys.argv[1:], __name__)\n")
    result = _python("-m", "mlx_baselines3.alias", str(script), "--flag", "x")
    assert result.stdout.strip() == "mlx_baselines3 ['--flag', 'x'] __main__", result.stderr
    assert _python("-m", "mlx_baselines3.alias").returncode == 2


def test_subprocess_workers_inherit_the_alias():
    # A forkserver worker (SubprocVecEnv's default) unpickles an env factory from a module that imports SB3's names.
    result = _run_code(
        """
        import mlx_baselines3.alias
        mlx_baselines3.alias.install()
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import SubprocVecEnv
        from stable_baselines3.common.monitor import Monitor
        env = make_vec_env("CartPole-v1", n_envs=2, vec_env_cls=SubprocVecEnv, vec_env_kwargs=dict(start_method="forkserver"))
        env.reset()
        print(env.env_is_wrapped(Monitor), env.get_attr("__module__", indices=[0]))
        env.close()
        """
    )
    assert result.stdout.strip() == "[True, True] ['mlx_baselines3.common.monitor']", result.stderr


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    pytest.importorskip("rl_zoo3")
    folder = tmp_path_factory.mktemp("zoo")
    args = ["--algo", "ppo", "--env", "CartPole-v1", "-f", "logs", "--seed", "1", "-n", "1024"]
    result = _python(
        "-m", "mlx_baselines3.alias", "-m", "rl_zoo3.train", *args, "--eval-freq", "512", "--eval-episodes", "2",
        "--n-eval-envs", "1", "-tb", "tb", cwd=folder,
    )  # fmt: skip
    return folder, result


def test_rl_zoo_trains_through_the_alias(zoo_run):
    folder, result = zoo_run
    assert result.returncode == 0, result.stderr[-3000:]
    run = folder / "logs" / "ppo" / "CartPole-v1_1"
    assert (run / "CartPole-v1.zip").is_file() and (run / "best_model.zip").is_file()
    assert (run / "evaluations.npz").is_file()
    assert "Saving to logs/ppo/CartPole-v1_1" in result.stdout
    assert any((folder / "tb").rglob("events.out.tfevents.*"))
    # The saved zip names SB3's classes and loads in SB3 itself.
    sb3 = pytest.importorskip("stable_baselines3")
    model = sb3.PPO.load(run / "CartPole-v1.zip", device="cpu")
    assert model.num_timesteps == 1024


def test_rl_zoo_enjoy_through_the_alias(zoo_run):
    folder, _ = zoo_run
    args = ["--algo", "ppo", "--env", "CartPole-v1", "-f", "logs", "--exp-id", "1", "-n", "200", "--no-render"]
    result = _python("-m", "mlx_baselines3.alias", "-m", "rl_zoo3.enjoy", *args, "--deterministic", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Mean reward:" in result.stdout


def test_rl_zoo_continues_training_from_its_zip(zoo_run):
    # -i reloads the zip, which holds the zoo's own SimpleLinearSchedule objects: the default (safe) load skips those
    # pickled schedules with a warning and the zoo passes its hyperparameters again.
    folder, _ = zoo_run
    args = ["--algo", "ppo", "--env", "CartPole-v1", "-f", "logs", "--seed", "2", "-n", "512", "--eval-freq", "-1"]
    result = _python(
        "-m", "mlx_baselines3.alias", "-m", "rl_zoo3.train", *args, "-i", "logs/ppo/CartPole-v1_1/CartPole-v1.zip",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / "logs" / "ppo" / "CartPole-v1_2" / "CartPole-v1.zip").is_file()
