"""One DQN update from identical weights and batch gives SB3's new weights (needs torch and stable-baselines3)."""

import re

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_unflatten

from mlx_baselines3 import DQN
from mlx_baselines3.common import logger as mlx_logger
from mlx_baselines3.common.type_aliases import ReplayBufferSamples

th = pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.type_aliases import ReplayBufferSamples as TorchReplayBufferSamples  # noqa: E402

BATCH_SIZE = 16


def _mlx_key(torch_key: str) -> str:
    # nn.Sequential keeps its layers in a `layers` list in MLX: q_net.q_net.0.weight -> q_net.q_net.layers.0.weight
    return re.sub(r"\.(\d+)\.", r".layers.\1.", torch_key)


def _copy_weights(theirs, ours) -> None:
    state = [(_mlx_key(key), mx.array(value.detach().numpy())) for key, value in theirs.policy.state_dict().items()]
    ours.policy.update(tree_unflatten(state))
    mx.eval(ours.policy.parameters())


def _assert_same_weights(theirs, ours, atol=1e-5) -> None:
    ours_flat = dict(tree_flatten(ours.policy.parameters()))
    for key, value in theirs.policy.state_dict().items():
        np.testing.assert_allclose(np.array(ours_flat[_mlx_key(key)]), value.detach().numpy(), atol=atol, err_msg=key)


def _batch(rng: np.random.Generator, discounts: bool):
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


@pytest.mark.parametrize("n_step_discounts", [False, True])
@pytest.mark.parametrize("max_grad_norm", [10.0, 0.5])
def test_dqn_update_matches_sb3(n_step_discounts, max_grad_norm):
    kwargs = dict(
        learning_rate=1e-3,
        batch_size=BATCH_SIZE,
        learning_starts=0,
        gamma=0.98,
        max_grad_norm=max_grad_norm,
        policy_kwargs=dict(net_arch=[32, 32]),
        seed=0,
    )
    theirs = sb3.DQN("MlpPolicy", gym.make("CartPole-v1"), device="cpu", **kwargs)
    ours = DQN("MlpPolicy", gym.make("CartPole-v1"), device="cpu", **kwargs)
    # A target network different from the online one, so that both enter the update.
    with th.no_grad():
        for param in theirs.q_net_target.parameters():
            param.add_(0.1 * th.randn_like(param))
    _copy_weights(theirs, ours)
    _assert_same_weights(theirs, ours, atol=0)
    for model, configure in ((theirs, sb3.common.logger.configure), (ours, mlx_logger.configure)):
        model.set_logger(configure(None, [""]))

    rng = np.random.default_rng(0)
    batches = [_batch(rng, n_step_discounts) for _ in range(3)]
    # Three steps: Adam's bias correction and moments enter from the second step on.
    for batch in batches:
        theirs.replay_buffer.sample = lambda *_, batch=batch, **__: TorchReplayBufferSamples(
            **{key: th.as_tensor(value) for key, value in batch.items()}
        )
        ours.replay_buffer.sample_batches = lambda *_, batch=batch, **__: ReplayBufferSamples(
            **{key: mx.array(value) for key, value in batch.items()}
        )
        theirs.train(gradient_steps=1, batch_size=BATCH_SIZE)
        ours.train(gradient_steps=1, batch_size=BATCH_SIZE)
        _assert_same_weights(theirs, ours)
        assert ours.logger.name_to_value["train/loss"] == pytest.approx(theirs.logger.name_to_value["train/loss"], rel=1e-5)
