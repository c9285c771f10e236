"""gSDE parity with SB3: the same log-probabilities, entropies, noise and KL from the same parameters, and the same
policy outputs from the same weights."""

import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3 import PPO
from mlx_baselines3.common.distributions import StateDependentNoiseDistribution, kl_divergence
from mlx_baselines3.common.policies import ActorCriticPolicy
from mlx_baselines3.common.save_util import load_module_state_dict

th = pytest.importorskip("torch")
sb3_distributions = pytest.importorskip("stable_baselines3.common.distributions")
sb3_policies = pytest.importorskip("stable_baselines3.common.policies")

BATCH, LATENT, ACTION_DIM = 6, 5, 3
CONFIGS = [
    dict(full_std=True, use_expln=False, squash_output=False),
    dict(full_std=False, use_expln=False, squash_output=False),
    dict(full_std=True, use_expln=True, squash_output=False),
    dict(full_std=False, use_expln=True, squash_output=True),
    dict(full_std=True, use_expln=False, squash_output=True, learn_features=True),
]


def _pair(config: dict, seed: int):
    """Our distribution and SB3's, with the same random parameters and inputs."""
    rng = np.random.default_rng(seed)
    ours = StateDependentNoiseDistribution(ACTION_DIM, **config)
    theirs = sb3_distributions.StateDependentNoiseDistribution(ACTION_DIM, **config)
    _, log_std = ours.proba_distribution_net(latent_dim=LATENT, log_std_init=-1.0)
    _, th_log_std = theirs.proba_distribution_net(latent_dim=LATENT, log_std_init=-1.0)
    # Values on both sides of 0 exercise both branches of expln.
    log_std_np = rng.uniform(-1.5, 1.5, size=log_std.shape).astype(np.float32)
    assert th_log_std.shape == tuple(log_std.shape)
    mean = rng.normal(size=(BATCH, ACTION_DIM)).astype(np.float32)
    latent = rng.normal(size=(BATCH, LATENT)).astype(np.float32)
    dist = ours.proba_distribution(mx.array(mean), mx.array(log_std_np), mx.array(latent))
    th_dist = theirs.proba_distribution(th.tensor(mean), th.tensor(log_std_np), th.tensor(latent))
    return dist, th_dist, log_std_np, rng


