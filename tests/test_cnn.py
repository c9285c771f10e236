"""Image observations: NatureCNN and CnnPolicy equal to SB3's for the same weights, channel-first and channel-last envs,
image-space detection, and every algorithm training a CnnPolicy on a small fake image env."""

import warnings

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces
from mlx.utils import tree_flatten

from mlx_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from mlx_baselines3.common.envs import FakeImageEnv
from mlx_baselines3.common.policies import ActorCriticCnnPolicy
from mlx_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from mlx_baselines3.common.save_util import load_module_state_dict
from mlx_baselines3.common.torch_layers import NatureCNN
from mlx_baselines3.common.vec_env import DummyVecEnv, VecTransposeImage

# 36x36 is about the smallest image NatureCNN's three valid convolutions accept (36 -> 8 -> 3 -> 1).
SIZE = 36
# Tiny budgets: 16 steps train each algorithm at least once. The off-policy ones get Box actions.
OFF_POLICY_KWARGS = dict(learning_starts=0, buffer_size=64, train_freq=4, batch_size=8)
ALGO_KWARGS = {
    PPO: dict(n_steps=8, batch_size=8, n_epochs=2),
    A2C: dict(n_steps=8),
    DQN: OFF_POLICY_KWARGS,
    SAC: OFF_POLICY_KWARGS,
    TD3: OFF_POLICY_KWARGS,
    DDPG: OFF_POLICY_KWARGS,
}
CONTINUOUS_ONLY = (SAC, TD3, DDPG)


def _image_batch(space: spaces.Box, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *space.shape), dtype=np.uint8)


def _load_sb3_weights(ours, theirs) -> None:
    load_module_state_dict(ours, {key: value.detach().numpy() for key, value in theirs.state_dict().items()})


def test_nature_cnn_matches_sb3():
    th = pytest.importorskip("torch")
    sb3_layers = pytest.importorskip("stable_baselines3.common.torch_layers")
    # Height and width differ so that a swapped axis cannot go unnoticed.
    space = spaces.Box(0, 255, (3, 44, SIZE), dtype=np.uint8)
    th.manual_seed(0)
    theirs = sb3_layers.NatureCNN(space, features_dim=32)
    ours = NatureCNN(space, features_dim=32)
    # MLX convolutions hold OHWI weights where torch holds OIHW.
    assert ours.cnn.layers[0].weight.shape == (32, 8, 8, 3)
    assert theirs.cnn[0].weight.shape == (32, 3, 8, 8)
    _load_sb3_weights(ours, theirs)
    np.testing.assert_array_equal(
        np.array(ours.cnn.layers[0].weight), theirs.cnn[0].weight.detach().numpy().transpose(0, 2, 3, 1)
    )
    obs = _image_batch(space, 5).astype(np.float32) / 255.0
    expected = theirs(th.as_tensor(obs)).detach().numpy()
    features = np.array(ours(mx.array(obs)))
    assert features.shape == (5, 32)
    np.testing.assert_allclose(features, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "action_space, share_features_extractor",
    [(spaces.Discrete(4), True), (spaces.Box(-1, 1, (2,), dtype=np.float32), False)],
)
def test_cnn_policy_matches_sb3(action_space, share_features_extractor):
    th = pytest.importorskip("torch")
    sb3_policies = pytest.importorskip("stable_baselines3.common.policies")
    space = spaces.Box(0, 255, (2, SIZE, SIZE), dtype=np.uint8)
    kwargs = dict(share_features_extractor=share_features_extractor, features_extractor_kwargs=dict(features_dim=64))
    th.manual_seed(0)
    theirs = sb3_policies.ActorCriticCnnPolicy(space, action_space, lambda _: 1e-3, **kwargs)
    ours = ActorCriticCnnPolicy(space, action_space, lambda _: 1e-3, **kwargs)
    _load_sb3_weights(ours, theirs)
    if not share_features_extractor:
        assert ours.pi_features_extractor is not ours.vf_features_extractor

    obs = _image_batch(space, 6, seed=1)
    actions = np.array([action_space.sample() for _ in range(6)])
    with th.no_grad():
        th_values, th_log_prob, th_entropy = theirs.evaluate_actions(th.as_tensor(obs), th.as_tensor(actions))
        th_actions = theirs._predict(th.as_tensor(obs), deterministic=True).numpy()
    values, log_prob, entropy = ours.evaluate_actions(mx.array(obs), mx.array(actions))
    np.testing.assert_allclose(np.array(values), th_values.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.array(log_prob), th_log_prob.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.array(entropy), th_entropy.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.array(ours.predict_values(mx.array(obs))), th_values.numpy(), atol=1e-5, rtol=1e-5)
    predicted, _ = ours.predict(obs, deterministic=True)
    if isinstance(action_space, spaces.Discrete):
        np.testing.assert_array_equal(predicted, th_actions)
    else:
        np.testing.assert_allclose(predicted, np.clip(th_actions, -1, 1), atol=1e-5)


