"""Conformance with SB3 2.9.2's ``common.buffers`` (and HER's buffer): stored and sampled dtypes, sampled values for
the same NumPy seed, and the refusals."""

import importlib

import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common import buffers
from mlx_baselines3.common.exceptions import UsageError

OBS_SPACES = {
    "float64": spaces.Box(-1, 1, (3,), np.float64),
    "float32": spaces.Box(-1, 1, (3,), np.float32),
    "uint8": spaces.Box(0, 255, (2, 2), np.uint8),
    "discrete": spaces.Discrete(4),
    "multibinary": spaces.MultiBinary(3),
    "multidiscrete": spaces.MultiDiscrete([2, 3]),
}
ACTION_SPACES = {
    "float64": spaces.Box(-1, 1, (2,), np.float64),
    "float32": spaces.Box(-1, 1, (2,), np.float32),
    "int32box": spaces.Box(-3, 3, (2,), np.int32),
    "discrete": spaces.Discrete(3),
    "multidiscrete": spaces.MultiDiscrete([2, 3]),
    "multibinary": spaces.MultiBinary(2),
}
# SB3's rules: observations keep the space's dtype (stored and sampled); replay actions keep it too, except float64
# which is stored as float32; rollout actions are stored with the space's dtype and sampled as float32.
ROLLOUT_ACTION_SAMPLE = np.float32
N_ENVS = 2


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "").replace("mlx.core.", "")


def _module(lib):
    if lib == "sb3":
        pytest.importorskip("stable_baselines3")
        return importlib.import_module("stable_baselines3.common.buffers")
    return buffers


def _values(lib, n):
    if lib == "sb3":
        import torch as th

        return th.zeros(n), th.zeros(n)
    return np.zeros(n, np.float32), np.zeros(n, np.float32)


def _fill_rollout(buffer, lib, obs_space, action_space, rng_seed=0):
    obs_space.seed(rng_seed)
    action_space.seed(rng_seed)
    for _ in range(buffer.buffer_size):
        value, log_prob = _values(lib, N_ENVS)
        obs = np.array([obs_space.sample() for _ in range(N_ENVS)])
        actions = np.array([action_space.sample() for _ in range(N_ENVS)])
        buffer.add(obs, actions, np.ones(N_ENVS), np.zeros(N_ENVS), value, log_prob)
    last_values, _ = _values(lib, N_ENVS)
    buffer.compute_returns_and_advantage(last_values, np.zeros(N_ENVS))


def _fill_replay(buffer, obs_space, action_space, steps=4, rng_seed=0):
    obs_space.seed(rng_seed)
    action_space.seed(rng_seed)
    for step in range(steps):
        obs = np.array([obs_space.sample() for _ in range(N_ENVS)])
        next_obs = np.array([obs_space.sample() for _ in range(N_ENVS)])
        actions = np.array([action_space.sample() for _ in range(N_ENVS)])
        dones = np.array([step % 3 == 2, False])
        buffer.add(obs, next_obs, actions, np.arange(N_ENVS) + step, dones, [{"TimeLimit.truncated": False}] * N_ENVS)


def _rollout_dtypes(lib, obs_space, action_space):
    buffer = _module(lib).RolloutBuffer(4, obs_space, action_space, device="cpu", n_envs=N_ENVS)
    _fill_rollout(buffer, lib, obs_space, action_space)
    stored = (buffer.observations.dtype, buffer.actions.dtype)
    sample = next(buffer.get(4))
    return stored, tuple(_dtype_name(array.dtype) for array in sample)


def _replay_dtypes(lib, cls_name, obs_space, action_space, **kwargs):
    buffer = getattr(_module(lib), cls_name)(8, obs_space, action_space, device="cpu", n_envs=N_ENVS, **kwargs)
    _fill_replay(buffer, obs_space, action_space)
    stored = (buffer.observations.dtype, buffer.actions.dtype)
    sample = buffer.sample(4)
    return stored, tuple(_dtype_name(array.dtype) for array in sample if array is not None)


@pytest.mark.parametrize("action_name", list(ACTION_SPACES))
@pytest.mark.parametrize("obs_name", list(OBS_SPACES))
def test_dtype_facts(obs_name, action_name):
    obs_space, action_space = OBS_SPACES[obs_name], ACTION_SPACES[action_name]
    obs_dtype = obs_space.dtype
    (stored_obs, stored_actions), sample = _rollout_dtypes("mlx", obs_space, action_space)
    assert stored_obs == obs_dtype and stored_actions == action_space.dtype
    assert sample == (_dtype_name(obs_dtype), "float32", "float32", "float32", "float32", "float32")
    replay_action = np.float32 if action_space.dtype == np.float64 else action_space.dtype
    for cls_name in ("ReplayBuffer", "NStepReplayBuffer"):
        (stored_obs, stored_actions), sample = _replay_dtypes("mlx", cls_name, obs_space, action_space)
        assert stored_obs == obs_dtype and stored_actions == replay_action
        expected = (_dtype_name(obs_dtype), _dtype_name(np.dtype(replay_action)), _dtype_name(obs_dtype), "float32", "float32")
        assert sample[:5] == expected
        if cls_name == "NStepReplayBuffer":
            assert sample[5] == "float32"


