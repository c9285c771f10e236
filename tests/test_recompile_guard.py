"""Regression guard: once training has warmed up, no compiled MLX function of any algorithm is traced again.

MLX runs the Python body of an ``mx.compile``d function only while it traces it: at the first call, and again for every
new input shape or dtype, every new Python scalar argument, every change in the structure of the captured state, and
for every new ``mx.compile`` wrapper. Each trace costs about 2 s on CPU (the fused kernels are JIT-compiled), so a
retrace per ``train()`` call silently makes training tens of times slower while every value stays right. The guard
replaces ``mx.compile`` by a spy that counts how often each compiled body runs, trains each algorithm until every
variant of its compiled functions has run once, and then checks that more training adds no trace at all.
"""

from collections import Counter
from collections.abc import Callable
from typing import Any

import mlx.core as mx
import numpy as np
import pytest

from mlx_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from mlx_baselines3.common.env_util import make_vec_env

# Every algorithm builds its gradient step in a ``_make_train_step`` method; the guard is void if that is not observed.
TRAIN_STEP = "._make_train_step.<locals>.step"


class CompileSpy:
    """
    Stand-in for ``mx.compile`` that counts, per qualified name of the compiled function, how many wrappers were built,
    how many times the body was traced and how many times the compiled function was called. It then compiles with the
    real ``mx.compile``, so the behaviour under test is MLX's own.

    :param real_compile: the original ``mx.compile``
    """

    def __init__(self, real_compile: Callable[..., Any]):
        self._real_compile = real_compile
        self.wrappers: Counter[str] = Counter()
        self.traces: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def __call__(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """
        :param fun: the function to compile
        :param args: passed on to ``mx.compile`` (inputs, outputs, shapeless)
        :param kwargs: passed on to ``mx.compile``
        :return: the compiled function, counting its calls
        """
        name = getattr(fun, "__qualname__", repr(fun))
        self.wrappers[name] += 1

        def traced(*fun_args: Any, **fun_kwargs: Any) -> Any:
            # Runs only while MLX traces: the cached graph is replayed without Python.
            self.traces[name] += 1
            return fun(*fun_args, **fun_kwargs)

        compiled = self._real_compile(traced, *args, **kwargs)

        def counted(*fun_args: Any, **fun_kwargs: Any) -> Any:
            self.calls[name] += 1
            return compiled(*fun_args, **fun_kwargs)

        return counted

    def snapshot(self) -> dict[str, Counter[str]]:
        """:return: copies of the three counters"""
        return {"wrappers": Counter(self.wrappers), "traces": Counter(self.traces), "calls": Counter(self.calls)}


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> CompileSpy:
    """
    Patch ``mx.compile`` for one test. The package calls ``mx.compile`` at run time through the ``mlx.core`` module
    object, so every model built after this sees the spy.

    :return: the spy
    """
    compile_spy = CompileSpy(mx.compile)
    monkeypatch.setattr(mx, "compile", compile_spy)
    return compile_spy


@pytest.fixture
def compile_active(spy: CompileSpy) -> CompileSpy:
    """
    Skip when compilation is off (``MLX_DISABLE_COMPILE``, or no C++ compiler on a Linux CPU build): MLX then runs the
    Python body at every call and every count would read as a retrace.

    :return: the spy
    """

    @mx.compile
    def double(x: mx.array) -> mx.array:
        return 2 * x

    for _ in range(2):
        mx.eval(double(mx.ones(3)))
    if spy.traces["compile_active.<locals>.double"] != 1:
        pytest.skip("mx.compile runs its Python body at every call here: compilation is disabled")
    spy.traces.clear()
    spy.calls.clear()
    spy.wrappers.clear()
    return spy


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((mx.ones(3), 2.0), (mx.ones(4), 2.0), id="new-shape"),
        pytest.param((mx.ones(3), 2.0), (mx.ones(3), 3.0), id="new-python-float"),
        pytest.param((mx.ones(3), 2.0), (mx.ones(3, dtype=mx.float16), 2.0), id="new-dtype"),
    ],
)
def test_spy_detects_a_retrace(compile_active: CompileSpy, first: tuple, second: tuple):
    # Positive control: the same mechanism the guard relies on sees MLX trace again.
    scale = mx.compile(lambda x, s: x * s)
    for args in (first, first):
        mx.eval(scale(*args))
    assert compile_active.traces["test_spy_detects_a_retrace.<locals>.<lambda>"] == 1
    mx.eval(scale(*second))
    assert compile_active.traces["test_spy_detects_a_retrace.<locals>.<lambda>"] == 2
    # An array scalar whose value changes is the cure: no trace.
    mx.eval(scale(mx.ones(3), mx.array(2.0)), scale(mx.ones(3), mx.array(5.0)))
    assert compile_active.traces["test_spy_detects_a_retrace.<locals>.<lambda>"] == 3