def _conv_weights(model) -> dict[str, np.ndarray]:
    return {name: np.array(value) for name, value in tree_flatten(model.policy.parameters()) if value.ndim == 4}


@pytest.mark.parametrize("algo", list(ALGO_KWARGS))
@pytest.mark.parametrize("channel_first", [True, False])
def test_cnn_policy_trains_predicts_and_reloads(algo, channel_first, tmp_path):
    discrete = algo not in CONTINUOUS_ONLY
    env = FakeImageEnv(action_dim=3, screen_height=SIZE, screen_width=SIZE, channel_first=channel_first, discrete=discrete)
    policy_kwargs = dict(features_extractor_kwargs=dict(features_dim=32))
    model = algo("CnnPolicy", env, seed=0, policy_kwargs=policy_kwargs, **ALGO_KWARGS[algo])
    # Channel-last images are transposed by a VecTransposeImage wrapper, as in SB3; the policy always sees (C, H, W).
    assert isinstance(model.get_env(), VecTransposeImage) is not channel_first
    assert model.observation_space.shape == (1, SIZE, SIZE)
    before = _conv_weights(model)
    first_convs = [name for name in before if name.endswith("cnn.layers.0.weight")]
    assert first_convs and all(before[name].shape == (32, 8, 8, 1) for name in first_convs)
    model.learn(16)
    after = _conv_weights(model)
    assert any(not np.allclose(before[name], after[name]) for name in first_convs)

    frames = _image_batch(env.observation_space, 4)  # the env's own layout
    actions, _ = model.predict(frames, deterministic=True)
    assert actions.shape == (4, *env.action_space.shape) and all(env.action_space.contains(a) for a in actions)
    single, _ = model.predict(frames[0], deterministic=True)
    assert single.shape == env.action_space.shape
    np.testing.assert_allclose(single, actions[0], rtol=1e-5, atol=1e-6)
    # predict() moves the channel axis when given the other layout, as SB3's maybe_transpose does.
    other_layout = np.moveaxis(frames, 1, -1) if channel_first else np.moveaxis(frames, -1, 1)
    np.testing.assert_array_equal(model.predict(other_layout, deterministic=True)[0], actions)

    model.save(tmp_path / "model.zip")
    loaded = algo.load(tmp_path / "model.zip")
    np.testing.assert_array_equal(loaded.predict(frames, deterministic=True)[0], actions)
    reloaded = _conv_weights(loaded)
    assert reloaded.keys() == after.keys()
    for name, value in after.items():
        np.testing.assert_array_equal(reloaded[name], value)


def test_cnn_policy_default_net_arch():
    policy = ActorCriticCnnPolicy(spaces.Box(0, 255, (1, SIZE, SIZE), dtype=np.uint8), spaces.Discrete(3), lambda _: 1e-3)
    # CnnPolicy's default net_arch is empty: the heads read the 512 CNN features directly.
    assert isinstance(policy.features_extractor, NatureCNN) and policy.features_dim == 512
    assert policy.action_net.weight.shape == (3, 512) and policy.value_net.weight.shape == (1, 512)


