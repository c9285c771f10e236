"""VecFrameStack and StackedObservations: stacking maths, channel order, terminal observations, Dict spaces."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.vec_env import DummyVecEnv, StackedObservations, VecEnvWrapper, VecFrameStack


class TickEnv(gym.Env):
    """
    Observation at step k of an episode: ``value(k) = 10 * env_id + k`` everywhere in an array of ``shape``.
    Episodes last ``ep_len`` steps.
    """

    def __init__(self, shape=(2,), env_id=0, ep_len=4, dtype=np.float32):
        high = 255 if dtype == np.uint8 else 1000
        self.observation_space = spaces.Box(0, high, shape, dtype)
        self.action_space = spaces.Discrete(2)
        self.env_id, self.ep_len, self.k = env_id, ep_len, 0

    def _obs(self):
        return np.full(self.observation_space.shape, 10 * self.env_id + self.k, self.observation_space.dtype)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.k = 0
        return self._obs(), {}

    def step(self, action):
        self.k += 1
        return self._obs(), 0.0, self.k == self.ep_len, False, {}


def stack_env(n_stack, shape=(2,), dtype=np.float32, channels_order=None, ep_lens=(4, 4)):
    fns = [lambda i=i, ep_len=ep_len: TickEnv(shape, i, ep_len, dtype) for i, ep_len in enumerate(ep_lens)]
    return VecFrameStack(DummyVecEnv(fns), n_stack, channels_order=channels_order)


def test_vector_observations_stack_on_last_axis():
    venv = stack_env(3)
    assert venv.observation_space.shape == (6,)
    obs = venv.reset()
    # Older slots are zeros after a reset; the newest observation comes last.
    np.testing.assert_array_equal(obs, [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 10, 10]])
    obs, _, _, _ = venv.step(np.array([0, 0]))
    np.testing.assert_array_equal(obs, [[0, 0, 0, 0, 1, 1], [0, 0, 10, 10, 11, 11]])
    obs, _, _, _ = venv.step(np.array([0, 0]))
    np.testing.assert_array_equal(obs, [[0, 0, 1, 1, 2, 2], [10, 10, 11, 11, 12, 12]])
    obs, _, _, _ = venv.step(np.array([0, 0]))
    np.testing.assert_array_equal(obs, [[1, 1, 2, 2, 3, 3], [11, 11, 12, 12, 13, 13]])


def test_terminal_observation_is_stacked_and_stack_restarts():
    venv = stack_env(3, ep_lens=(2, 3))
    venv.reset()
    venv.step(np.array([0, 0]))
    obs, _, dones, infos = venv.step(np.array([0, 0]))
    np.testing.assert_array_equal(dones, [True, False])
    # Terminal observation of env 0: the frames before it, then its last frame (k = 2).
    np.testing.assert_array_equal(infos[0]["terminal_observation"], [0, 0, 1, 1, 2, 2])
    # The returned observation starts the next episode from zeros.
    np.testing.assert_array_equal(obs[0], [0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(obs[1], [10, 10, 11, 11, 12, 12])
    obs, _, dones, infos = venv.step(np.array([0, 0]))
    np.testing.assert_array_equal(dones, [False, True])
    np.testing.assert_array_equal(infos[1]["terminal_observation"], [11, 11, 12, 12, 13, 13])
    np.testing.assert_array_equal(obs, [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 10, 10]])


@pytest.mark.parametrize(
    ("shape", "channels_order", "expected_shape", "axis"),
    [
        ((3, 5, 4), None, (6, 5, 4), 0),  # channels-first image, detected
        ((5, 4, 3), None, (5, 4, 6), -1),  # channels-last image, detected
        ((5, 4, 3), "first", (10, 4, 3), 0),  # forced
        ((3, 5, 4), "last", (3, 5, 8), -1),
    ],
)
def test_image_channel_order(shape, channels_order, expected_shape, axis):
    venv = stack_env(2, shape=shape, dtype=np.uint8, channels_order=channels_order, ep_lens=(2, 2))
    assert venv.observation_space.shape == expected_shape and venv.observation_space.dtype == np.uint8
    venv.reset()
    obs, _, _, _ = venv.step(np.array([0, 0]))
    obs, _, _, infos = venv.step(np.array([0, 0]))
    n_channels = shape[axis]
    older, newer = np.split(infos[1]["terminal_observation"], 2, axis=axis)
    assert older.shape[axis] == newer.shape[axis] == n_channels
    assert (older == 11).all() and (newer == 12).all()
    first_env = obs[0]
    zeros, latest = np.split(first_env, 2, axis=axis)
    assert (zeros == 0).all() and (latest == 0).all()


def test_space_bounds_are_repeated_as_in_sb3():
    low = np.array([-1.0, -2.0], np.float32)
    space = spaces.Box(low, -low)
    stacked = StackedObservations(1, 3, space)
    # Element-wise repetition, not tiling (SB3 does the same; matching it keeps saved models' spaces comparable).
    np.testing.assert_array_equal(stacked.stacked_observation_space.low, np.repeat(low, 3))
    np.testing.assert_array_equal(stacked.stacked_observation_space.high, -np.repeat(low, 3))
    assert StackedObservations.compute_stacking(3, space) == (False, -1, (6,), -1)
    image = spaces.Box(0, 255, (4, 8, 8), np.uint8)
    assert StackedObservations.compute_stacking(2, image) == (True, 1, (8, 8, 8), 0)


def test_returned_stacks_are_not_modified_later():
    venv = stack_env(2, ep_lens=(1, 1))
    first = venv.reset()
    kept = first.copy()
    second, _, _, _ = venv.step(np.array([0, 0]))
    kept_second = second.copy()
    venv.step(np.array([0, 0]))
    venv.reset()
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(second, kept_second)


class DictTickEnv(gym.Env):
    def __init__(self, ep_len=2):
        self.observation_space = spaces.Dict(
            {"img": spaces.Box(0, 255, (1, 3, 3), np.uint8), "vec": spaces.Box(-10.0, 10.0, (2,), np.float32)}
        )
        self.action_space = spaces.Discrete(2)
        self.ep_len, self.k = ep_len, 0

    def _obs(self):
        return {"img": np.full((1, 3, 3), self.k + 1, np.uint8), "vec": np.array([self.k, -self.k], np.float32)}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.k = 0
        return self._obs(), {}

    def step(self, action):
        self.k += 1
        return self._obs(), 0.0, self.k == self.ep_len, False, {}


def test_dict_observations_stack_per_key():
    venv = VecFrameStack(DummyVecEnv([DictTickEnv]), 3, channels_order={"img": "first", "vec": "last"})
    assert venv.observation_space["img"].shape == (3, 3, 3) and venv.observation_space["vec"].shape == (6,)
    obs = venv.reset()
    np.testing.assert_array_equal(obs["img"][0, :, 0, 0], [0, 0, 1])
    np.testing.assert_array_equal(obs["vec"][0], [0, 0, 0, 0, 0, 0])
    venv.step(np.array([0]))
    obs, _, dones, infos = venv.step(np.array([0]))
    assert dones[0]
    terminal = infos[0]["terminal_observation"]
    np.testing.assert_array_equal(terminal["img"][:, 0, 0], [1, 2, 3])
    np.testing.assert_array_equal(terminal["vec"], [0, 0, 1, -1, 2, -2])
    np.testing.assert_array_equal(obs["img"][0, :, 0, 0], [0, 0, 1])

    # One order for every key.
    single = VecFrameStack(DummyVecEnv([DictTickEnv]), 2, channels_order="last")
    assert single.observation_space["img"].shape == (1, 3, 6)


def test_invalid_settings():
    with pytest.raises(AssertionError, match=r"only works with gym\.spaces\.Box and gym\.spaces\.Dict"):
        VecFrameStack(DummyVecEnv([lambda: gym.make("FrozenLake-v1")]), 2)
    with pytest.raises(AssertionError, match="`channels_order` must be one of following"):
        stack_env(2, channels_order="middle")
    with pytest.raises(TypeError, match="channels_order can't be a dict"):
        stack_env(2, channels_order={"a": "last"})
    with pytest.raises(ValueError, match="n_stack must be at least 1, got 0"):
        stack_env(0)
    with pytest.raises(TypeError, match="only supports Box and Dict"):
        StackedObservations(1, 2, spaces.Discrete(3))


class DropTerminal(VecEnvWrapper):
    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            info.pop("terminal_observation", None)
        return obs, rewards, dones, infos


def test_warns_without_terminal_observation():
    venv = VecFrameStack(DropTerminal(DummyVecEnv([lambda: TickEnv(ep_len=1)])), 2)
    venv.reset()
    with pytest.warns(UserWarning, match="without terminal_observation"):
        obs, _, _, _ = venv.step(np.array([0]))
    np.testing.assert_array_equal(obs, [[0, 0, 0, 0]])


class NoiseImageEnv(gym.Env):
    """Random uint8 images from the seeded generator, channels-last."""

    def __init__(self, ep_len=5):
        self.observation_space = spaces.Box(0, 255, (6, 5, 2), np.uint8)
        self.action_space = spaces.Discrete(2)
        self.ep_len, self.k = ep_len, 0

    def _obs(self):
        return self.np_random.integers(0, 256, size=(6, 5, 2), dtype=np.uint8)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.k = 0
        return self._obs(), {}

    def step(self, action):
        self.k += 1
        return self._obs(), 0.0, self.k == self.ep_len, False, {}


@pytest.mark.parametrize(
    ("env_fn", "channels_order"),
    [(NoiseImageEnv, None), (NoiseImageEnv, "first"), (DictTickEnv, {"img": "first", "vec": "last"})],
)
def test_parity_with_sb3(env_fn, channels_order):
    sb3 = pytest.importorskip("stable_baselines3.common.vec_env")

    def run(dummy_cls, stack_cls):
        venv = stack_cls(dummy_cls([env_fn, env_fn, env_fn]), 4, channels_order=channels_order)
        venv.seed(2)
        trace = [venv.reset()]
        for _ in range(12):
            obs, _, dones, infos = venv.step(np.zeros(3, dtype=np.int64))
            trace.append((obs, dones, [info.get("terminal_observation") for info in infos]))
        return venv.observation_space, trace

    def equal(a, b):
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(np.array_equal(a[key], b[key]) for key in a)
        if a is None or b is None:
            return a is None and b is None
        return np.array_equal(a, b)

    our_space, ours = run(DummyVecEnv, VecFrameStack)
    their_space, theirs = run(sb3.DummyVecEnv, sb3.VecFrameStack)
    assert our_space == their_space
    assert equal(ours[0], theirs[0])
    for mine, ref in zip(ours[1:], theirs[1:], strict=True):
        assert equal(mine[0], ref[0]) and np.array_equal(mine[1], ref[1])
        assert all(equal(a, b) for a, b in zip(mine[2], ref[2], strict=True))
