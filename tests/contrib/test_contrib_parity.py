"""
MaskablePPO and RecurrentPPO against sb3-contrib (torch): masked distributions give the same log-probabilities and
entropies, and one update (two epochs of minibatches) from identical weights and rollout gives the same new weights.
The weights go over through our state-dict mapping (torch keys, LSTM parameters included), both ways.
"""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.logger import configure
from mlx_baselines3.common.save_util import load_module_state_dict, module_state_dict
from mlx_baselines3.contrib import MaskablePPO, RecurrentPPO
from mlx_baselines3.contrib.common.envs import (
    InvalidActionEnvDiscrete,
    InvalidActionEnvMultiBinary,
    InvalidActionEnvMultiDiscrete,
)
from mlx_baselines3.contrib.common.maskable.distributions import (
    MaskableBernoulliDistribution,
    MaskableCategoricalDistribution,
    MaskableMultiCategoricalDistribution,
)

th = pytest.importorskip("torch")
# One torch thread: on a small shared CPU, torch's thread pool spins against everything else (LSTM backward 50x slower).
th.set_num_threads(1)
sb3_contrib = pytest.importorskip("sb3_contrib")
from sb3_contrib.common.maskable import distributions as their_distributions  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env  # noqa: E402


class _Nothing(BaseCallback):
    def _on_step(self) -> bool:
        return True


def _to_torch(ours, theirs) -> None:
    state = {key: th.as_tensor(np.array(value)) for key, value in module_state_dict(ours.policy).items()}
    theirs.policy.load_state_dict(state, strict=True)


def _assert_same_weights(ours, theirs, atol=1e-5) -> int:
    theirs_state = theirs.policy.state_dict()
    ours_state = module_state_dict(ours.policy)
    assert set(ours_state) == set(theirs_state)
    for key, value in ours_state.items():
        np.testing.assert_allclose(np.array(value), theirs_state[key].numpy(), atol=atol, rtol=1e-4, err_msg=key)
    return len(ours_state)


def _collect_with_sb3(theirs, n_steps: int) -> None:
    theirs._setup_learn(total_timesteps=n_steps, callback=None)
    callback = _Nothing()
    callback.init_callback(theirs)
    theirs.collect_rollouts(theirs.env, callback, theirs.rollout_buffer, n_rollout_steps=n_steps)


def _copy_buffer(ours, theirs, names) -> None:
    for name in names:
        setattr(ours.rollout_buffer, name, getattr(theirs.rollout_buffer, name).copy())
    ours.rollout_buffer.full = True
    ours.rollout_buffer.generator_ready = False
    for model in (ours, theirs):
        model.set_logger(configure(None, [""]))


_ROLLOUT = ("observations", "actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages")


def _train_both(ours, theirs) -> None:
    # Same minibatches on both sides: both buffers draw from NumPy's global generator.
    np.random.seed(7)
    ours.train()
    np.random.seed(7)
    theirs.train()


@pytest.mark.parametrize(
    "env_class, kwargs",
    [
        (InvalidActionEnvDiscrete, dict(dim=8, n_invalid_actions=4)),
        (InvalidActionEnvMultiDiscrete, dict(dims=[3, 4], n_invalid_actions=3)),
        (InvalidActionEnvMultiBinary, dict(dims=3, n_invalid_actions=2)),
    ],
)
def test_maskable_ppo_update_parity(env_class, kwargs):
    n_steps = 32
    settings = dict(n_steps=n_steps, batch_size=16, n_epochs=2, ent_coef=0.01, clip_range_vf=0.2, seed=3)
    ours = MaskablePPO("MlpPolicy", make_vec_env(env_class, n_envs=2, env_kwargs=kwargs), **settings)
    theirs = sb3_contrib.MaskablePPO("MlpPolicy", sb3_make_vec_env(env_class, n_envs=2, env_kwargs=kwargs), **settings)
    _to_torch(ours, theirs)
    _collect_with_sb3(theirs, n_steps)
    _copy_buffer(ours, theirs, (*_ROLLOUT, "action_masks"))
    # Masks really constrained the rollout.
    assert (ours.rollout_buffer.action_masks == 0).any()
    _train_both(ours, theirs)
    assert _assert_same_weights(ours, theirs) >= 12
    assert ours._n_updates == theirs._n_updates == 2