@pytest.mark.parametrize("action_name", list(ACTION_SPACES))
@pytest.mark.parametrize("obs_name", list(OBS_SPACES))
def test_dtypes_same_as_sb3(obs_name, action_name):
    obs_space, action_space = OBS_SPACES[obs_name], ACTION_SPACES[action_name]
    assert _rollout_dtypes("mlx", obs_space, action_space) == _rollout_dtypes("sb3", obs_space, action_space)
    for cls_name in ("ReplayBuffer", "NStepReplayBuffer"):
        assert _replay_dtypes("mlx", cls_name, obs_space, action_space) == _replay_dtypes(
            "sb3", cls_name, obs_space, action_space
        )


DICT_SPACE = spaces.Dict({"image": OBS_SPACES["uint8"], "vec": OBS_SPACES["float64"], "index": OBS_SPACES["discrete"]})


@pytest.mark.parametrize("lib", ["mlx", "sb3"])
@pytest.mark.parametrize("action_name", ["float64", "discrete", "multibinary"])
def test_dict_buffers_keep_dtypes(lib, action_name):
    action_space = ACTION_SPACES[action_name]
    module = _module(lib)
    rollout = module.DictRolloutBuffer(4, DICT_SPACE, action_space, device="cpu", n_envs=N_ENVS)
    for _ in range(4):
        obs = {key: np.array([space.sample() for _ in range(N_ENVS)]) for key, space in DICT_SPACE.spaces.items()}
        value, log_prob = _values(lib, N_ENVS)
        rollout.add(
            obs, np.array([action_space.sample() for _ in range(N_ENVS)]), np.ones(N_ENVS), np.zeros(N_ENVS), value, log_prob
        )
    rollout.compute_returns_and_advantage(_values(lib, N_ENVS)[0], np.zeros(N_ENVS))
    sample = next(rollout.get(3))
    assert {key: _dtype_name(obs.dtype) for key, obs in sample.observations.items()} == {
        "image": "uint8",
        "vec": "float64",
        "index": "int64",
    }
    assert _dtype_name(sample.actions.dtype) == "float32"

    replay = module.DictReplayBuffer(8, DICT_SPACE, action_space, device="cpu", n_envs=N_ENVS)
    for _ in range(3):
        obs = {key: np.array([space.sample() for _ in range(N_ENVS)]) for key, space in DICT_SPACE.spaces.items()}
        replay.add(
            obs, obs, np.array([action_space.sample() for _ in range(N_ENVS)]), np.zeros(N_ENVS), np.zeros(N_ENVS), [{}, {}]
        )
    sample = replay.sample(5)
    for observations in (sample.observations, sample.next_observations):
        assert {key: _dtype_name(obs.dtype) for key, obs in observations.items()} == {
            "image": "uint8",
            "vec": "float64",
            "index": "int64",
        }
    expected_action = {"float64": "float32", "discrete": "int64", "multibinary": "int8"}[action_name]
    assert _dtype_name(sample.actions.dtype) == expected_action
    assert _dtype_name(sample.rewards.dtype) == "float32" and _dtype_name(sample.dones.dtype) == "float32"


@pytest.mark.parametrize("lib", ["mlx", "sb3"])
def test_her_samples_keep_dtypes(lib):
    name = "stable_baselines3" if lib == "sb3" else "mlx_baselines3"
    if lib == "sb3":
        pytest.importorskip("stable_baselines3")
    her = importlib.import_module(f"{name}.her.her_replay_buffer")
    envs = importlib.import_module(f"{name}.common.envs")
    vec_env = importlib.import_module(f"{name}.common.vec_env")
    env = vec_env.DummyVecEnv([lambda: envs.BitFlippingEnv(n_bits=4, continuous=True, max_steps=4)])
    buffer = her.HerReplayBuffer(40, env.observation_space, env.action_space, env=env, device="cpu")
    obs = env.reset()
    for _ in range(12):
        action = np.array([env.action_space.sample()])
        next_obs, reward, done, infos = env.step(action)
        buffer.add(obs, next_obs, action, reward, done, infos)
        obs = next_obs
    sample = buffer.sample(6)
    dtypes = {key: _dtype_name(value.dtype) for key, value in sample.observations.items()}
    assert dtypes == {key: _dtype_name(space.dtype) for key, space in env.observation_space.spaces.items()}
    assert set(dtypes.values()) == {"int8"}
    assert _dtype_name(sample.actions.dtype) == "float32" and _dtype_name(sample.rewards.dtype) == "float32"