@pytest.mark.parametrize("config", CONFIGS)
def test_log_prob_and_entropy_match_sb3(config):
    dist, th_dist, _, rng = _pair(config, seed=0)
    if config["squash_output"]:
        actions = rng.uniform(-0.99, 0.99, size=(BATCH, ACTION_DIM)).astype(np.float32)
    else:
        actions = rng.normal(size=(BATCH, ACTION_DIM)).astype(np.float32) * 2
    np.testing.assert_allclose(
        np.array(dist.log_prob(mx.array(actions))), th_dist.log_prob(th.tensor(actions)).numpy(), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(np.array(dist.stddev), th_dist.distribution.stddev.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.array(dist.mode()), th_dist.mode().numpy(), rtol=1e-6)
    if config["squash_output"]:
        assert dist.entropy() is None and th_dist.entropy() is None
    else:
        np.testing.assert_allclose(np.array(dist.entropy()), th_dist.entropy().numpy(), rtol=1e-5)


@pytest.mark.parametrize("config", CONFIGS)
def test_std_and_noise_match_sb3(config):
    dist, th_dist, log_std_np, rng = _pair(config, seed=1)
    np.testing.assert_allclose(
        np.array(dist.get_std(mx.array(log_std_np))), th_dist.get_std(th.tensor(log_std_np)).numpy(), rtol=1e-6
    )
    # The same exploration matrices give the same noise and actions: one matrix per env for a batch of n_envs rows,
    # the shared matrix for a single row.
    matrices = rng.normal(size=(BATCH, LATENT, ACTION_DIM)).astype(np.float32)
    shared = rng.normal(size=(LATENT, ACTION_DIM)).astype(np.float32)
    dist.exploration_state.update(exploration_mat=mx.array(shared), exploration_matrices=mx.array(matrices))
    th_dist.exploration_mat, th_dist.exploration_matrices = th.tensor(shared), th.tensor(matrices)
    latent = rng.normal(size=(BATCH, LATENT)).astype(np.float32)
    np.testing.assert_allclose(
        np.array(dist.get_noise(mx.array(latent))), th_dist.get_noise(th.tensor(latent)).numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        np.array(dist.get_noise(mx.array(latent[:1]))), th_dist.get_noise(th.tensor(latent[:1])).numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(np.array(dist.sample()), th_dist.sample().numpy(), rtol=1e-5, atol=1e-6)


def test_kl_matches_sb3():
    config = dict(full_std=True, use_expln=False, squash_output=False)
    p, th_p, _, _ = _pair(config, seed=2)
    q, th_q, _, _ = _pair(config, seed=3)
    expected = sb3_distributions.kl_divergence(th_p, th_q).numpy()
    np.testing.assert_allclose(np.array(kl_divergence(p, q)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("squash_output", [False, True])
def test_policy_outputs_match_sb3(squash_output):
    obs_space, action_space = spaces.Box(-5, 5, (4,), dtype=np.float32), spaces.Box(-2, 2, (2,), dtype=np.float32)
    kwargs = dict(use_sde=True, net_arch=[16], log_std_init=-1.0, squash_output=squash_output, full_std=not squash_output)
    th.manual_seed(0)
    theirs = sb3_policies.ActorCriticPolicy(obs_space, action_space, lambda _: 1e-3, **kwargs)
    ours = ActorCriticPolicy(obs_space, action_space, lambda _: 1e-3, **kwargs)
    state = {key: value.detach().numpy() for key, value in theirs.state_dict().items()}
    state["log_std"] = np.random.default_rng(0).uniform(-1, 0, size=state["log_std"].shape).astype(np.float32)
    load_module_state_dict(ours, state)
    theirs.load_state_dict({key: th.as_tensor(value) for key, value in state.items()})

    rng = np.random.default_rng(1)
    obs = rng.uniform(-5, 5, size=(BATCH, 4)).astype(np.float32)
    actions = rng.uniform(-0.9, 0.9, size=(BATCH, 2)).astype(np.float32)
    with th.no_grad():
        th_values, th_log_prob, th_entropy = theirs.evaluate_actions(th.as_tensor(obs), th.as_tensor(actions))
    values, log_prob, entropy = ours.evaluate_actions(mx.array(obs), mx.array(actions))
    np.testing.assert_allclose(np.array(values), th_values.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(log_prob), th_log_prob.numpy(), rtol=1e-5, atol=1e-5)
    if squash_output:
        assert entropy is None and th_entropy is None
    else:
        np.testing.assert_allclose(np.array(entropy), th_entropy.numpy(), rtol=1e-5, atol=1e-5)

    # Same exploration matrices (one per env) -> same sampled actions, values and log-probabilities.
    ours.reset_noise(BATCH)
    theirs.action_dist.exploration_mat = th.as_tensor(np.array(ours.action_dist.exploration_mat))
    theirs.action_dist.exploration_matrices = th.as_tensor(np.array(ours.action_dist.exploration_matrices))
    with th.no_grad():
        th_actions, th_values, th_log_prob = theirs(th.as_tensor(obs))
    sampled, values, log_prob = ours.act(mx.array(obs))
    np.testing.assert_allclose(np.array(sampled), th_actions.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(values), th_values.numpy().ravel(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(log_prob), th_log_prob.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(ours.predict(obs)[0], theirs.predict(obs)[0], rtol=1e-5, atol=1e-5)


def test_gsde_zips_load_both_ways(tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    kwargs = dict(use_sde=True, n_steps=16, batch_size=16, policy_kwargs=dict(net_arch=[16], log_std_init=-1.0))
    ours = PPO("MlpPolicy", "Pendulum-v1", seed=0, **kwargs).learn(16)
    ours.save(tmp_path / "ours.zip")
    theirs = sb3.PPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", **kwargs).learn(16)
    theirs.save(tmp_path / "theirs.zip")
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    for mlx_model, torch_model in (
        (ours, sb3.PPO.load(tmp_path / "ours.zip", device="cpu")),
        (PPO.load(tmp_path / "theirs.zip"), theirs),
    ):
        assert torch_model.use_sde and mlx_model.use_sde
        np.testing.assert_allclose(mlx_model.policy.log_std, torch_model.policy.log_std.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(
            mlx_model.predict(obs, deterministic=True)[0],
            torch_model.predict(obs, deterministic=True)[0],
            rtol=1e-5,
            atol=1e-5,
        )
