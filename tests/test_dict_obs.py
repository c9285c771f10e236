"""Dict observations: MultiInputPolicy equal to SB3's for the same weights, CombinedExtractor options, Dict rollout
buffers chosen automatically, channel-last images inside dicts, frame stacking, gSDE, and a learning check."""

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces
from mlx.utils import tree_flatten

from mlx_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from mlx_baselines3.common.buffers import DictReplayBuffer, DictRolloutBuffer
from mlx_baselines3.common.envs import SimpleMultiObsEnv
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.policies import MultiInputActorCriticPolicy
from mlx_baselines3.common.save_util import load_module_state_dict
from mlx_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, NatureCNN
from mlx_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage

SIZE = 36
# Tiny budgets: 32 steps train each algorithm at least once. The off-policy ones get Box actions.
OFF_POLICY_KWARGS = dict(learning_starts=0, buffer_size=64, train_freq=4, batch_size=8)
ALGO_KWARGS = {
    PPO: dict(n_steps=8, batch_size=16, n_epochs=2),
    A2C: dict(n_steps=8),
    DQN: OFF_POLICY_KWARGS,
    SAC: OFF_POLICY_KWARGS,
    TD3: OFF_POLICY_KWARGS,
    DDPG: OFF_POLICY_KWARGS,
}
CONTINUOUS_ONLY = (SAC, TD3, DDPG)


class DictTargetEnv(gym.Env):
    """
    Observations with a key of every kind: a noise image, a noise vector, a discrete ``target`` and binary flags.
    The reward is 1 when the action equals ``target`` (its argmax for Box actions); episodes last 20 steps.

    :param channel_last: image shape (H, W, 1) instead of (1, H, W)
    :param box_actions: ``Box(-1, 1, (3,))`` actions instead of ``Discrete(3)``
    """

    def __init__(self, channel_last: bool = True, box_actions: bool = False):
        super().__init__()
        image_shape = (SIZE, SIZE, 1) if channel_last else (1, SIZE, SIZE)
        self.observation_space = spaces.Dict(
            {
                "img": spaces.Box(0, 255, image_shape, dtype=np.uint8),
                "vec": spaces.Box(-1, 1, (3,), dtype=np.float32),
                "target": spaces.Discrete(3),
                "flags": spaces.MultiBinary(2),
            }
        )
        self.action_space = spaces.Box(-1, 1, (3,), dtype=np.float32) if box_actions else spaces.Discrete(3)
        self.box_actions = box_actions
        self.steps = 0
        self.obs = self.observation_space.sample()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(seed)
        self.steps = 0
        self.obs = self.observation_space.sample()
        return self.obs, {}

    def step(self, action):
        chosen = int(np.argmax(action)) if self.box_actions else int(action)
        reward = float(chosen == int(self.obs["target"]))
        self.steps += 1
        self.obs = self.observation_space.sample()
        return self.obs, reward, False, self.steps >= 20, {}


def test_multi_input_policy_matches_sb3():
    th = pytest.importorskip("torch")
    sb3_policies = pytest.importorskip("stable_baselines3.common.policies")
    space = DictTargetEnv(channel_last=False).observation_space
    kwargs = dict(net_arch=[16], features_extractor_kwargs=dict(cnn_output_dim=32))
    th.manual_seed(0)
    theirs = sb3_policies.MultiInputActorCriticPolicy(space, spaces.Discrete(3), lambda _: 1e-3, **kwargs)
    ours = MultiInputActorCriticPolicy(space, spaces.Discrete(3), lambda _: 1e-3, **kwargs)
    # Image keys get a NatureCNN, the others are flattened (discrete ones one-hot): 32 + 3 + 3 + 2 features.
    assert isinstance(ours.features_extractor.extractors["img"], NatureCNN)
    assert isinstance(ours.features_extractor.extractors["target"], FlattenExtractor)
    assert ours.features_dim == theirs.features_dim == 40
    load_module_state_dict(ours, {key: value.detach().numpy() for key, value in theirs.state_dict().items()})

    space.seed(0)
    batch = [space.sample() for _ in range(5)]
    obs = {key: np.stack([np.asarray(o[key]) for o in batch]) for key in space.spaces}
    actions = np.arange(5) % 3
    th_obs = {key: th.as_tensor(value) for key, value in obs.items()}
    with th.no_grad():
        th_values, th_log_prob, th_entropy = theirs.evaluate_actions(th_obs, th.as_tensor(actions))
    values, log_prob, entropy = ours.evaluate_actions({key: mx.array(value) for key, value in obs.items()}, mx.array(actions))
    np.testing.assert_allclose(np.array(values), th_values.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.array(log_prob), th_log_prob.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.array(entropy), th_entropy.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0])


def _parameters(model) -> dict[str, np.ndarray]:
    return {name: np.array(value) for name, value in tree_flatten(model.policy.parameters())}