@pytest.mark.parametrize(
    "policy_kwargs",
    [
        dict(lstm_hidden_size=16),
        dict(lstm_hidden_size=8, n_lstm_layers=2, shared_lstm=True, enable_critic_lstm=False),
        dict(lstm_hidden_size=8, enable_critic_lstm=False, net_arch=dict(pi=[16], vf=[8])),
    ],
)
def test_recurrent_ppo_update_parity(policy_kwargs):
    n_steps = 32
    settings = dict(n_steps=n_steps, batch_size=24, n_epochs=2, ent_coef=0.01, clip_range_vf=0.2, seed=5)
    settings["policy_kwargs"] = policy_kwargs
    ours = RecurrentPPO("MlpLstmPolicy", make_vec_env("CartPole-v1", n_envs=2), **settings)
    theirs = sb3_contrib.RecurrentPPO("MlpLstmPolicy", sb3_make_vec_env("CartPole-v1", n_envs=2), **settings)
    _to_torch(ours, theirs)
    _collect_with_sb3(theirs, n_steps)
    states = ("hidden_states_pi", "cell_states_pi", "hidden_states_vf", "cell_states_vf")
    _copy_buffer(ours, theirs, (*_ROLLOUT, *states))
    # Episodes ended inside the rollout: the sequences are cut and the states reset mid-minibatch.
    assert ours.rollout_buffer.episode_starts[1:].any()
    assert np.abs(ours.rollout_buffer.hidden_states_pi).max() > 0
    _train_both(ours, theirs)
    assert _assert_same_weights(ours, theirs) >= 12
    assert ours._n_updates == theirs._n_updates == 2


def test_recurrent_rollout_matches_sb3_contrib_step_by_step():
    # The same weights and observations give the same values, log-probabilities and LSTM states at every step.
    ours = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(lstm_hidden_size=8, n_lstm_layers=2), seed=0)
    theirs = sb3_contrib.RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(lstm_hidden_size=8, n_lstm_layers=2))
    _to_torch(ours, theirs)
    rng = np.random.default_rng(0)
    ours_states, theirs_states = ours._last_lstm_states, theirs._last_lstm_states
    for step in range(6):
        obs = rng.normal(size=(1, 4)).astype(np.float32)
        starts = np.array([step == 3], dtype=np.float32)
        actions, values, log_prob, ours_states = ours.policy.act(mx.array(obs), ours_states, mx.array(starts))
        with th.no_grad():
            distribution, _ = theirs.policy.get_distribution(th.as_tensor(obs), theirs_states.pi, th.as_tensor(starts))
            their_log_prob = distribution.log_prob(th.as_tensor(np.array(actions)))
            _, their_values, _, theirs_states = theirs.policy(th.as_tensor(obs), theirs_states, th.as_tensor(starts))
        np.testing.assert_allclose(np.array(values), their_values.numpy().reshape(-1), atol=1e-5)
        np.testing.assert_allclose(np.array(log_prob), their_log_prob.numpy(), atol=1e-5)
        ours_parts, theirs_parts = (*ours_states.pi, *ours_states.vf), (*theirs_states.pi, *theirs_states.vf)
        for ours_part, theirs_part in zip(ours_parts, theirs_parts, strict=True):
            np.testing.assert_allclose(np.array(ours_part), theirs_part.numpy(), atol=1e-5)


def _random_masks(rng, shape):
    masks = rng.random(shape) < 0.6
    masks[..., 0] = True  # at least one allowed choice per row (per dimension, for the layouts below)
    return masks


