"""common.vec_env: wrappers give SB3's observations, rewards, infos and statistics for the same env and actions."""

import importlib

import gymnasium as gym
import numpy as np
import pytest

import mlx_baselines3.common.vec_env as ours

sb3_vec_env = pytest.importorskip("stable_baselines3.common.vec_env") if importlib.util.find_spec("torch") else None
if sb3_vec_env is None:
    pytest.skip("SB3 not installed", allow_module_level=True)


def _make(seed):
    def make():
        env = gym.make("Pendulum-v1")
        env.reset(seed=seed)
        return env

    return make


def _drive(module, wrap, n_steps=30):
    vec_env = wrap(module, module.DummyVecEnv([_make(0), _make(1)]))
    vec_env.seed(7)
    rng = np.random.default_rng(0)
    out = [vec_env.reset()]
    for _ in range(n_steps):
        observation, reward, done, infos = vec_env.step(rng.uniform(-2, 2, size=(2, 1)).astype(np.float32))
        out += [observation, reward, done, [sorted(info) for info in infos]]
    return vec_env, out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
            assert x.dtype == y.dtype and x.shape == y.shape
        else:
            assert x == y


WRAPPERS = {
    "dummy": lambda module, env: env,
    "normalize": lambda module, env: module.VecNormalize(env, gamma=0.9),
    "normalize_obs_only": lambda module, env: module.VecNormalize(env, norm_reward=False, clip_obs=1.0),
    "frame_stack": lambda module, env: module.VecFrameStack(env, 3),
    "monitor": lambda module, env: module.VecMonitor(env),
    "check_nan": lambda module, env: module.VecCheckNan(env),
    "normalize_then_stack": lambda module, env: module.VecFrameStack(module.VecNormalize(env), 2),
}


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_same_transitions_as_sb3(wrapper):
    our_env, our_out = _drive(ours, WRAPPERS[wrapper])
    their_env, their_out = _drive(sb3_vec_env, WRAPPERS[wrapper])
    _assert_same(our_out, their_out)
    assert our_env.observation_space == their_env.observation_space
    assert our_env.action_space == their_env.action_space
    if wrapper.startswith("normalize") and wrapper != "normalize_then_stack":
        np.testing.assert_allclose(our_env.obs_rms.mean, their_env.obs_rms.mean, rtol=1e-10)
        np.testing.assert_allclose(our_env.obs_rms.var, their_env.obs_rms.var, rtol=1e-10)
        np.testing.assert_allclose(our_env.ret_rms.var, their_env.ret_rms.var, rtol=1e-10)
        np.testing.assert_allclose(our_env.get_original_obs(), their_env.get_original_obs())
        np.testing.assert_allclose(our_env.get_original_reward(), their_env.get_original_reward())


def test_vec_env_api_surface_as_sb3():
    for name in (
        "get_attr",
        "set_attr",
        "env_method",
        "env_is_wrapped",
        "seed",
        "set_options",
        "get_images",
        "render",
        "step_async",
        "step_wait",
        "close",
        "getattr_depth_check",
    ):
        assert hasattr(ours.VecEnv, name) == hasattr(sb3_vec_env.VecEnv, name), name
    env, _ = _drive(ours, WRAPPERS["normalize"], n_steps=1)
    theirs, _ = _drive(sb3_vec_env, WRAPPERS["normalize"], n_steps=1)
    assert env.get_attr("spec")[0].id == theirs.get_attr("spec")[0].id == "Pendulum-v1"
    assert env.env_is_wrapped(gym.wrappers.TimeLimit) == theirs.env_is_wrapped(gym.wrappers.TimeLimit) == [True, True]
    assert ours.unwrap_vec_normalize(env) is env and ours.is_vecenv_wrapped(env, ours.VecNormalize)