def _linear(start: float) -> Callable[[float], float]:
    """
    :param start: the value at the start of training
    :return: a schedule decaying linearly to 0: a new Python float at every update, which must not cause a retrace
    """
    return lambda progress_remaining: start * progress_remaining


# (algorithm, env id, n_envs, constructor kwargs, warm-up timesteps, steady-state timesteps). The warm-up must run every
# variant at least once: each minibatch shape (full and partial), each compiled step variant (target or actor update),
# prediction on a single observation and on a batch, deterministic and not.
CASES = [
    # 4 x 24 = 96 samples per rollout in minibatches of 40: two full ones and a partial one of 16.
    pytest.param(
        PPO,
        "CartPole-v1",
        4,
        dict(n_steps=24, batch_size=40, n_epochs=2),
        192,
        288,
        id="ppo",
        marks=pytest.mark.filterwarnings("ignore:You have specified a mini-batch size"),
    ),
    pytest.param(A2C, "CartPole-v1", 2, dict(n_steps=8), 32, 48, id="a2c"),
    pytest.param(
        PPO,
        "CartPole-v1",
        3,
        # Every scalar of the update changes at each train(): learning rate, clip ranges; target_kl stops some updates
        # early (after the first or second epoch) and lets others run all epochs, in both phases.
        dict(
            n_steps=16,
            batch_size=24,
            n_epochs=3,
            learning_rate=_linear(0.03),
            clip_range=_linear(0.3),
            clip_range_vf=_linear(0.5),
            target_kl=0.001,
        ),
        144,
        192,
        id="ppo-schedules-target_kl",
    ),
    pytest.param(
        DQN,
        "CartPole-v1",
        2,
        dict(learning_starts=40, buffer_size=1000, batch_size=32, train_freq=4, gradient_steps=2, target_update_interval=20),
        80,
        80,
        id="dqn",
    ),
    pytest.param(
        SAC,
        "Pendulum-v1",
        1,
        dict(learning_starts=32, buffer_size=1000, batch_size=32, train_freq=4, gradient_steps=2, ent_coef=0.1),
        64,
        64,
        id="sac",
    ),
    pytest.param(
        SAC,
        "Pendulum-v1",
        2,
        dict(
            learning_starts=32,
            buffer_size=1000,
            batch_size=32,
            train_freq=2,
            gradient_steps=3,
            ent_coef="auto",
            target_update_interval=2,
            learning_rate=_linear(1e-3),
        ),
        64,
        64,
        id="sac-auto-target_interval-lr_schedule",
    ),
    pytest.param(
        TD3,
        "Pendulum-v1",
        1,
        dict(learning_starts=32, buffer_size=1000, batch_size=32, train_freq=4, gradient_steps=2),
        64,
        64,
        id="td3",
    ),
    pytest.param(
        DDPG,
        "Pendulum-v1",
        1,
        dict(learning_starts=32, buffer_size=1000, batch_size=32, train_freq=4, gradient_steps=2),
        64,
        64,
        id="ddpg",
    ),
    pytest.param(
        PPO,
        "Pendulum-v1",
        2,
        # Pendulum truncates at 200 steps: the warm-up must reach it so that the terminal value is computed once.
        dict(n_steps=50, batch_size=50, n_epochs=1, use_sde=True, sde_sample_freq=8),
        400,
        200,
        id="ppo-gsde",
    ),
    pytest.param(
        SAC,
        "Pendulum-v1",
        1,
        dict(learning_starts=32, buffer_size=1000, batch_size=32, train_freq=4, gradient_steps=2, use_sde=True),
        64,
        64,
        id="sac-gsde",
    ),
]