def _replay_samples_of_both(cls_name, action_space, steps, seed, **kwargs):
    pytest.importorskip("stable_baselines3")
    samples = {}
    for lib in ("mlx", "sb3"):
        buffer = getattr(_module(lib), cls_name)(8, OBS_SPACES["float32"], action_space, device="cpu", n_envs=N_ENVS, **kwargs)
        _fill_replay(buffer, OBS_SPACES["float32"], action_space, steps=steps)
        np.random.seed(seed)
        samples[lib] = [np.asarray(array) for array in buffer.sample(16)]
    return zip(samples["mlx"], samples["sb3"], strict=True)


@pytest.mark.parametrize("optimize_memory_usage", [False, True])
def test_replay_samples_same_values_as_sb3(optimize_memory_usage):
    kwargs = dict(optimize_memory_usage=optimize_memory_usage, handle_timeout_termination=not optimize_memory_usage)
    for ours, theirs in _replay_samples_of_both("ReplayBuffer", ACTION_SPACES["discrete"], 10, 3, **kwargs):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


def test_nstep_samples_same_values_as_sb3():
    for ours, theirs in _replay_samples_of_both("NStepReplayBuffer", ACTION_SPACES["float32"], 10, 5, n_steps=3, gamma=0.9):
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_rollout_minibatches_same_values_as_sb3():
    pytest.importorskip("stable_baselines3")
    obs_space, action_space = OBS_SPACES["float64"], ACTION_SPACES["multibinary"]
    batches = {}
    for lib in ("mlx", "sb3"):
        buffer = _module(lib).RolloutBuffer(4, obs_space, action_space, device="cpu", n_envs=N_ENVS, gamma=0.9, gae_lambda=0.8)
        _fill_rollout(buffer, lib, obs_space, action_space)
        np.random.seed(7)
        batches[lib] = [[np.asarray(array) for array in batch] for batch in buffer.get(3)]
    assert len(batches["mlx"]) == len(batches["sb3"]) == 3
    for ours, theirs in zip(batches["mlx"], batches["sb3"], strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-6)


def test_float64_becomes_float32_on_a_gpu_device():
    # MLX has no float64 on GPUs: the one conversion point, to_mlx, gives float32 there.
    buffer = buffers.ReplayBuffer(4, OBS_SPACES["float64"], ACTION_SPACES["discrete"], device="cpu")
    assert buffer.to_mlx(np.zeros(2)).dtype == mx.float64
    buffer.device = mx.gpu
    assert buffer.to_mlx(np.zeros(2)).dtype == mx.float32
    assert buffer.to_mlx(np.zeros(2, np.uint8)).dtype == mx.uint8


def test_refusals():
    box, discrete = OBS_SPACES["float32"], ACTION_SPACES["discrete"]
    with pytest.raises(AssertionError, match="DictRolloutBuffer must be used with Dict obs space only"):
        buffers.DictRolloutBuffer(4, box, discrete)
    with pytest.raises(UsageError, match="DictReplayBuffer must be used with Dict obs space only"):
        buffers.DictReplayBuffer(4, box, discrete)
    with pytest.raises(AssertionError, match="DictReplayBuffer does not support optimize_memory_usage"):
        buffers.DictReplayBuffer(4, DICT_SPACE, discrete, optimize_memory_usage=True, handle_timeout_termination=False)
    with pytest.raises(ValueError, match="optimize_memory_usage = True and handle_timeout_termination = True"):
        buffers.ReplayBuffer(4, box, discrete, optimize_memory_usage=True)
    with pytest.raises(NotImplementedError, match="NStepReplayBuffer doesn't support optimize_memory_usage=True"):
        buffers.NStepReplayBuffer(4, box, discrete, optimize_memory_usage=True, handle_timeout_termination=False)
    with pytest.raises(AssertionError):
        next(buffers.RolloutBuffer(4, box, discrete).get())


@pytest.mark.parametrize(
    ("make", "args"),
    [
        ("DictRolloutBuffer", (4, OBS_SPACES["float32"], ACTION_SPACES["discrete"])),
        ("DictReplayBuffer", (4, OBS_SPACES["float32"], ACTION_SPACES["discrete"])),
    ],
)
def test_refusals_same_class_as_sb3(make, args):
    sb3_buffers = _module("sb3")
    with pytest.raises(AssertionError) as theirs:
        getattr(sb3_buffers, make)(*args)
    with pytest.raises(type(theirs.value), match=str(theirs.value)):
        getattr(buffers, make)(*args)
