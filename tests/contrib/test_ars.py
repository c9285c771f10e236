"""ARS: the policies, the update's rules, worker-process evaluation (AsyncEval), zips both ways, bad input, learning."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from contrib_helpers import assert_same_weights

from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.envs import IdentityEnv, IdentityEnvBox
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.logger import configure
from mlx_baselines3.contrib import ARS
from mlx_baselines3.contrib.ars import LinearPolicy, MlpPolicy
from mlx_baselines3.contrib.ars.policies import ARSLinearPolicy, ARSPolicy
from mlx_baselines3.contrib.common.vec_env import AsyncEval


def test_policies():
    assert ARS.policy_aliases == {"MlpPolicy": MlpPolicy, "LinearPolicy": LinearPolicy}
    assert (MlpPolicy, LinearPolicy) == (ARSPolicy, ARSLinearPolicy)
    model = ARS("LinearPolicy", "Pendulum-v1")
    # Linear, no bias, zero-initialized; actions clipped (not squashed) to the bounds.
    assert list(model.get_parameters()["policy"]) == ["action_net.0.weight"]
    assert model.n_params == 3 and np.all(np.array(model.weights) == 0)
    assert not model.policy.squash_output
    mlp = ARS("MlpPolicy", "Pendulum-v1", zero_policy=False, policy_kwargs=dict(net_arch=[16]))
    assert list(mlp.get_parameters()["policy"]) == [
        "action_net.0.weight",
        "action_net.0.bias",
        "action_net.2.weight",
        "action_net.2.bias",
    ]
    # Squashed output rescaled to Pendulum's [-2, 2].
    assert mlp.policy.squash_output
    actions, _ = mlp.predict(np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32) * 10)
    assert actions.shape == (50, 1) and np.all(np.abs(actions) <= 2) and np.abs(actions).max() > 0
    # A policy that has compiled its inference can still be copied and pickled (ARS and AsyncEval do both).
    import copy
    import pickle

    for clone in (copy.deepcopy(mlp.policy), pickle.loads(pickle.dumps(mlp.policy))):
        obs = np.ones((2, 3), dtype=np.float32)
        np.testing.assert_array_equal(clone.predict(obs)[0], mlp.predict(obs)[0])
    # Discrete actions: the argmax of the scores, as int64.
    discrete = ARS("MlpPolicy", "CartPole-v1", zero_policy=False)
    assert discrete.predict(np.zeros(4, dtype=np.float32))[0].dtype == np.int64


def test_update_follows_the_best_directions():
    # n_top=1: the step is along the direction whose better side did best, scaled by lr / (n_top * std).
    model = ARS("LinearPolicy", "CartPole-v1", n_delta=3, n_top=1, learning_rate=0.1, delta_std=0.5, seed=0)
    model.set_logger(configure(None, [""]))
    returns = np.array([5.0, 1.0, 9.0, 2.0, 3.0, 1.0], dtype=np.float32)
    model.evaluate_candidates = lambda candidates, callback, async_eval: returns  # type: ignore[method-assign]
    mx.random.seed(3)
    deltas = mx.random.normal((3, model.n_params))
    mx.random.seed(3)
    model._do_one_update(callback=None, async_eval=None)  # type: ignore[arg-type]
    # Best direction: index 2 (max(9, 1) = 9); plus - minus = 9 - 1 = 8; std of [9, 1] (unbiased) = 5.657.
    std = np.std([9.0, 1.0], ddof=1)
    expected = 0.1 / (1 * std + 1e-6) * 8.0 * np.array(deltas[2])
    np.testing.assert_allclose(np.array(model.weights), expected, rtol=1e-5)
    np.testing.assert_allclose(model.policy.parameters_to_vector(), expected, rtol=1e-5)
    logs = model.logger.name_to_value
    assert logs["train/step_size"] == pytest.approx(0.1 / (std + 1e-6))
    assert logs["rollout/return_std"] == pytest.approx(std)
    assert (logs["train/delta_std"], logs["train/learning_rate"]) == (0.5, 0.1)


def test_n_top_larger_than_n_delta_warns():
    with pytest.warns(UserWarning, match="setting n_top = n_delta"):
        model = ARS("LinearPolicy", "CartPole-v1", n_delta=4, n_top=6)
    assert model.n_top == 4


def test_bad_input():
    env = IdentityEnv(3)
    env.action_space = gym.spaces.MultiDiscrete([2, 2])
    with pytest.raises(ValueError, match="The algorithm only supports"):
        ARS("LinearPolicy", env)


def test_async_eval_matches_single_process():
    # The same candidates give the same returns in worker processes as here (deterministic policy, fixed seeds).
    model = ARS("LinearPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), n_delta=2, zero_policy=False, seed=0)
    candidates = mx.random.normal((4, model.n_params))
    async_eval = AsyncEval([lambda: make_vec_env("CartPole-v1", n_envs=1, seed=0) for _ in range(2)], model.policy)
    try:
        async_eval.send_jobs(candidates, 4)
        results = dict(async_eval.get_results())
        assert sorted(results) == [0, 1, 2, 3]
        # Worker 0 evaluated candidates 0 and 2 one after the other on its env: compare in that order.
        local_env = make_vec_env("CartPole-v1", n_envs=1, seed=0)
        for idx in (0, 2):
            model.policy.load_from_vector(np.array(candidates[idx]))
            rewards, lengths = evaluate_policy(model.policy, local_env, n_eval_episodes=1, return_episode_rewards=True)
            assert results[idx] == (rewards, lengths)
        assert async_eval.get_obs_rms() == [None, None]
    finally:
        async_eval.close()
    assert async_eval.closed and all(not process.is_alive() for process in async_eval.processes)


def test_zips_both_ways(tmp_path):
    pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    obs = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32)
    kwargs = dict(n_delta=2, seed=0, policy_kwargs=dict(net_arch=[8]))

    theirs = sb3_contrib.ARS("MlpPolicy", "Pendulum-v1", **kwargs).learn(800)
    theirs.save(tmp_path / "theirs.zip")
    ours = ARS.load(tmp_path / "theirs.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(ours.predict(obs)[0], theirs.predict(obs)[0], atol=1e-5)
    assert_same_weights(ours, theirs, atol=0)
    # Training continues from the loaded policy (its parameters are the weights).
    np.testing.assert_array_equal(np.array(ours.weights), theirs.policy.parameters_to_vector())
    ours.learn(800, reset_num_timesteps=False)
    assert ours._n_updates > theirs._n_updates

    ours.save(tmp_path / "ours.zip")
    reloaded = sb3_contrib.ARS.load(tmp_path / "ours.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(reloaded.predict(obs)[0], ours.predict(obs)[0], atol=1e-5)
    reloaded.learn(800, reset_num_timesteps=False)
    assert reloaded._n_updates > ours._n_updates


def test_learns_identity():
    env = IdentityEnvBox(eps=0.5)
    model = ARS("LinearPolicy", env, n_delta=4, learning_rate=0.1, delta_std=0.2, seed=0, policy_kwargs=dict(with_bias=True))
    model.learn(6000)
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=5, warn=False)
    assert mean_reward >= 90