def test_cnn_policy_with_box_actions_and_frame_stack():
    env = DummyVecEnv([lambda: FakeImageEnv(screen_height=SIZE, screen_width=SIZE, n_channels=2, discrete=False)] * 2)
    model = PPO("CnnPolicy", env, seed=0, n_steps=8, batch_size=16, n_epochs=1, policy_kwargs=dict(net_arch=[16]))
    model.learn(16)
    assert model.policy.features_extractor.cnn.layers[0].weight.shape == (32, 8, 8, 2)
    actions, _ = model.predict(env.reset())
    assert actions.shape == (2, 5) and np.all(np.abs(actions) <= 1)


def test_normalized_float_images():
    # Images already scaled to [0, 1] (e.g. by VecNormalize): the uint8 checks are skipped and no division by 255 happens.
    space = spaces.Box(0.0, 1.0, (1, SIZE, SIZE), dtype=np.float32)
    assert not is_image_space(space) and is_image_space(space, normalized_image=True)
    with pytest.raises(ValueError, match="You should use NatureCNN only with images"):
        ActorCriticCnnPolicy(space, spaces.Discrete(2), lambda _: 1e-3)
    policy = ActorCriticCnnPolicy(
        space,
        spaces.Discrete(2),
        lambda _: 1e-3,
        normalize_images=False,
        features_extractor_kwargs=dict(normalized_image=True, features_dim=16),
    )
    obs = np.random.default_rng(0).random((3, 1, SIZE, SIZE), dtype=np.float32)
    np.testing.assert_allclose(
        np.array(policy.extract_features(mx.array(obs), policy.features_extractor)),
        np.array(policy.features_extractor(mx.array(obs))),
        rtol=1e-6,
    )


def test_nature_cnn_rejects_non_images():
    with pytest.raises(ValueError, match="you are probably using `CnnPolicy` instead of `MlpPolicy`"):
        NatureCNN(spaces.Box(0, 255, (SIZE, SIZE), dtype=np.uint8))
    with pytest.raises(ValueError, match="You should use NatureCNN only with images"):
        NatureCNN(spaces.Box(0, 1, (1, SIZE, SIZE), dtype=np.float32))
    with pytest.raises(AssertionError, match=r"NatureCNN must be used with a gym\.spaces\.Box"):
        NatureCNN(spaces.Discrete(3))
    with pytest.raises(ValueError, match="You should use NatureCNN only with images"):
        PPO("CnnPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match="NatureCNN needs images of at least 36x36 pixels, got 35x40"):
        NatureCNN(spaces.Box(0, 255, (1, 35, 40), dtype=np.uint8))


def test_image_space_detection_and_wrapping():
    channels_last = spaces.Box(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    channels_first = spaces.Box(0, 255, (3, SIZE, SIZE), dtype=np.uint8)
    assert is_image_space(channels_last, check_channels=True) and is_image_space(channels_first, check_channels=True)
    assert not is_image_space_channels_first(channels_last) and is_image_space_channels_first(channels_first)
    # Frame stacking may give any number of channels; only check_channels=True insists on 1, 3 or 4.
    stacked = spaces.Box(0, 255, (SIZE, SIZE, 6), dtype=np.uint8)
    assert is_image_space(stacked) and not is_image_space(stacked, check_channels=True)
    assert not is_image_space(spaces.Box(0, 255, (SIZE, SIZE, 3), dtype=np.float32))
    assert not is_image_space(spaces.Box(0, 1, (SIZE, SIZE, 3), dtype=np.uint8))
    with pytest.warns(UserWarning, match="Treating image space as channels-last, while second dimension was smallest"):
        assert not is_image_space_channels_first(spaces.Box(0, 255, (SIZE, 3, SIZE), dtype=np.uint8))

    def make_env():
        return FakeImageEnv(screen_height=SIZE, screen_width=SIZE, n_channels=3)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrapped = PPO._wrap_env(make_env())
    assert isinstance(wrapped, VecTransposeImage) and wrapped.observation_space.shape == (3, SIZE, SIZE)
    # An already transposed env is not wrapped twice.
    assert PPO._wrap_env(wrapped) is wrapped
    assert not isinstance(PPO._wrap_env(gym.make("CartPole-v1")), VecTransposeImage)
