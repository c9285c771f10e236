"""CrossQ and BatchRenorm: layer and gradient steps against sb3-contrib (identical weights, statistics, batches and
noise), zips both ways, bad input, a learning check."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from contrib_helpers import assert_same_weights, copy_weights_to_torch, quiet_loggers

from mlx_baselines3.common.envs import IdentityEnv, IdentityEnvBox
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.type_aliases import ReplayBufferSamples
from mlx_baselines3.contrib import CrossQ
from mlx_baselines3.contrib.common.torch_layers import BatchRenorm1d
from mlx_baselines3.contrib.crossq import MlpPolicy

BATCH_SIZE = 64


def test_batch_renorm_matches_sb3_contrib():
    th = pytest.importorskip("torch")
    torch_layers = pytest.importorskip("sb3_contrib.common.torch_layers")
    ours, theirs = BatchRenorm1d(4, warmup_steps=3), torch_layers.BatchRenorm1d(4, warmup_steps=3)
    assert [key for key in ours.parameters()] == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    # Warm-up (batch statistics), then renormalization with the running statistics.
    for idx in range(6):
        x = (rng.normal(size=(8, 4)) * (idx + 1) + idx).astype(np.float32)
        np.testing.assert_allclose(np.array(ours(mx.array(x))), theirs(th.tensor(x)).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(ours.ra_var), theirs.ra_var.numpy(), rtol=1e-5)
    assert ours.steps.item() == theirs.steps.item() == 6
    ours.eval(), theirs.eval()
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(np.array(ours(mx.array(x))), theirs(th.tensor(x)).detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="Expected 2D or 3D input"):
        ours(mx.zeros(4))


@pytest.mark.parametrize("warmup_steps", [100, 0])
def test_batch_renorm_gradient_is_finite_for_constant_features(warmup_steps):
    # A constant feature (zero batch variance, e.g. a dead ReLU unit) must not turn the gradient into NaN, during the
    # warm-up or after it (torch's ReLU drops the NaN such a feature gets; MLX's would spread it).
    layer = BatchRenorm1d(2, warmup_steps=warmup_steps)
    layer.steps = mx.array(1, dtype=mx.int64)
    layer.ra_mean = mx.array([0.1, 0.1])
    x = mx.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    grad = mx.grad(lambda x: (layer(x) * mx.array([1.0, 2.0])).sum())(x)
    assert np.all(np.isfinite(np.array(grad)))
    np.testing.assert_allclose(np.array(grad)[:, 1], 0.0, atol=1e-4)


def test_policy():
    assert CrossQ.policy_aliases == {"MlpPolicy": MlpPolicy}
    model = CrossQ("MlpPolicy", "Pendulum-v1")
    # sb3-contrib's defaults: wide critic, Adam with beta1 = 0.5, no target network.
    assert model.critic.qf0.layers[1].weight.shape == (1024, 4)
    assert model.actor.optimizer.betas == [0.5, 0.999]
    assert "critic_target" not in model.policy and model.policy_delay == 3
    keys = list(model.get_parameters()["policy"])
    assert keys[:6] == [
        "actor.latent_pi.0.scale",
        "actor.latent_pi.0.bias",
        "actor.latent_pi.0.ra_mean",
        "actor.latent_pi.0.ra_var",
        "actor.latent_pi.0.steps",
        "actor.latent_pi.1.weight",
    ]


@pytest.mark.parametrize("ent_coef", ["auto", 0.1])
def test_update_matches_sb3_contrib(monkeypatch, ent_coef):
    th = pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from stable_baselines3.common.type_aliases import ReplayBufferSamples as TorchReplayBufferSamples

    gradient_steps, policy_delay = 4, 2
    kwargs = dict(
        batch_size=BATCH_SIZE,
        ent_coef=ent_coef,
        policy_delay=policy_delay,
        learning_rate=1e-3,
        # Two critic steps of warm-up, then renormalization with the running statistics. Adam's eps above its default:
        # a bias feeding a BatchRenorm in training mode has a gradient of exactly zero in exact arithmetic (the layer
        # removes any shift), so each library gets float noise there, which Adam with eps=1e-8 turns into full-size
        # steps of random sign (eps=1e-3 keeps them below 1e-6).
        policy_kwargs=dict(
            net_arch=dict(pi=[32, 32], qf=[64, 64]),
            renorm_warmup_steps=2,
            optimizer_kwargs=dict(betas=(0.5, 0.999), eps=1e-3),
        ),
        seed=0,
    )
    ours = CrossQ("MlpPolicy", "Pendulum-v1", **kwargs)
    theirs = sb3_contrib.CrossQ("MlpPolicy", "Pendulum-v1", device="cpu", **kwargs)
    copy_weights_to_torch(ours, theirs)
    quiet_loggers(ours, theirs)

    rng = np.random.default_rng(0)
    batches = [
        dict(
            observations=rng.normal(size=(BATCH_SIZE, 3)).astype(np.float32),
            actions=rng.uniform(-1, 1, size=(BATCH_SIZE, 1)).astype(np.float32),
            next_observations=rng.normal(size=(BATCH_SIZE, 3)).astype(np.float32),
            dones=(rng.uniform(size=(BATCH_SIZE, 1)) < 0.2).astype(np.float32),
            rewards=(3 * rng.normal(size=(BATCH_SIZE, 1))).astype(np.float32),
        )
        for _ in range(gradient_steps)
    ]
    mlx_batches = [ReplayBufferSamples(**{k: mx.array(v) for k, v in batch.items()}) for batch in batches]
    ours._replay_batches = lambda gradient_steps, batch_size: iter(mlx_batches[:gradient_steps])
    torch_batches = iter([TorchReplayBufferSamples(**{k: th.tensor(v) for k, v in batch.items()}) for batch in batches])
    theirs.replay_buffer.sample = lambda batch_size, env=None: next(torch_batches)

    # The same reparameterization noise. Ours draws, per step, [observations, next observations]; sb3-contrib samples
    # the next actions first, then (on the actor's steps: 2 and 4) the actions of the observations.
    noise = rng.normal(size=(gradient_steps, 2, BATCH_SIZE, 1)).astype(np.float32)
    order = [
        noise[step, part] for step in range(gradient_steps) for part in ((1, 0) if (step + 1) % policy_delay == 0 else (1,))
    ]
    torch_noise = iter(th.tensor(np.stack(order)))

    def rsample(self, sample_shape=()):
        return self.loc + self.scale * next(torch_noise)

    monkeypatch.setattr(th.distributions.Normal, "rsample", rsample)
    monkeypatch.setattr(mx.random, "normal", lambda shape, *args, **kwargs: mx.array(noise).reshape(shape))

    ours.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)
    theirs.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)

    # Weights, running statistics and step counters of every BatchRenorm layer.
    assert_same_weights(ours, theirs)
    assert ours.critic.qf0.layers[0].steps.item() == theirs.critic.qf0[0].steps.item() == gradient_steps
    assert ours.actor.latent_pi.layers[0].steps.item() == theirs.actor.latent_pi[0].steps.item() == 2
    keys = ["train/critic_loss", "train/actor_loss", "train/ent_coef"]
    if ent_coef == "auto":
        np.testing.assert_allclose(np.array(ours.log_ent_coef), theirs.log_ent_coef.detach().numpy(), atol=1e-5)
        keys.append("train/ent_coef_loss")
    for key in keys:
        assert ours.logger.name_to_value[key] == pytest.approx(theirs.logger.name_to_value[key], rel=1e-4, abs=1e-5), key
    assert ours.logger.name_to_value["train/n_updates"] == theirs.logger.name_to_value["train/n_updates"] == 4


def test_zips_both_ways(tmp_path):
    pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    obs = np.random.default_rng(1).normal(size=(20, 3)).astype(np.float32)
    kwargs = dict(learning_starts=32, batch_size=32, seed=0, policy_kwargs=dict(net_arch=[32]))

    theirs = sb3_contrib.CrossQ("MlpPolicy", "Pendulum-v1", **kwargs).learn(64)
    theirs.save(tmp_path / "theirs.zip")
    ours = CrossQ.load(tmp_path / "theirs.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], atol=1e-5)
    assert_same_weights(ours, theirs, atol=0)
    ours.learn(64, reset_num_timesteps=False)
    assert ours._n_updates == theirs._n_updates + 64

    ours.save(tmp_path / "ours.zip")
    reloaded = sb3_contrib.CrossQ.load(tmp_path / "ours.zip", env=gym.make("Pendulum-v1"))
    np.testing.assert_allclose(
        reloaded.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0], atol=1e-5
    )
    assert reloaded.actor.latent_pi[0].steps.item() == ours.actor.latent_pi.layers[0].steps.item() > 0
    reloaded.learn(64, reset_num_timesteps=False)
    assert reloaded._n_updates == ours._n_updates + 64


def test_unsupported_action_space():
    with pytest.raises(ValueError, match="The algorithm only supports"):
        CrossQ("MlpPolicy", IdentityEnv(3))


def test_learns_identity():
    env = IdentityEnvBox(eps=0.5)
    model = CrossQ(
        "MlpPolicy", env, gamma=0.5, policy_delay=1, learning_starts=50, seed=0, policy_kwargs=dict(net_arch=[64, 64])
    )
    model.learn(600)
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=5, warn=False)
    assert mean_reward >= 90