@pytest.mark.parametrize("algo", list(ALGO_KWARGS))
def test_multi_input_trains_predicts_and_reloads(algo, tmp_path):
    on_policy = algo in (PPO, A2C)
    n_envs = 2 if on_policy else 1
    env = DummyVecEnv([lambda: DictTargetEnv(box_actions=algo in CONTINUOUS_ONLY)] * n_envs)
    model = algo("MultiInputPolicy", env, seed=0, policy_kwargs=dict(net_arch=[16]), **ALGO_KWARGS[algo])
    # Channel-last image keys are transposed by a VecTransposeImage; the Dict buffer is picked automatically.
    assert isinstance(model.get_env(), VecTransposeImage)
    assert model.observation_space["img"].shape == (1, SIZE, SIZE)
    buffer = model.rollout_buffer if on_policy else model.replay_buffer
    assert isinstance(buffer, DictRolloutBuffer if on_policy else DictReplayBuffer)
    assert set(buffer.observations) == {"img", "vec", "target", "flags"}
    before = _parameters(model)
    model.learn(32)
    after = _parameters(model)
    assert any(not np.allclose(before[name], after[name]) for name in before if "extractors.img" in name)

    obs = env.reset()  # channel-last images, as the env makes them
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (n_envs, *env.action_space.shape)
    single = {key: value[0] for key, value in obs.items()}
    np.testing.assert_allclose(model.predict(single, deterministic=True)[0], actions[0], rtol=1e-5, atol=1e-6)
    transposed = dict(obs, img=np.moveaxis(obs["img"], -1, 1))
    np.testing.assert_array_equal(model.predict(transposed, deterministic=True)[0], actions)

    model.save(tmp_path / "model.zip")
    loaded = algo.load(tmp_path / "model.zip")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    reloaded = _parameters(loaded)
    assert reloaded.keys() == after.keys()
    for name, value in after.items():
        np.testing.assert_array_equal(reloaded[name], value)


def test_simple_multi_obs_env_and_frame_stack():
    # SB3's grid world (64x64 images), two frames stacked per key: images on the channel axis, vectors end to end.
    env = VecFrameStack(DummyVecEnv([lambda: Monitor(SimpleMultiObsEnv(random_start=False))]), n_stack=2)
    model = PPO("MultiInputPolicy", env, seed=0, n_steps=16, batch_size=16, n_epochs=1, policy_kwargs=dict(net_arch=[8]))
    assert model.observation_space["img"].shape == (2, 64, 64) and model.observation_space["vec"].shape == (10,)
    assert model.policy.features_extractor.extractors["img"].cnn.layers[0].weight.shape == (32, 8, 8, 2)
    assert model.policy.features_dim == 256 + 10
    model.learn(32)
    rewards, lengths = evaluate_policy(
        model, model.get_env(), n_eval_episodes=1, deterministic=False, return_episode_rewards=True
    )
    # -0.1 per step and 1 for the step reaching the goal; truncation after 101 steps.
    expected = -0.1 * lengths[0] if lengths[0] == 101 else -0.1 * (lengths[0] - 1) + 1.0
    assert rewards[0] == pytest.approx(expected, abs=1e-6)


def test_gsde_with_dict_observations():
    env = DictTargetEnv(channel_last=False, box_actions=True)
    model = PPO(
        "MultiInputPolicy", env, use_sde=True, seed=0, n_steps=16, batch_size=16, n_epochs=1, policy_kwargs=dict(net_arch=[8])
    )
    assert model.policy.log_std.shape == (8, 3)
    model.learn(32)
    obs, _ = env.reset()
    deterministic, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(deterministic, model.predict(obs, deterministic=True)[0])
    assert deterministic.shape == (3,) and np.all(np.abs(deterministic) <= 1)


def test_combined_extractor_options():
    space = spaces.Dict(
        {
            "img": spaces.Box(0, 255, (3, SIZE, SIZE), dtype=np.uint8),
            "float_img": spaces.Box(0, 1, (1, SIZE, SIZE), dtype=np.float32),
            "pos": spaces.Box(-1, 1, (2, 2), dtype=np.float32),
        }
    )
    extractor = CombinedExtractor(space, cnn_output_dim=20)
    # Without normalized_image a float 3-D box is not an image: it is flattened.
    assert isinstance(extractor.extractors["float_img"], FlattenExtractor)
    assert extractor.features_dim == 20 + SIZE * SIZE + 4
    normalized = CombinedExtractor(space, cnn_output_dim=20, normalized_image=True)
    assert isinstance(normalized.extractors["float_img"], NatureCNN)
    assert normalized.features_dim == 20 + 20 + 4
    obs = {
        key: mx.array(np.stack([subspace.sample() for _ in range(3)]).astype(np.float32)) for key, subspace in space.items()
    }
    features = normalized(obs)
    assert features.shape == (3, 44)
    # Keys are concatenated in the space's order.
    np.testing.assert_array_equal(np.array(features[:, 40:]), np.array(obs["pos"]).reshape(3, 4))


def test_nested_dict_spaces_are_refused():
    class NestedEnv(DictTargetEnv):
        def __init__(self):
            super().__init__()
            self.observation_space = spaces.Dict({"inner": spaces.Dict({"x": spaces.Discrete(2)})})

    with pytest.raises(NotImplementedError, match="Nested observation spaces are not supported"):
        PPO("MultiInputPolicy", NestedEnv())


def test_multi_input_policy_learns():
    # A contextual bandit (gamma=0): the reward depends on the "target" key only, which the policy must pick out
    # from image and noise features.
    env = DummyVecEnv([lambda: Monitor(DictTargetEnv())] * 4)
    model = PPO(
        "MultiInputPolicy",
        env,
        seed=0,
        gamma=0.0,
        n_steps=64,
        batch_size=64,
        n_epochs=4,
        learning_rate=3e-3,
        policy_kwargs=dict(net_arch=[32], features_extractor_kwargs=dict(cnn_output_dim=16)),
    )
    model.learn(1024)
    mean_reward, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=8)
    assert mean_reward >= 19.0
