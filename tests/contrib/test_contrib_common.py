"""The contrib common parts: wrappers, invalid-action envs, mask helpers, masked evaluation and callback, and the
algorithms on every policy kind (Cnn, MultiInput) and action space, saved and loaded here."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.envs import IdentityEnv, SimpleMultiObsEnv
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.contrib import MaskablePPO, RecurrentPPO
from mlx_baselines3.contrib.common.envs import (
    InvalidActionEnvDiscrete,
    InvalidActionEnvMultiBinary,
    InvalidActionEnvMultiDiscrete,
)
from mlx_baselines3.contrib.common.maskable.callbacks import MaskableEvalCallback
from mlx_baselines3.contrib.common.maskable.evaluation import evaluate_policy
from mlx_baselines3.contrib.common.maskable.utils import get_action_masks, is_masking_supported
from mlx_baselines3.contrib.common.recurrent.buffers import RecurrentRolloutBuffer
from mlx_baselines3.contrib.common.recurrent.type_aliases import RNNStates
from mlx_baselines3.contrib.common.wrappers import ActionMasker, TimeFeatureWrapper

SMALL = dict(n_steps=16, batch_size=8, n_epochs=1)


def test_time_feature_wrapper():
    env = TimeFeatureWrapper(gym.make("Pendulum-v1"))  # max_episode_steps=200 from the spec
    assert env.observation_space.shape == (4,) and env.observation_space.high[-1] == 1.0
    obs, _ = env.reset(seed=0)
    assert obs[-1] == 1.0
    for step in range(1, 4):
        obs, *_ = env.step(env.action_space.sample())
        assert obs[-1] == pytest.approx(1 - step / 200)
    test_mode = TimeFeatureWrapper(gym.make("Pendulum-v1"), test_mode=True)
    test_mode.reset(seed=0)
    assert test_mode.step(test_mode.action_space.sample())[0][-1] == 1.0
    with pytest.raises(AssertionError, match="No `observation` key"):
        TimeFeatureWrapper(SimpleMultiObsEnv(random_start=False))

    class GoalEnv(gym.Env):
        observation_space = spaces.Dict(observation=spaces.Box(-1, 1, (2,)), goal=spaces.Box(-1, 1, (2,)))
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            return {"observation": np.zeros(2, np.float32), "goal": np.ones(2, np.float32)}, {}

    dict_env = TimeFeatureWrapper(GoalEnv(), max_steps=10)
    assert dict_env.observation_space["observation"].shape == (3,)
    assert dict_env.reset()[0]["observation"].tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "env, mask_size",
    [
        (InvalidActionEnvDiscrete(dim=6, n_invalid_actions=3), 6),
        (InvalidActionEnvMultiDiscrete(dims=[2, 3], n_invalid_actions=2), 5),
        (InvalidActionEnvMultiBinary(dims=3, n_invalid_actions=2), 6),
    ],
)
def test_invalid_action_envs_keep_the_answer_valid(env, mask_size):
    for _ in range(20):
        obs, _ = env.reset()
        masks = np.array(env.action_masks())
        assert masks.shape == (mask_size,) and (~masks).sum() == env.n_invalid_actions
        # The rewarded action (the observation itself) is always allowed.
        if isinstance(env.action_space, spaces.Discrete):
            assert masks[obs]
        else:
            sizes = env.action_space.nvec if isinstance(env.action_space, spaces.MultiDiscrete) else [2] * env.n_dims
            offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            assert masks[offsets + obs].all()
        assert env.step(obs)[1] == 1.0


def test_mask_helpers_on_envs_and_vec_envs():
    env = InvalidActionEnvDiscrete(dim=4, n_invalid_actions=1)
    assert is_masking_supported(env) and not is_masking_supported(IdentityEnv(4))
    assert get_action_masks(env) == env.action_masks()
    vec_env = make_vec_env(InvalidActionEnvDiscrete, n_envs=3, env_kwargs=dict(dim=4, n_invalid_actions=1))
    assert is_masking_supported(vec_env)
    masks = get_action_masks(vec_env)
    assert masks.shape == (3, 4) and masks.sum() == 9
    masker = ActionMasker(IdentityEnv(4), lambda e: np.arange(4) != 3)
    assert is_masking_supported(Monitor(masker))
    np.testing.assert_array_equal(get_action_masks(Monitor(masker)), [True, True, True, False])


def test_masked_evaluation_and_callback(tmp_path):
    env = InvalidActionEnvDiscrete(dim=5, n_invalid_actions=4)
    model = MaskablePPO("MlpPolicy", env, seed=0, **SMALL)
    # One allowed action, the answer: any policy under the masks scores the maximum.
    rewards, lengths = evaluate_policy(model, Monitor(env), n_eval_episodes=2, return_episode_rewards=True)
    assert rewards == [100.0, 100.0] and lengths == [100, 100]
    unmasked, _ = evaluate_policy(model, env, n_eval_episodes=2, use_masking=False, warn=False)
    assert unmasked < 100
    with pytest.raises(ValueError, match="does not support action masking"):
        evaluate_policy(model, IdentityEnv(5))
    callback = MaskableEvalCallback(
        Monitor(InvalidActionEnvDiscrete(dim=5, n_invalid_actions=4)),
        eval_freq=16,
        n_eval_episodes=1,
        log_path=str(tmp_path),
        best_model_save_path=str(tmp_path),
    )
    model.learn(32, callback=callback)
    assert callback.last_mean_reward == 100.0 and callback.best_mean_reward == 100.0
    assert (tmp_path / "best_model.zip").exists()
    assert np.load(tmp_path / "evaluations.npz")["results"].shape == (2, 1)


@pytest.mark.parametrize(
    "env_class, kwargs",
    [
        (InvalidActionEnvMultiDiscrete, dict(dims=[2, 3], n_invalid_actions=2)),
        (InvalidActionEnvMultiBinary, dict(dims=3, n_invalid_actions=2)),
    ],
)
def test_maskable_ppo_multi_spaces_respect_masks_and_reload(tmp_path, env_class, kwargs):
    env = env_class(**kwargs)
    model = MaskablePPO("MlpPolicy", make_vec_env(env_class, n_envs=2, env_kwargs=kwargs), seed=0, **SMALL).learn(32)
    model.save(tmp_path / "model.zip")
    loaded = MaskablePPO.load(tmp_path / "model.zip")
    obs, _ = env.reset()
    masks = np.array(env.action_masks())
    sizes = list(env.action_space.nvec) if isinstance(env.action_space, spaces.MultiDiscrete) else [2] * 3
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    for _ in range(10):
        action, _ = loaded.predict(obs, action_masks=masks)
        assert masks[offsets + action].all()
    np.testing.assert_array_equal(
        loaded.predict(obs, action_masks=masks, deterministic=True)[0],
        model.predict(obs, action_masks=masks, deterministic=True)[0],
    )


def test_maskable_cnn_and_multi_input_policies():
    image_env = ActionMasker(IdentityEnv(space=spaces.Discrete(3)), lambda e: [True, False, True])
    image_env.observation_space = spaces.Box(0, 255, (36, 36, 1), np.uint8)

    class ImageObs(gym.ObservationWrapper):
        def observation(self, obs):
            return np.full((36, 36, 1), obs * 100, dtype=np.uint8)

    cnn = MaskablePPO(
        "CnnPolicy", ImageObs(image_env), seed=0, policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=8)), **SMALL
    )
    cnn.learn(16)
    assert cnn.rollout_buffer.actions.max() != 1  # action 1 is masked out
    multi_env = ActionMasker(SimpleMultiObsEnv(random_start=False), lambda e: [True, True, False, True])
    multi = MaskablePPO("MultiInputPolicy", multi_env, seed=0, **SMALL).learn(16)
    assert 2 not in multi.rollout_buffer.actions


@pytest.mark.parametrize("policy_kwargs", [dict(), dict(shared_lstm=True, enable_critic_lstm=False)])
def test_recurrent_ppo_multi_input_and_box_actions(tmp_path, policy_kwargs):
    policy_kwargs = dict(lstm_hidden_size=8, **policy_kwargs)
    multi = RecurrentPPO(
        "MultiInputLstmPolicy", SimpleMultiObsEnv(random_start=False), seed=0, policy_kwargs=policy_kwargs, **SMALL
    )
    multi.learn(32)
    box = RecurrentPPO("MlpLstmPolicy", "Pendulum-v1", seed=0, policy_kwargs=policy_kwargs, **SMALL).learn(32)
    box.save(tmp_path / "box.zip")
    loaded = RecurrentPPO.load(tmp_path / "box.zip")
    obs = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    action, state = loaded.predict(obs, deterministic=True)
    expected, expected_state = box.predict(obs, deterministic=True)
    np.testing.assert_allclose(action, expected, atol=1e-6)
    np.testing.assert_allclose(state[1], expected_state[1], atol=1e-6)
    assert np.all(np.abs(action) <= 2.0)


def test_recurrent_cnn_policy_runs():
    class ImageEnv(gym.Env):
        observation_space = spaces.Box(0, 255, (36, 36, 3), np.uint8)
        action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), float(action), False, False, {}

    model = RecurrentPPO(
        "CnnLstmPolicy",
        ImageEnv(),
        seed=0,
        policy_kwargs=dict(lstm_hidden_size=8, features_extractor_kwargs=dict(features_dim=8)),
        **SMALL,
    )
    model.learn(16)
    assert model.policy.lstm_actor.input_size == 8


def test_recurrent_buffer_cuts_sequences_at_episode_starts_and_env_changes():
    buffer = RecurrentRolloutBuffer(6, spaces.Box(-1, 1, (1,)), spaces.Discrete(2), (6, 1, 2, 3), n_envs=2)
    starts = np.zeros((6, 2), dtype=bool)
    starts[0] = True
    starts[3, 0] = True
    for step in range(6):
        # Observation and stored states say which env and step they belong to: 10 * env + step.
        tags = np.array([step, 10 + step], np.float32)
        states = mx.array(np.broadcast_to(tags[None, :, None], (1, 2, 3)))
        zeros = np.zeros(2)
        buffer.add(
            tags[:, None],
            np.zeros((2, 1)),
            zeros,
            starts[step],
            zeros,
            zeros,
            lstm_states=RNNStates((states, states), (states, states)),
        )
    buffer.compute_returns_and_advantage(np.zeros(2), np.zeros(2))
    np.random.seed(0)  # the rollout is rotated to start at flat index 5: env 0's step 5, env 1, env 0's steps 0-4
    (sample,) = list(buffer.get(None))
    # Sequences: [0:5] | [10..15] (new env) | [0 1 2] (new episode, new env) | [3 4] (new episode); length 6 (the cap).
    observations = np.array(sample.observations).reshape(4, 6)
    mask = np.array(sample.mask).reshape(4, 6).astype(bool)
    assert mask.sum(axis=1).tolist() == [1, 6, 3, 2]
    np.testing.assert_array_equal(observations[mask], [5, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4])
    # Each sequence starts from the states stored for its first step; episode starts flag where they are zeroed.
    np.testing.assert_array_equal(np.array(sample.lstm_states.vf[1])[0, :, 0], [5, 10, 0, 3])
    np.testing.assert_array_equal(np.array(sample.episode_starts).reshape(4, 6)[:, 0], [0, 1, 1, 1])
    assert not np.array(sample.episode_starts).reshape(4, 6)[:, 1:].any()
