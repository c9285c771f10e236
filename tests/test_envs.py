"""The test environments of ``mlx_baselines3.common.envs``: spaces, rewards, episode ends, and parity with SB3's."""

import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.envs import (
    BitFlippingEnv,
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)


def test_identity_env_pays_for_repeating_the_observation():
    env = IdentityEnv(dim=4, ep_length=3)
    assert env.observation_space == env.action_space == spaces.Discrete(4)
    assert env.num_resets == 0
    obs, info = env.reset(seed=0)
    assert info == {} and env.num_resets == 1
    wrong = (obs + 1) % 4
    _, reward, terminated, truncated, _ = env.step(wrong)
    assert (reward, terminated, truncated) == (0.0, False, False)
    _, reward, _, truncated, _ = env.step(env.state)
    assert (reward, truncated) == (1.0, False)
    _, _, terminated, truncated, _ = env.step(env.state)
    assert (terminated, truncated) == (False, True)


def test_identity_env_space_arguments():
    assert IdentityEnv().action_space == spaces.Discrete(1)
    box = spaces.Box(-1, 1, (2,))
    assert IdentityEnv(space=box).observation_space is box
    with pytest.raises(AssertionError, match="at most one allowed"):
        IdentityEnv(dim=2, space=box)


def test_identity_env_box_reward_band():
    env = IdentityEnvBox(low=-2.0, high=2.0, eps=0.1)
    assert env.action_space == spaces.Box(-2.0, 2.0, (1,), np.float32)
    env.reset(seed=1)
    target = env.state.copy()
    assert env.step(target + 0.05)[1] == 1.0
    assert env.step(env.state - 0.099)[1] == 1.0
    assert env.step(env.state + 0.2)[1] == 0.0


@pytest.mark.parametrize(
    ("env_class", "space"),
    [(IdentityEnvMultiDiscrete, spaces.MultiDiscrete([3, 3])), (IdentityEnvMultiBinary, spaces.MultiBinary(3))],
)
def test_identity_env_multi_spaces(env_class, space):
    env = env_class(dim=3, ep_length=5)
    assert env.action_space == space
    env.reset(seed=0)
    assert env.step(env.state.copy())[1] == 1.0
    mismatch = env.state.copy()
    mismatch[0] = (mismatch[0] + 1) % 2
    assert env.step(mismatch)[1] == 0.0


