"""Misuse of the masked and recurrent algorithms gets sb3-contrib's exception types, with messages that name the fix."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.envs import IdentityEnv
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.contrib import MaskablePPO, RecurrentPPO
from mlx_baselines3.contrib.common.envs import InvalidActionEnvDiscrete, InvalidActionEnvMultiBinary
from mlx_baselines3.contrib.common.maskable.distributions import make_masked_proba_distribution
from mlx_baselines3.contrib.common.wrappers import ActionMasker, TimeFeatureWrapper

SMALL = dict(n_steps=8, batch_size=8, n_epochs=1)


@pytest.fixture(scope="module")
def masked_model():
    return MaskablePPO("MlpPolicy", InvalidActionEnvDiscrete(dim=4, n_invalid_actions=2), seed=0, **SMALL)


@pytest.fixture(scope="module")
def recurrent_model():
    policy_kwargs = dict(lstm_hidden_size=4, n_lstm_layers=2)
    return RecurrentPPO("MlpLstmPolicy", "CartPole-v1", seed=0, policy_kwargs=policy_kwargs, **SMALL)


@pytest.mark.parametrize("masks", [np.ones(3, bool), np.ones((2, 4), bool), np.ones(5, bool)])
def test_masks_of_the_wrong_shape(masked_model, masks):
    # sb3-contrib reshapes the masks with torch, which raises a RuntimeError.
    with pytest.raises(RuntimeError, match=r"Action masks of shape .* do not fit .* logits of shape \(1, 4\)"):
        masked_model.predict(np.int64(1), action_masks=masks)


def test_masks_reach_the_distribution(masked_model):
    # Only action 2 allowed: it is the answer for every observation, deterministic or not.
    masks = np.array([False, False, True, False])
    for deterministic in (True, False):
        for obs in range(4):
            assert masked_model.predict(np.int64(obs), action_masks=masks, deterministic=deterministic)[0] == 2


def test_env_without_masks():
    model = MaskablePPO("MlpPolicy", IdentityEnv(4), **SMALL)
    with pytest.raises(ValueError, match=r"Environment does not support action masking\. Consider using ActionMasker wrapper"):
        model.learn(8)
    # learn(use_masking=False) trains without masks, and ActionMasker provides them.
    model.learn(8, use_masking=False)
    assert model.num_timesteps == 8
    masked = MaskablePPO("MlpPolicy", ActionMasker(IdentityEnv(4), lambda env: np.ones(4, bool)), **SMALL)
    masked.learn(8)
    assert masked.num_timesteps == 8


@pytest.mark.parametrize("space", [spaces.Box(-1, 1, (2,)), spaces.Tuple([spaces.Discrete(2), spaces.Discrete(3)])])
def test_maskable_ppo_unsupported_action_spaces(space):
    env = IdentityEnv(space=space) if isinstance(space, spaces.Box) else gym.make("CartPole-v1")
    if not isinstance(space, spaces.Box):
        env.action_space = space
    with pytest.raises(ValueError, match="The algorithm only supports"):
        MaskablePPO("MlpPolicy", env)


def test_masked_distribution_refuses_other_spaces():
    with pytest.raises(NotImplementedError, match="Must be of type Gym Spaces: Discrete, MultiDiscrete"):
        make_masked_proba_distribution(spaces.Box(-1, 1, (2,)))
    with pytest.raises(AssertionError, match=r"Multi-dimensional MultiBinary\(\(2, 2\)\) action space is not supported"):
        make_masked_proba_distribution(spaces.MultiBinary([2, 2]))


def test_recurrent_ppo_unsupported_action_space():
    env = gym.make("CartPole-v1")
    env.action_space = spaces.Tuple([spaces.Discrete(2), spaces.Discrete(2)])
    with pytest.raises(ValueError, match="The algorithm only supports"):
        RecurrentPPO("MlpLstmPolicy", env)


@pytest.mark.parametrize(
    "policy_kwargs, message",
    [
        (dict(shared_lstm=True, enable_critic_lstm=True), "You must choose between shared LSTM, seperate or no LSTM"),
        (dict(shared_lstm=True, enable_critic_lstm=False, share_features_extractor=False), "the LSTM cannot be shared"),
        (dict(lstm_kwargs=dict(bidirectional=True)), r"lstm_kwargs \['bidirectional'\] are not supported"),
    ],
)
def test_recurrent_policy_settings(policy_kwargs, message):
    # sb3-contrib asserts these: UsageError is an AssertionError too.
    with pytest.raises(AssertionError, match=message):
        RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=policy_kwargs)


def test_recurrent_predict_without_states_starts_from_zeros(recurrent_model):
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    zeros = np.zeros((2, 3, 4), dtype=np.float32)
    actions, state = recurrent_model.predict(obs, deterministic=True)
    same_actions, same_state = recurrent_model.predict(obs, state=(zeros, zeros), deterministic=True)
    np.testing.assert_array_equal(actions, same_actions)
    np.testing.assert_array_equal(state[0], same_state[0])
    assert state[0].shape == state[1].shape == (2, 3, 4) and np.abs(state[0]).max() > 0
    # An episode start zeroes the given states before the step: as if none were given.
    _, restarted_state = recurrent_model.predict(obs, state=state, episode_start=np.ones(3, bool), deterministic=True)
    np.testing.assert_array_equal(restarted_state[1], state[1])
    # A single observation gets a single action and states for one env.
    action, single_state = recurrent_model.predict(obs[0])
    assert np.shape(action) == () and single_state[0].shape == (2, 1, 4)


@pytest.mark.parametrize(
    "state",
    [
        (np.zeros((1, 3, 4)), np.zeros((1, 3, 4))),  # one layer instead of two
        (np.zeros((2, 2, 4)), np.zeros((2, 2, 4))),  # states of two envs for three observations
        (np.zeros((2, 3, 4)),),  # no cell state
    ],
)
def test_recurrent_predict_with_wrong_states(recurrent_model, state):
    obs = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(RuntimeError, match=r"The LSTM state must be a \(hidden, cell\) pair of arrays of shape \(2, 3, 4\)"):
        recurrent_model.predict(obs, state=state)
    with pytest.raises(RuntimeError, match="episode_start has 2 values for 3 observations"):
        recurrent_model.predict(obs, episode_start=np.zeros(2, bool))


def test_wrappers_and_envs_refuse_bad_settings():
    with pytest.raises(AssertionError, match=r"only supports `gym\.spaces\.Box` and `spaces\.Dict`"):
        TimeFeatureWrapper(IdentityEnv(3))
    with pytest.raises(AssertionError, match="Too many invalid actions"):
        InvalidActionEnvDiscrete(dim=3, n_invalid_actions=3)
    with pytest.raises(ValueError, match="Cannot find a valid action for each dim"):
        InvalidActionEnvMultiBinary(dims=2, n_invalid_actions=3)
    with pytest.raises(ValueError, match="is not a method"):
        ActionMasker(InvalidActionEnvDiscrete(dim=3), "n_invalid_actions")
    assert issubclass(UsageError, AssertionError)
