"""TRPO: the conjugate gradient solver and one update (trust-region step with line search, critic epochs) against
sb3-contrib, zips both ways, bad input, a learning check."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from contrib_helpers import assert_same_weights, copy_weights_to_torch, quiet_loggers, share_rollout

from mlx_baselines3.common.envs import IdentityEnv
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.contrib import TRPO
from mlx_baselines3.contrib.common import utils
from mlx_baselines3.contrib.common.utils import conjugate_gradient_solver, flat_grad, flatten_arrays, unflatten_vector
from mlx_baselines3.contrib.trpo import CnnPolicy, MlpPolicy, MultiInputPolicy


def test_policy_aliases():
    from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, MultiInputActorCriticPolicy

    assert (MlpPolicy, CnnPolicy, MultiInputPolicy) == (ActorCriticPolicy, ActorCriticCnnPolicy, MultiInputActorCriticPolicy)
    assert TRPO.policy_aliases == {"MlpPolicy": MlpPolicy, "CnnPolicy": CnnPolicy, "MultiInputPolicy": MultiInputPolicy}


@pytest.mark.parametrize("max_iter", [0, 1, 3, 10])
def test_conjugate_gradient_matches_sb3_contrib(monkeypatch, max_iter):
    th = pytest.importorskip("torch")
    sb3_contrib_utils = pytest.importorskip("sb3_contrib.common.utils")
    rng = np.random.default_rng(0)
    root = rng.normal(size=(6, 6))
    matrix = (root @ root.T + 0.5 * np.eye(6)).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)
    # The same initial noise on both sides (sb3-contrib scales randn_like by 1e-4).
    noise = rng.normal(size=6).astype(np.float32)
    monkeypatch.setattr(utils, "_initial_guess", lambda _: 1e-4 * mx.array(noise))
    monkeypatch.setattr(sb3_contrib_utils.th, "randn_like", lambda _: th.tensor(noise))
    ours = conjugate_gradient_solver(lambda v: mx.array(matrix) @ v, mx.array(b), max_iter=max_iter)
    theirs = sb3_contrib_utils.conjugate_gradient_solver(lambda v: th.tensor(matrix) @ v, th.tensor(b), max_iter=max_iter)
    np.testing.assert_allclose(np.array(ours), theirs.numpy(), atol=1e-5)
    if max_iter == 10:
        # Converged (6 unknowns): stopping early left the exact solution unchanged.
        np.testing.assert_allclose(matrix @ np.array(ours), b, atol=1e-4)


def test_flat_helpers():
    arrays = [mx.arange(6).reshape(2, 3).astype(mx.float32), mx.array([7.0])]
    vector = flatten_arrays(arrays)
    assert vector.tolist() == [0, 1, 2, 3, 4, 5, 7]
    assert [a.tolist() for a in unflatten_vector(vector, arrays)] == [a.tolist() for a in arrays]
    # d/dw of sum(w0 ** 2) + 3 * w1 (arrays the function does not use would give zeros).
    grad = flat_grad(lambda ws: (ws[0] ** 2).sum() + 3 * ws[1].sum(), arrays)
    assert grad.tolist() == [0, 2, 4, 6, 8, 10, 3]


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("CartPole-v1", {}),
        ("Pendulum-v1", dict(sub_sampling_factor=2)),
        # Every candidate's KL read 1 too high (same derivatives): the line search fails and the actor is kept.
        ("CartPole-v1", dict(line_search_max_iter=3)),
    ],
)
def test_update_matches_sb3_contrib(monkeypatch, env_id, kwargs):
    th = pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    import sb3_contrib.trpo.trpo as sb3_contrib_trpo

    import mlx_baselines3.contrib.trpo.trpo as mlx_trpo

    # The solver starts from zero on both sides (the noise is drawn by different generators).
    monkeypatch.setattr(utils, "_initial_guess", mx.zeros_like)
    monkeypatch.setattr(sb3_contrib.common.utils.th, "randn_like", th.zeros_like)
    line_search_fails = kwargs.get("line_search_max_iter") == 3
    if line_search_fails:
        for module in (mlx_trpo, sb3_contrib_trpo):
            monkeypatch.setattr(module, "kl_divergence", lambda p, q, kl=module.kl_divergence: kl(p, q) + 1.0)
    n_steps = 64
    common = dict(n_steps=n_steps, batch_size=32, n_critic_updates=2, seed=1, policy_kwargs=dict(net_arch=[32, 32]))
    ours = TRPO("MlpPolicy", env_id, **common, **kwargs)
    theirs = sb3_contrib.TRPO("MlpPolicy", env_id, device="cpu", **common, **kwargs)
    copy_weights_to_torch(ours, theirs)
    share_rollout(ours, theirs, n_steps)
    quiet_loggers(ours, theirs)
    before = {key: np.array(value) for key, value in ours.get_parameters()["policy"].items()}
    # The same permutations of the rollout on both sides.
    np.random.seed(0)
    ours.train()
    np.random.seed(0)
    theirs.train()
    assert_same_weights(ours, theirs)
    ours_logs, theirs_logs = ours.logger.name_to_value, theirs.logger.name_to_value
    for key in ("train/policy_objective", "train/value_loss", "train/kl_divergence_loss", "train/is_line_search_success"):
        # abs: with normalized advantages the initial objective is a mean of about zero.
        assert ours_logs[key] == pytest.approx(theirs_logs[key], rel=1e-4, abs=1e-6), key
    moved = {key: np.abs(np.array(value) - before[key]).max() for key, value in ours.get_parameters()["policy"].items()}
    assert moved["value_net.weight"] > 1e-4
    if line_search_fails:
        assert ours_logs["train/is_line_search_success"] == 0.0 and moved["action_net.weight"] == 0.0
        assert ours_logs["train/kl_divergence_loss"] == 0.0
    else:
        assert ours_logs["train/is_line_search_success"] == 1.0 and moved["action_net.weight"] > 1e-4


def test_zips_both_ways(tmp_path):
    pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    obs = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32)
    kwargs = dict(n_steps=64, batch_size=32, n_critic_updates=2, seed=0)

    theirs = sb3_contrib.TRPO("MlpPolicy", "Pendulum-v1", **kwargs).learn(128)
    theirs.save(tmp_path / "theirs.zip")
    ours = TRPO.load(tmp_path / "theirs.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(
        ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], atol=1e-5, rtol=1e-5
    )
    assert_same_weights(ours, theirs, atol=0)
    assert (ours.cg_max_steps, ours.target_kl, ours.n_critic_updates) == (15, 0.01, 2)
    ours.learn(128, reset_num_timesteps=False)
    assert ours._n_updates == theirs._n_updates + 2

    ours.save(tmp_path / "ours.zip")
    reloaded = sb3_contrib.TRPO.load(tmp_path / "ours.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(
        reloaded.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0], atol=1e-5, rtol=1e-5
    )
    reloaded.learn(128, reset_num_timesteps=False)
    assert reloaded._n_updates == ours._n_updates + 2


def test_bad_input():
    with pytest.raises(UsageError, match="TRPO: `target_kl` must be a number > 0"):
        TRPO("MlpPolicy", "CartPole-v1", target_kl=0.0)
    with pytest.raises(UsageError, match="`n_steps \\* n_envs` must be greater than 1"):
        TRPO("MlpPolicy", "CartPole-v1", n_steps=1)
    with pytest.warns(UserWarning, match="mini-batch size of 48"):
        TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=48)
    env = IdentityEnv(4)
    env.action_space = gym.spaces.Tuple([gym.spaces.Discrete(2), gym.spaces.Discrete(2)])
    with pytest.raises(ValueError, match="The algorithm only supports"):
        TRPO("MlpPolicy", env, n_steps=8)


def test_learns_identity():
    env = IdentityEnv(4)
    model = TRPO("MlpPolicy", env, n_steps=128, batch_size=64, gamma=0.4, target_kl=0.05, seed=0).learn(768)
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=10, warn=False)
    assert mean_reward >= 90
