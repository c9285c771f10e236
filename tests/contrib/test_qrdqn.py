"""QR-DQN: the quantile Huber loss and one update against sb3-contrib, zips both ways, bad input, a learning check."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from contrib_helpers import assert_same_weights, quiet_loggers

from mlx_baselines3.common.envs import IdentityEnv, IdentityEnvBox
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.type_aliases import ReplayBufferSamples
from mlx_baselines3.contrib import QRDQN
from mlx_baselines3.contrib.common.utils import quantile_huber_loss
from mlx_baselines3.contrib.qrdqn import CnnPolicy, MlpPolicy, MultiInputPolicy

BATCH_SIZE = 16


def test_policy_aliases():
    assert QRDQN.policy_aliases == {"MlpPolicy": MlpPolicy, "CnnPolicy": CnnPolicy, "MultiInputPolicy": MultiInputPolicy}


@pytest.mark.parametrize(
    "current_shape, target_shape",
    [((6, 5), (6, 7)), ((6, 3, 5), (6, 1, 7)), ((6, 3, 5), (6, 3, 7))],
)
@pytest.mark.parametrize("sum_over_quantiles", [True, False])
@pytest.mark.parametrize("with_cum_prob", [False, True])
def test_quantile_huber_loss_matches_sb3_contrib(current_shape, target_shape, sum_over_quantiles, with_cum_prob):
    th = pytest.importorskip("torch")
    sb3_contrib_utils = pytest.importorskip("sb3_contrib.common.utils")
    rng = np.random.default_rng(0)
    # Scale 2: part of the pairwise errors fall beyond the Huber threshold of 1.
    current = (2 * rng.normal(size=current_shape)).astype(np.float32)
    target = (2 * rng.normal(size=target_shape)).astype(np.float32)
    cum_prob = np.sort(rng.random(current_shape), axis=-1).astype(np.float32)[..., None] if with_cum_prob else None
    ours = quantile_huber_loss(
        mx.array(current), mx.array(target), None if cum_prob is None else mx.array(cum_prob), sum_over_quantiles
    )
    theirs = sb3_contrib_utils.quantile_huber_loss(
        th.tensor(current), th.tensor(target), None if cum_prob is None else th.tensor(cum_prob), sum_over_quantiles
    )
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


def test_quantile_huber_loss_gradient():
    # A current quantile below every target is pulled up with weight tau; its gradient is -tau * |delta| capped at 1.
    current = mx.array([[0.0, 0.0]])
    target = mx.array([[3.0]])
    grad = mx.grad(lambda c: quantile_huber_loss(c, target))(current)
    np.testing.assert_allclose(np.array(grad), [[-0.25, -0.75]], rtol=1e-6)


@pytest.mark.parametrize(
    "current_shape, target_shape, message",
    [
        ((4, 5), (4, 1, 5), "dimension of curremt_quantile"),
        ((4, 5), (3, 5), "batch size of curremt_quantile"),
        ((4,), (4,), "needs to be either 2 or 3"),
    ],
)
def test_quantile_huber_loss_bad_shapes(current_shape, target_shape, message):
    with pytest.raises(ValueError, match=message):
        quantile_huber_loss(mx.zeros(current_shape), mx.zeros(target_shape))


def _batch(rng: np.random.Generator, discounts: bool) -> dict[str, np.ndarray]:
    data = dict(
        observations=rng.normal(size=(BATCH_SIZE, 4)).astype(np.float32),
        actions=rng.integers(0, 2, size=(BATCH_SIZE, 1)).astype(np.int64),
        next_observations=rng.normal(size=(BATCH_SIZE, 4)).astype(np.float32),
        dones=(rng.random((BATCH_SIZE, 1)) < 0.3).astype(np.float32),
        # Large rewards: part of the errors fall in the linear part of the Huber loss, and gradients get clipped.
        rewards=(5 * rng.normal(size=(BATCH_SIZE, 1))).astype(np.float32),
    )
    if discounts:
        data["discounts"] = (0.99 ** rng.integers(1, 4, size=(BATCH_SIZE, 1))).astype(np.float32)
    return data


@pytest.mark.parametrize("n_step_discounts, max_grad_norm", [(False, None), (True, 0.5)])
def test_update_matches_sb3_contrib(n_step_discounts, max_grad_norm):
    th = pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from stable_baselines3.common.type_aliases import ReplayBufferSamples as TorchReplayBufferSamples

    kwargs = dict(
        learning_rate=1e-3,
        batch_size=BATCH_SIZE,
        learning_starts=0,
        gamma=0.98,
        max_grad_norm=max_grad_norm,
        policy_kwargs=dict(net_arch=[32, 32], n_quantiles=11),
        seed=0,
    )
    theirs = sb3_contrib.QRDQN("MlpPolicy", gym.make("CartPole-v1"), device="cpu", **kwargs)
    ours = QRDQN("MlpPolicy", gym.make("CartPole-v1"), device="cpu", **kwargs)
    # A target network different from the online one, so that both enter the update.
    with th.no_grad():
        for param in theirs.quantile_net_target.parameters():
            param.add_(0.1 * th.randn_like(param))
    ours.set_parameters({"policy": {k: v.numpy() for k, v in theirs.policy.state_dict().items()}}, exact_match=False)
    assert_same_weights(ours, theirs, atol=0)
    quiet_loggers(ours, theirs)

    rng = np.random.default_rng(0)
    # Three steps: Adam's moments and bias correction enter from the second step on.
    for batch in [_batch(rng, n_step_discounts) for _ in range(3)]:
        theirs.replay_buffer.sample = lambda *_, batch=batch, **__: TorchReplayBufferSamples(
            **{key: th.as_tensor(value) for key, value in batch.items()}
        )
        ours.replay_buffer.sample_batches = lambda *_, batch=batch, **__: ReplayBufferSamples(
            **{key: mx.array(value) for key, value in batch.items()}
        )
        theirs.train(gradient_steps=1, batch_size=BATCH_SIZE)
        ours.train(gradient_steps=1, batch_size=BATCH_SIZE)
        assert_same_weights(ours, theirs)
        assert ours.logger.name_to_value["train/loss"] == pytest.approx(theirs.logger.name_to_value["train/loss"], rel=1e-5)


def test_defaults_match_sb3_contrib():
    model = QRDQN("MlpPolicy", "CartPole-v1", batch_size=64)
    # The paper's Adam epsilon, 0.01 / batch_size, unless an optimizer is given.
    assert model.policy.optimizer.eps == pytest.approx(0.01 / 64)
    assert model.n_quantiles == 200
    assert model.quantile_net(mx.zeros((3, 4))).shape == (3, 200, 2)
    assert (model.exploration_fraction, model.exploration_final_eps, model.max_grad_norm) == (0.005, 0.01, None)
    assert model.learning_rate == 5e-5


def test_zips_both_ways(tmp_path):
    th = pytest.importorskip("torch")
    sb3_contrib = pytest.importorskip("sb3_contrib")
    obs = np.random.default_rng(1).normal(size=(20, 4)).astype(np.float32)
    kwargs = dict(learning_starts=32, batch_size=32, train_freq=1, policy_kwargs=dict(n_quantiles=7), seed=0)

    # sb3-contrib -> ours: same greedy actions, optimizer state included; training continues here.
    theirs = sb3_contrib.QRDQN("MlpPolicy", "CartPole-v1", **kwargs).learn(100)
    theirs.save(tmp_path / "theirs.zip")
    ours = QRDQN.load(tmp_path / "theirs.zip", env=gym.make("CartPole-v1"))
    np.testing.assert_array_equal(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0])
    assert_same_weights(ours, theirs, atol=0)
    assert ours.n_quantiles == 7 and ours.policy.optimizer.eps == pytest.approx(0.01 / 32)
    ours.learn(100, reset_num_timesteps=False)
    assert ours._n_updates > theirs._n_updates

    # ours -> sb3-contrib: same greedy actions; training continues there.
    ours.save(tmp_path / "ours.zip")
    reloaded = sb3_contrib.QRDQN.load(tmp_path / "ours.zip", env=gym.make("CartPole-v1"))
    np.testing.assert_array_equal(reloaded.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0])
    assert isinstance(reloaded.policy.optimizer, th.optim.Adam)
    assert reloaded.policy.optimizer.param_groups[0]["eps"] == pytest.approx(0.01 / 32)
    reloaded.learn(100, reset_num_timesteps=False)
    assert reloaded._n_updates > ours._n_updates


def test_bad_hyperparameters():
    from mlx_baselines3.common.exceptions import UsageError

    with pytest.raises(UsageError, match="QRDQN: `exploration_final_eps` must be a number in"):
        QRDQN("MlpPolicy", "CartPole-v1", exploration_final_eps=1.5)
    with pytest.raises(UsageError, match="QRDQN: `max_grad_norm` must be a number >= 0"):
        QRDQN("MlpPolicy", "CartPole-v1", max_grad_norm=-1.0)


def test_unsupported_action_space():
    # SB3 asserts: the error is a ValueError (and an AssertionError once the base class raises UsageError).
    with pytest.raises(ValueError, match="The algorithm only supports"):
        QRDQN("MlpPolicy", IdentityEnvBox())


def test_learns_identity():
    # Greedy quantile means pick the rewarded action: 90 of 100 steps, SB3's identity threshold.
    env = IdentityEnv(4)
    model = QRDQN(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        learning_starts=0,
        gamma=0.4,
        target_update_interval=100,
        exploration_fraction=0.3,
        policy_kwargs=dict(n_quantiles=25),
        seed=1,
    ).learn(800)
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=10, warn=False)
    assert mean_reward >= 90