def _predict_all_ways(model: Any, observations: list[np.ndarray]) -> None:
    """
    Predict on each observation (single or batch), deterministically and not, as users do between training runs.

    :param model: the trained model
    :param observations: the observations to predict on
    """
    for observation in observations:
        for deterministic in (True, False):
            model.predict(observation, deterministic=deterministic)


def _diff(before: Counter[str], after: Counter[str]) -> dict[str, tuple[int, int]]:
    """
    :param before: counts at the snapshot
    :param after: counts now
    :return: the names whose count changed, with (before, after)
    """
    return {name: (before[name], after[name]) for name in sorted(set(before) | set(after)) if before[name] != after[name]}


def _build(algo: type, env_id: str, n_envs: int, kwargs: dict) -> tuple[Any, list[np.ndarray]]:
    """
    :param algo: the algorithm class
    :param env_id: the Gymnasium id
    :param n_envs: number of environments
    :param kwargs: constructor arguments
    :return: the model (tiny network, seeded) and the observations to predict on, single and batched
    """
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    model = algo("MlpPolicy", env, policy_kwargs=dict(net_arch=[16]), seed=0, **kwargs)
    # Not from env.reset(), which would disturb the model's own episodes; only shapes and dtypes matter to tracing.
    space = env.observation_space
    return model, [np.zeros(space.shape, space.dtype), np.zeros((n_envs, *space.shape), space.dtype)]


def _warm_then_steady(
    spy: CompileSpy, model: Any, observations: list[np.ndarray], warmup_steps: int, steady_steps: int
) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    """
    Train and predict once to trace every variant, then continue training (same run) and predict again.

    :param spy: the patched ``mx.compile``
    :param model: a model built after the patch
    :param observations: observations to predict on after each phase
    :param warmup_steps: timesteps of the first ``learn``
    :param steady_steps: timesteps of the second ``learn`` (``reset_num_timesteps=False``)
    :return: the spy's counters after the warm-up and after the steady state
    """
    model.learn(warmup_steps)
    _predict_all_ways(model, observations)
    warm = spy.snapshot()
    model.learn(steady_steps, reset_num_timesteps=False)
    _predict_all_ways(model, observations)
    return warm, spy.snapshot()


@pytest.mark.parametrize(("algo", "env_id", "n_envs", "kwargs", "warmup_steps", "steady_steps"), CASES)
def test_no_retrace_in_steady_state(
    compile_active: CompileSpy, algo: type, env_id: str, n_envs: int, kwargs: dict, warmup_steps: int, steady_steps: int
):
    model, observations = _build(algo, env_id, n_envs, kwargs)
    warm, steady = _warm_then_steady(compile_active, model, observations, warmup_steps, steady_steps)

    traced = dict(warm["traces"])
    assert traced, "no compiled function was observed: does the package still call mx.compile at run time?"
    assert any(name.endswith(TRAIN_STEP) for name in traced), f"the compiled update step was not observed, only {traced}"

    retraced = _diff(warm["traces"], steady["traces"])
    assert not retraced, f"traced again in steady state, name: (traces after warm-up, after steady state): {retraced}"
    assert steady["wrappers"] == warm["wrappers"], f"new compiled wrappers: {_diff(warm['wrappers'], steady['wrappers'])}"
    # A compiled function that steady state never calls could retrace unnoticed.
    called = _diff(warm["calls"], steady["calls"])
    assert set(called) == set(traced), f"steady state called {sorted(called)}, warm-up traced {sorted(traced)}"


def test_guard_sees_a_retrace_in_training(compile_active: CompileSpy):
    # Positive control of the whole harness: a minibatch size changed between the phases is a new input shape.
    model, _ = _build(PPO, "CartPole-v1", 2, dict(n_steps=16, batch_size=32, n_epochs=1))
    model.learn(32)
    warm = compile_active.snapshot()
    model.batch_size = 16
    model.learn(32, reset_num_timesteps=False)
    retraced = _diff(warm["traces"], compile_active.snapshot()["traces"])
    assert list(retraced) == ["PPO" + TRAIN_STEP] and retraced["PPO" + TRAIN_STEP] == (1, 2)