@pytest.mark.parametrize("channel_first", [False, True])
@pytest.mark.parametrize("discrete", [False, True])
def test_fake_image_env(channel_first, discrete):
    env = FakeImageEnv(screen_height=40, screen_width=30, n_channels=3, discrete=discrete, channel_first=channel_first)
    shape = (3, 40, 30) if channel_first else (40, 30, 3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == shape and obs.dtype == np.uint8
    assert env.action_space == (spaces.Discrete(6) if discrete else spaces.Box(-1, 1, (5,), np.float32))
    truncations = [env.step(env.action_space.sample())[3] for _ in range(10)]
    assert truncations == [False] * 9 + [True]


def test_bit_flipping_discrete_actions_reach_the_goal():
    env = BitFlippingEnv(n_bits=4)
    obs, _ = env.reset(seed=3)
    assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
    assert env.observation_space["observation"] == spaces.MultiBinary(4)
    np.testing.assert_array_equal(obs["desired_goal"], np.ones(4))
    zeros = [i for i, bit in enumerate(obs["observation"]) if bit == 0]
    if not zeros:  # already at the goal: step away first
        env.step(0)
        zeros = [0]
    for step, bit in enumerate(zeros, start=1):
        obs, reward, terminated, _, info = env.step(bit)
        last = step == len(zeros)
        assert reward == (0.0 if last else -1.0)
        assert terminated == info["is_success"] == last
    np.testing.assert_array_equal(obs["achieved_goal"], np.ones(4))


def test_bit_flipping_truncates_after_max_steps():
    env = BitFlippingEnv(n_bits=3, max_steps=2)
    env.reset(seed=0)
    assert [env.step(0)[3] for _ in range(2)] == [False, True]
    assert BitFlippingEnv(n_bits=5).max_steps == 5


def test_bit_flipping_continuous_flips_positive_components():
    env = BitFlippingEnv(n_bits=4, continuous=True)
    assert env.action_space == spaces.Box(-1, 1, (4,), np.float32)
    env.reset(seed=0)
    before = env.state.copy()
    obs, *_ = env.step(np.array([0.5, -0.5, 0.0, 1.0], dtype=np.float32))
    np.testing.assert_array_equal(obs["observation"], before ^ np.array([1, 0, 0, 1], dtype=before.dtype))


def test_bit_flipping_discrete_observation_is_the_binary_number():
    env = BitFlippingEnv(n_bits=4, discrete_obs_space=True)
    assert env.observation_space["achieved_goal"] == spaces.Discrete(16)
    obs, _ = env.reset(seed=0)
    bits = env.state
    assert obs["observation"] == sum(int(bit) << i for i, bit in enumerate(bits))
    assert obs["desired_goal"] == 15
    # Scalars, a (batch,) array and a (batch, 1) array all decode the same way.
    assert env.compute_reward(15, 15, None).tolist() == [0.0]
    assert env.compute_reward(7, 15, None).tolist() == [-1.0]
    assert env.compute_reward(np.array([15, 3]), np.array([15, 15]), None).tolist() == [0.0, -1.0]
    assert env.compute_reward(np.array([[3], [15]]), np.array([[15], [15]]), None).tolist() == [-1.0, 0.0]


@pytest.mark.parametrize("channel_first", [True, False])
def test_bit_flipping_image_observation(channel_first):
    env = BitFlippingEnv(n_bits=5, image_obs_space=True, channel_first=channel_first)
    shape = (1, 36, 36) if channel_first else (36, 36, 1)
    obs, _ = env.reset(seed=0)
    image = obs["observation"]
    assert image.shape == shape and image.dtype == np.uint8
    flat = image.reshape(-1)
    np.testing.assert_array_equal(flat[:5], env.state.astype(np.uint8) * 255)
    assert not flat[5:].any()
    goals = np.stack([obs["desired_goal"], obs["achieved_goal"]])
    expected = [0.0, 0.0 if env.state.all() else -1.0]
    assert env.compute_reward(goals, np.stack([obs["desired_goal"]] * 2), None).tolist() == expected


def test_bit_flipping_rejects_two_observation_kinds():
    with pytest.raises(ValueError, match="discrete and image"):
        BitFlippingEnv(discrete_obs_space=True, image_obs_space=True)


def test_bit_flipping_render_modes(capsys):
    env = BitFlippingEnv(n_bits=3, render_mode="rgb_array")
    env.reset(seed=0)
    np.testing.assert_array_equal(env.render(), env.state)
    env = BitFlippingEnv(n_bits=3)
    env.reset(seed=0)
    assert env.render() is None
    assert capsys.readouterr().out.strip() == str(env.state)


def test_bit_flipping_seed_repeats_initial_bits():
    env = BitFlippingEnv(n_bits=16)
    first = env.reset(seed=42)[0]["observation"]
    env.reset(seed=7)
    np.testing.assert_array_equal(env.reset(seed=42)[0]["observation"], first)
    env.seed(42)
    np.testing.assert_array_equal(env.reset()[0]["observation"], first)


def test_simple_multi_obs_env_shortest_path():
    np.random.seed(0)
    env = SimpleMultiObsEnv(random_start=False)
    obs, _ = env.reset()
    assert obs["vec"].shape == (5,) and obs["img"].shape == (64, 64, 1)
    assert env.observation_space.contains(obs)
    rewards = []
    # Right along the top row, then down the right column: 0 -> 3 -> 15.
    for action in [2, 2, 2, 1, 1, 1]:
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
    assert env.state == 15 and terminated and info == {"got_to_end": True} and not truncated
    np.testing.assert_allclose(rewards, [-0.1] * 5 + [1.0])
    np.testing.assert_array_equal(obs["img"], env.state_mapping[15]["img"])
    assert env.log == "Went down in state 11, got to state 15"


def test_simple_multi_obs_env_walls_and_timeout():
    np.random.seed(0)
    env = SimpleMultiObsEnv(random_start=False, discrete_actions=False, channel_last=False)
    assert env.observation_space["img"].shape == (1, 64, 64)
    env.reset()
    env.step(np.array([0.0, 1.0, 0.0, 0.0]))  # down: 0 -> 4
    assert env.state == 4
    env.step(np.array([0.0, 0.0, 1.0, 0.0]))  # right from 4 runs into the wall
    assert env.state == 4
    truncated = [env.step(np.array([1.0, 0.0, 0.0, 0.0]))[3] for _ in range(99)]
    assert truncated[-1] and not any(truncated[:-1])


def test_simple_multi_obs_env_random_start_and_mapping():
    np.random.seed(1)
    env = SimpleMultiObsEnv()
    starts = {env.reset()[0]["vec"].tobytes() for _ in range(50)}
    # Start cells are 0..14: their vectors are the 4 column vectors.
    assert len(starts) == 4
    for state, mapping in enumerate(env.state_mapping):
        np.testing.assert_array_equal(mapping["vec"], env.state_mapping[(state // 4) * 4]["vec"])
        np.testing.assert_array_equal(mapping["img"], env.state_mapping[state % 4]["img"])


def test_parity_with_sb3_envs():
    sb3_envs = pytest.importorskip("stable_baselines3.common.envs")
    rng = np.random.default_rng(0)
    for kwargs in [{}, {"discrete_obs_space": True}, {"image_obs_space": True}, {"continuous": True}]:
        ours, theirs = BitFlippingEnv(n_bits=6, **kwargs), sb3_envs.BitFlippingEnv(n_bits=6, **kwargs)
        obs_ours, _ = ours.reset(seed=5)
        obs_theirs, _ = theirs.reset(seed=5)
        for key in obs_ours:
            np.testing.assert_array_equal(obs_ours[key], obs_theirs[key])
        for _ in range(12):
            action = rng.uniform(-1, 1, 6).astype(np.float32) if kwargs.get("continuous") else int(rng.integers(6))
            step_ours, step_theirs = ours.step(action), theirs.step(action)
            for key in obs_ours:
                np.testing.assert_array_equal(step_ours[0][key], step_theirs[0][key])
            assert step_ours[1:] == step_theirs[1:]
            if step_ours[2] or step_ours[3]:
                ours.reset()
                theirs.reset()
    for env_class in (IdentityEnvBox, IdentityEnvMultiDiscrete):
        ours, theirs = env_class(), getattr(sb3_envs, env_class.__name__)()
        ours.action_space.seed(3)
        theirs.action_space.seed(3)
        np.testing.assert_array_equal(ours.reset(seed=3)[0], theirs.reset(seed=3)[0])
        action = ours.action_space.sample()
        assert ours.step(action)[1] == theirs.step(action)[1]