def test_masked_categorical_matches_sb3_contrib():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 6)).astype(np.float32)
    masks = _random_masks(rng, (5, 6))
    actions = np.array([0, 1, 2, 3, 5])
    ours = MaskableCategoricalDistribution(6).proba_distribution(mx.array(logits))
    theirs = their_distributions.MaskableCategoricalDistribution(6).proba_distribution(th.as_tensor(logits))
    for current in (masks, None):
        ours.apply_masking(current)
        theirs.apply_masking(current)
        np.testing.assert_allclose(np.array(ours.entropy()), theirs.entropy().numpy(), atol=1e-5)
        np.testing.assert_allclose(
            np.array(ours.log_prob(mx.array(actions))), theirs.log_prob(th.as_tensor(actions)).numpy(), rtol=1e-5, atol=1e-4
        )
        np.testing.assert_array_equal(np.array(ours.mode()), theirs.mode().numpy())
    ours.apply_masking(masks)
    # Invalid actions are never sampled, and their log-probability is sb3-contrib's -1e8 scale.
    samples = np.array(mx.stack([ours.sample() for _ in range(50)], axis=1))
    assert masks[np.arange(5)[:, None], samples].all()
    invalid = np.argwhere(~masks)[0]
    assert np.array(ours.log_prob(mx.array(np.full(5, invalid[1]))))[invalid[0]] < -1e7


@pytest.mark.parametrize("kind", ["multidiscrete", "multibinary"])
def test_masked_multi_distributions_match_sb3_contrib(kind):
    rng = np.random.default_rng(2)
    if kind == "multidiscrete":
        dims = [3, 2, 4]
        ours_dist, theirs_dist = (
            MaskableMultiCategoricalDistribution(dims),
            their_distributions.MaskableMultiCategoricalDistribution(dims),
        )
    else:
        dims = [2, 2, 2, 2]
        ours_dist, theirs_dist = MaskableBernoulliDistribution(4), their_distributions.MaskableBernoulliDistribution(4)
    logits = rng.normal(size=(4, sum(dims))).astype(np.float32)
    masks = np.concatenate([_random_masks(rng, (4, n)) for n in dims], axis=1)
    actions = np.stack([rng.integers(0, n, size=4) for n in dims], axis=1)
    ours = ours_dist.proba_distribution(mx.array(logits))
    theirs = theirs_dist.proba_distribution(th.as_tensor(logits))
    ours.apply_masking(masks)
    theirs.apply_masking(masks)
    np.testing.assert_allclose(np.array(ours.entropy()), theirs.entropy().numpy(), atol=1e-5)
    np.testing.assert_allclose(
        np.array(ours.log_prob(mx.array(actions))), theirs.log_prob(th.as_tensor(actions)).numpy(), rtol=1e-5, atol=1e-4
    )
    np.testing.assert_array_equal(np.array(ours.mode()), theirs.mode().numpy())


def test_lstm_layer_matches_torch_and_mlx_gate_layout():
    from mlx_baselines3.contrib.common.recurrent.layers import LSTM

    ours = LSTM(3, 5, num_layers=2)
    theirs = th.nn.LSTM(3, 5, num_layers=2)
    load_module_state_dict(ours, {k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(module_state_dict(ours)) == list(theirs.state_dict())
    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 2, 3)).astype(np.float32)
    h0, c0 = (rng.normal(size=(2, 2, 5)).astype(np.float32) for _ in range(2))
    out, (h, c) = ours(mx.array(x), (mx.array(h0), mx.array(c0)))
    with th.no_grad():
        their_out, (their_h, their_c) = theirs(th.as_tensor(x), (th.as_tensor(h0), th.as_tensor(c0)))
    np.testing.assert_allclose(np.array(out), their_out.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(h), their_h.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(c), their_c.numpy(), atol=1e-5)
    # mlx.nn.LSTM has the same gate order: its Wx/Wh are torch's weight_ih/weight_hh, its bias their sum.
    reference = nn.LSTM(3, 5)
    reference.Wx, reference.Wh = ours.weight_ih_l0, ours.weight_hh_l0
    reference.bias = ours.bias_ih_l0 + ours.bias_hh_l0
    single = LSTM(3, 5)
    single.update({k: getattr(ours, k) for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")})
    zeros = mx.zeros((1, 2, 5))
    ours_single, _ = single(mx.array(x), (zeros, zeros))
    reference_out, _ = reference(mx.array(x).swapaxes(0, 1))
    np.testing.assert_allclose(np.array(ours_single), np.array(reference_out.swapaxes(0, 1)), atol=1e-5)
