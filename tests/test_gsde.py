"""gSDE: the distribution's maths and shapes, and PPO/A2C rollouts that use the exploration matrices drawn by the latest
reset_noise() (resampled every sde_sample_freq steps), with deterministic predictions deterministic."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from mlx_baselines3 import A2C, PPO
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.distributions import StateDependentNoiseDistribution, make_proba_distribution
from mlx_baselines3.common.save_util import module_state_dict
from mlx_baselines3.common.vec_env import DummyVecEnv

LATENT, ACTION_DIM = 4, 2


def test_make_proba_distribution_with_sde():
    space = gym.spaces.Box(-1, 1, (ACTION_DIM,))
    dist = make_proba_distribution(space, use_sde=True, dist_kwargs=dict(full_std=False, use_expln=True, squash_output=True))
    assert isinstance(dist, StateDependentNoiseDistribution)
    assert dist.action_dim == ACTION_DIM and not dist.full_std and dist.use_expln and dist.bijector is not None


@pytest.mark.parametrize("full_std", [True, False])
def test_shapes(full_std):
    dist = StateDependentNoiseDistribution(ACTION_DIM, full_std=full_std)
    action_net, log_std = dist.proba_distribution_net(latent_dim=LATENT, log_std_init=-0.5)
    assert action_net.weight.shape == (ACTION_DIM, LATENT)
    assert log_std.shape == ((LATENT, ACTION_DIM) if full_std else (LATENT, 1))
    np.testing.assert_array_equal(np.array(log_std), -0.5)
    # The std of the weights always covers every (feature, action) pair.
    assert dist.get_std(log_std).shape == (LATENT, ACTION_DIM)
    assert dist.exploration_mat.shape == (LATENT, ACTION_DIM) and dist.exploration_matrices.shape == (1, LATENT, ACTION_DIM)
    dist.sample_weights(log_std, batch_size=3)
    assert dist.exploration_matrices.shape == (3, LATENT, ACTION_DIM)


def test_expln_std():
    dist = StateDependentNoiseDistribution(1, use_expln=True, epsilon=1e-6)
    dist.proba_distribution_net(latent_dim=3)
    std = np.array(dist.get_std(mx.array([[-1.0], [0.0], [2.0]])))
    np.testing.assert_allclose(std[:, 0], [np.exp(-1.0), 1.0, np.log1p(2.0 + 1e-6) + 1.0], rtol=1e-6)
    # The gradient stays finite on both sides of 0.
    grad = mx.grad(lambda x: dist.get_std(x).sum())(mx.array([[-1.0], [0.0], [2.0]]))
    np.testing.assert_allclose(np.array(grad)[:, 0], [np.exp(-1.0), 1.0, 1.0 / (3.0 + 1e-6)], rtol=1e-5)


def test_noise_statistics_match_the_gaussian():
    # Over many draws of the exploration matrix, latent @ W is Gaussian with the std that log_prob uses.
    mx.random.seed(0)
    dist = StateDependentNoiseDistribution(ACTION_DIM)
    _, log_std = dist.proba_distribution_net(latent_dim=LATENT)
    log_std = mx.array(np.random.default_rng(0).uniform(-1, 0.5, size=(LATENT, ACTION_DIM)).astype(np.float32))
    n = 20000
    dist.sample_weights(log_std, batch_size=n)
    latent = mx.broadcast_to(mx.array([[0.5, -1.0, 2.0, 0.1]]), (n, LATENT))
    mean = mx.broadcast_to(mx.array([[1.0, -3.0]]), (n, ACTION_DIM))
    gaussian = dist.proba_distribution(mean, log_std, latent)
    samples = np.array(gaussian.sample())
    np.testing.assert_allclose(samples.mean(axis=0), [1.0, -3.0], atol=0.05)
    np.testing.assert_allclose(samples.std(axis=0), np.array(gaussian.stddev)[0], rtol=0.03)
    np.testing.assert_array_equal(np.array(gaussian.mode()), np.array(mean))
    # Squashed: actions in [-1, 1], mode is tanh(mean), no closed-form entropy.
    squashed = StateDependentNoiseDistribution(ACTION_DIM, squash_output=True)
    squashed.proba_distribution_net(latent_dim=LATENT)
    squashed.sample_weights(log_std + 2.0, batch_size=n)
    squashed = squashed.proba_distribution(mean, log_std + 2.0, latent)
    assert np.all(np.abs(np.array(squashed.sample())) <= 1.0) and squashed.entropy() is None
    np.testing.assert_allclose(np.array(squashed.mode())[0], np.tanh([1.0, -3.0]), rtol=1e-6)


def test_learn_features_controls_gradients_through_the_latent():
    for learn_features, expect_zero in ((False, True), (True, False)):
        dist = StateDependentNoiseDistribution(1, learn_features=learn_features)
        _, log_std = dist.proba_distribution_net(latent_dim=2)

        def log_prob(latent, dist=dist, log_std=log_std):
            return dist.proba_distribution(mx.zeros((1, 1)), log_std, latent).log_prob(mx.ones((1, 1))).sum()

        grad = np.array(mx.grad(log_prob)(mx.array([[0.3, -0.7]])))
        assert np.all(grad == 0) == expect_zero


def test_exploration_matrices_are_state_not_parameters():
    model = PPO("MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=8, batch_size=8, policy_kwargs=dict(net_arch=[8]))
    policy = model.policy
    assert policy.log_std.shape == (8, 1)
    assert policy._exploration_state is policy.action_dist.exploration_state
    assert "_exploration_state" in policy.state
    names = [name for name, _ in tree_flatten(policy.trainable_parameters())]
    assert "log_std" in names and not any("exploration" in name for name in names)
    # Saved state dicts hold SB3's keys only.
    keys = list(module_state_dict(policy))
    assert keys[0] == "log_std" and not any("exploration" in key for key in keys)
    sb3 = pytest.importorskip("stable_baselines3")
    theirs = sb3.PPO("MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=8, batch_size=8, policy_kwargs=dict(net_arch=[8]))
    assert keys == list(theirs.policy.state_dict())


class RecordNoise(BaseCallback):
    """
    Record, at each step, the exploration matrices in use, the actions the compiled rollout function returned, and the
    actions computed by hand from the current weights and matrices: ``mean + latent @ W``, with one matrix per env
    (the shared matrix for a single env).
    """

    def __init__(self):
        super().__init__()
        self.records = []

    def _on_step(self) -> bool:
        policy = self.model.policy
        dist = policy.action_dist
        obs = mx.array(self.model._last_obs)
        latent = policy.mlp_extractor.forward_actor(policy.extract_features(obs, policy.features_extractor))
        mean, latent = np.array(policy.action_net(latent)), np.array(latent)
        mat, matrices = np.array(dist.exploration_mat), np.array(dist.exploration_matrices)
        noise = latent @ mat if len(latent) == 1 else np.einsum("bi,bij->bj", latent, matrices)
        self.records.append(dict(actions=self.locals["actions"].copy(), expected=mean + noise, matrices=matrices))
        return True


@pytest.mark.parametrize("algo, n_envs, sde_sample_freq", [(PPO, 2, -1), (PPO, 2, 3), (A2C, 1, 2)])
def test_rollouts_use_the_current_noise(algo, n_envs, sde_sample_freq):
    n_steps = 6
    env = DummyVecEnv([lambda: gym.make("Pendulum-v1")] * n_envs)
    kwargs = dict(batch_size=n_steps * n_envs) if algo is PPO else {}
    model = algo(
        "MlpPolicy",
        env,
        use_sde=True,
        sde_sample_freq=sde_sample_freq,
        n_steps=n_steps,
        seed=0,
        policy_kwargs=dict(net_arch=[8], log_std_init=0.0),
        **kwargs,
    )
    callback = RecordNoise()
    model.learn(2 * n_steps * n_envs, callback=callback)
    records = callback.records
    assert len(records) == 2 * n_steps
    period = n_steps if sde_sample_freq == -1 else sde_sample_freq
    for i, record in enumerate(records):
        # New matrices exactly at the start of each rollout and every sde_sample_freq steps in it.
        step_in_rollout = i % n_steps
        changed = i > 0 and not np.array_equal(record["matrices"], records[i - 1]["matrices"])
        assert changed == (i > 0 and step_in_rollout % period == 0), i
        assert record["matrices"].shape == (n_envs, 8, 1)
        # The compiled rollout function saw this step's matrices, not those of its first trace.
        np.testing.assert_allclose(record["actions"], record["expected"], rtol=1e-4, atol=1e-5)


def test_predict_with_gsde():
    model = PPO(
        "MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=16, batch_size=16, seed=1, policy_kwargs=dict(log_std_init=0.0)
    )
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    deterministic, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(deterministic, model.predict(obs, deterministic=True)[0])
    mean = np.array(model.policy.get_distribution(mx.array(obs)).mode())
    np.testing.assert_allclose(deterministic, np.clip(mean, -2, 2), rtol=1e-6)
    # Between two reset_noise() calls the exploration is a fixed function of the state.
    model.policy.reset_noise(5)
    first, _ = model.predict(obs)
    np.testing.assert_array_equal(first, model.predict(obs)[0])
    assert not np.allclose(first, deterministic)
    model.policy.reset_noise(5)
    assert not np.allclose(first, model.predict(obs)[0])


def test_squashed_gsde_rescales_to_the_action_bounds():
    env = gym.make("Pendulum-v1")  # actions in [-2, 2]
    model = A2C(
        "MlpPolicy",
        env,
        use_sde=True,
        n_steps=8,
        seed=0,
        policy_kwargs=dict(squash_output=True, full_std=False, use_expln=True, log_std_init=1.0, net_arch=[8]),
    )
    model.learn(16)
    obs = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32) * 5
    model.policy.reset_noise(200)
    actions, _ = model.predict(obs)
    assert np.all(np.abs(actions) <= 2.0) and actions.std() > 0.1
    squashed_mean = np.array(model.policy.get_distribution(mx.array(obs)).mode())
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0], 2.0 * squashed_mean, rtol=1e-5, atol=1e-6)


def test_reset_noise_needs_gsde():
    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=8, batch_size=8)
    with pytest.raises(ValueError, match="only available when using gSDE"):
        model.policy.reset_noise()


def test_save_load_keeps_gsde(tmp_path):
    model = PPO(
        "MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=16, batch_size=16, seed=0, policy_kwargs=dict(full_std=False)
    )
    model.learn(16)
    model.save(tmp_path / "gsde.zip")
    loaded = PPO.load(tmp_path / "gsde.zip")
    assert loaded.use_sde and isinstance(loaded.policy.action_dist, StateDependentNoiseDistribution)
    assert not loaded.policy.action_dist.full_std
    np.testing.assert_array_equal(np.array(loaded.policy.log_std), np.array(model.policy.log_std))
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    # The loaded policy's compiled functions follow its own exploration matrices.
    loaded.policy.reset_noise(4)
    first = loaded.predict(obs)[0]
    np.testing.assert_array_equal(first, loaded.predict(obs)[0])
    loaded.policy.reset_noise(4)
    assert not np.allclose(first, loaded.predict(obs)[0])
