"""ReplayBuffer, DictReplayBuffer, NStepReplayBuffer: storage, dtypes, timeouts, memory-efficient variant, n-step returns."""

import warnings

import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common import buffers
from mlx_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer, ReplayBuffer
from mlx_baselines3.common.type_aliases import DictReplayBufferSamples, ReplayBufferSamples

BOX = spaces.Box(-10, 10, shape=(3,), dtype=np.float32)


def fill(buffer: ReplayBuffer, n_steps: int, n_envs: int = 1, dones=(), timeouts=()) -> None:
    """Store transitions whose observation is the step number (next observation: step + 0.5) and reward is the step."""
    for step in range(n_steps):
        obs = np.full((n_envs, *buffer.obs_shape), step, dtype=buffer.observations.dtype)
        next_obs = obs + 0.5 if obs.dtype.kind == "f" else obs + 1
        action = np.full((n_envs, buffer.action_dim), step % 2)
        done = np.full(n_envs, step in dones or step in timeouts)
        infos = [{"TimeLimit.truncated": step in timeouts} for _ in range(n_envs)]
        buffer.add(obs, next_obs, action, np.full(n_envs, float(step)), done, infos)


def test_add_and_sample_values():
    buffer = ReplayBuffer(10, BOX, spaces.Discrete(2))
    fill(buffer, 4)
    assert buffer.size() == 4 and buffer.pos == 4 and not buffer.full
    samples = buffer.sample(64)
    assert isinstance(samples, ReplayBufferSamples)
    obs = np.array(samples.observations)
    assert obs.shape == (64, 3) and samples.rewards.shape == (64, 1) and samples.dones.shape == (64, 1)
    # Each sampled row is a consistent transition.
    np.testing.assert_array_equal(np.array(samples.next_observations), obs + 0.5)
    np.testing.assert_array_equal(np.array(samples.rewards)[:, 0], obs[:, 0])
    np.testing.assert_array_equal(np.array(samples.actions)[:, 0], obs[:, 0] % 2)
    assert set(obs[:, 0]) <= {0.0, 1.0, 2.0, 3.0}
    assert samples.discounts is None


def test_ring_overwrites_oldest():
    buffer = ReplayBuffer(5, BOX, spaces.Discrete(2))
    fill(buffer, 7)
    assert buffer.full and buffer.pos == 2 and buffer.size() == 5
    assert sorted(buffer.observations[:, 0, 0]) == [2, 3, 4, 5, 6]


def test_buffer_size_is_shared_by_envs():
    buffer = ReplayBuffer(10, BOX, spaces.Discrete(2), n_envs=4)
    assert buffer.buffer_size == 2
    assert buffer.observations.shape == (2, 4, 3)
    assert ReplayBuffer(3, BOX, spaces.Discrete(2), n_envs=4).buffer_size == 1


@pytest.mark.parametrize(
    ("observation_space", "stored", "sampled"),
    [
        (spaces.Box(0, 255, shape=(2, 2), dtype=np.uint8), np.uint8, mx.uint8),
        # SB3's samples keep float64 too (the policy casts to float32); MLX has float64 on the CPU only.
        (spaces.Box(-1, 1, shape=(2,), dtype=np.float64), np.float64, mx.float64),
        (spaces.Discrete(4), np.int64, mx.int64),
        (spaces.MultiBinary(3), np.int8, mx.int8),
    ],
)
def test_observation_dtype_is_preserved(observation_space, stored, sampled):
    buffer = ReplayBuffer(8, observation_space, spaces.Discrete(2), device="cpu", n_envs=2)
    assert buffer.observations.dtype == stored and buffer.next_observations.dtype == stored
    for _ in range(3):
        obs = np.stack([observation_space.sample() for _ in range(2)])
        buffer.add(obs, obs, np.array([0, 1]), np.zeros(2), np.zeros(2), [{}, {}])
    samples = buffer.sample(5)
    assert samples.observations.dtype == sampled and samples.next_observations.dtype == sampled


@pytest.mark.parametrize(
    ("action_space", "stored", "action_dim"),
    [
        (spaces.Discrete(3), np.int64, 1),
        (spaces.MultiDiscrete([2, 3]), np.int64, 2),
        (spaces.MultiBinary(4), np.int8, 4),
        (spaces.Box(-1, 1, shape=(2,), dtype=np.float32), np.float32, 2),
        # Policies output float32: float64 actions are stored as float32.
        (spaces.Box(-1, 1, shape=(2,), dtype=np.float64), np.float32, 2),
    ],
)
def test_action_dtype_and_shape(action_space, stored, action_dim):
    buffer = ReplayBuffer(8, BOX, action_space, n_envs=2)
    assert buffer.actions.dtype == stored and buffer.actions.shape == (4, 2, action_dim)
    actions = np.stack([action_space.sample() for _ in range(2)])
    buffer.add(np.zeros((2, 3)), np.zeros((2, 3)), actions, np.zeros(2), np.zeros(2), [{}, {}])
    np.testing.assert_array_equal(buffer.actions[0], np.asarray(actions).reshape(2, action_dim).astype(stored))


@pytest.mark.parametrize("handle_timeout_termination", [True, False])
def test_timeouts_are_not_terminal(handle_timeout_termination):
    buffer = ReplayBuffer(10, BOX, spaces.Discrete(2), handle_timeout_termination=handle_timeout_termination)
    fill(buffer, 4, dones=(1,), timeouts=(3,))
    samples = buffer._get_samples(np.array([0, 1, 2, 3]))
    expected = [0, 1, 0, 0] if handle_timeout_termination else [0, 1, 0, 1]
    np.testing.assert_array_equal(np.array(samples.dones)[:, 0], expected)


def test_optimize_memory_usage():
    with pytest.raises(ValueError, match="optimize_memory_usage = True and handle_timeout_termination = True"):
        ReplayBuffer(10, BOX, spaces.Discrete(2), optimize_memory_usage=True)
    buffer = ReplayBuffer(4, BOX, spaces.Discrete(2), optimize_memory_usage=True, handle_timeout_termination=False)
    assert not hasattr(buffer, "next_observations")
    fill(buffer, 6)
    # Slot `pos` holds the next observation of the newest transition: it is never sampled as a transition.
    assert buffer.pos == 2
    samples = buffer.sample(200)
    obs, next_obs = np.array(samples.observations)[:, 0], np.array(samples.next_observations)[:, 0]
    assert set(obs) == {3.0, 4.0, 5.0}
    # The next observation is read from the following slot: the next transition's observation (the newest
    # transition's next observation was written there last).
    np.testing.assert_array_equal(next_obs, np.where(obs == 5.0, 5.5, obs + 1))


def test_sample_batches_rows():
    buffer = ReplayBuffer(100, BOX, spaces.Discrete(2), n_envs=2)
    fill(buffer, 30, n_envs=2)
    samples = buffer.sample_batches(batch_size=8, n_batches=5)
    assert samples.observations.shape == (40, 3) and samples.actions.shape == (40, 1)


def test_discrete_observations_of_several_envs():
    buffer = ReplayBuffer(10, spaces.Discrete(5), spaces.Discrete(2), n_envs=3)
    buffer.add(np.array([1, 2, 3]), np.array([2, 3, 4]), np.array([0, 1, 0]), np.zeros(3), np.zeros(3), [{}] * 3)
    np.testing.assert_array_equal(buffer.observations[0, :, 0], [1, 2, 3])
    np.testing.assert_array_equal(buffer.next_observations[0, :, 0], [2, 3, 4])


def test_dict_replay_buffer():
    space = spaces.Dict({"img": spaces.Box(0, 255, (1, 4, 4), np.uint8), "vec": spaces.Box(-1, 1, (2,), np.float32)})
    with pytest.raises(AssertionError, match="DictReplayBuffer must be used with Dict obs space only"):
        DictReplayBuffer(10, BOX, spaces.Discrete(2))
    with pytest.raises(ValueError, match="optimize_memory_usage"):
        DictReplayBuffer(10, space, spaces.Discrete(2), optimize_memory_usage=True, handle_timeout_termination=False)
    buffer = DictReplayBuffer(10, space, spaces.Discrete(2), n_envs=2)
    for step in range(3):
        obs = {"img": np.full((2, 1, 4, 4), step, np.uint8), "vec": np.full((2, 2), step, np.float32)}
        next_obs = {"img": obs["img"] + 1, "vec": obs["vec"] + 1}
        buffer.add(obs, next_obs, np.array([step % 2] * 2), np.full(2, step), np.zeros(2), [{}, {}])
    samples = buffer.sample(16)
    assert isinstance(samples, DictReplayBufferSamples)
    assert samples.observations["img"].dtype == mx.uint8 and samples.observations["img"].shape == (16, 1, 4, 4)
    img = np.array(samples.observations["img"])[:, 0, 0, 0]
    np.testing.assert_array_equal(np.array(samples.next_observations["vec"])[:, 0], img + 1)
    np.testing.assert_array_equal(np.array(samples.rewards)[:, 0], img)
    assert buffer.sample_batches(4, 3).observations["vec"].shape == (12, 2)


def test_memory_warning(monkeypatch):
    class FakeMemory:
        available = 1000

    class FakePsutil:
        @staticmethod
        def virtual_memory():
            return FakeMemory()

    monkeypatch.setattr(buffers, "psutil", FakePsutil)
    with pytest.warns(UserWarning, match="not have apparently enough memory to store the complete replay buffer"):
        ReplayBuffer(1000, BOX, spaces.Discrete(2))
    space = spaces.Dict({"vec": BOX})
    with pytest.warns(UserWarning, match="not have apparently enough memory"):
        DictReplayBuffer(1000, space, spaces.Discrete(2))
    FakeMemory.available = 10**9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ReplayBuffer(1000, BOX, spaces.Discrete(2))
    # psutil is optional: no check without it.
    monkeypatch.setattr(buffers, "psutil", None)
    FakeMemory.available = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ReplayBuffer(1000, BOX, spaces.Discrete(2))


class TestNStepReplayBuffer:
    gamma = 0.5

    def make(self, n_steps=3, **kwargs) -> NStepReplayBuffer:
        return NStepReplayBuffer(20, BOX, spaces.Discrete(2), n_steps=n_steps, gamma=self.gamma, **kwargs)

    def returns(self, buffer, indices):
        samples = buffer._get_samples(np.array(indices))
        return (
            np.array(samples.rewards)[:, 0],
            np.array(samples.discounts)[:, 0],
            np.array(samples.next_observations)[:, 0],
            np.array(samples.dones)[:, 0],
        )

    def test_full_n_step_sums(self):
        buffer = self.make()
        fill(buffer, 10)
        rewards, discounts, next_obs, dones = self.returns(buffer, [0, 4])
        # r_t + gamma r_{t+1} + gamma^2 r_{t+2}, with r_t = t
        np.testing.assert_allclose(rewards, [0 + 0.5 * 1 + 0.25 * 2, 4 + 0.5 * 5 + 0.25 * 6])
        np.testing.assert_allclose(discounts, [0.125, 0.125])
        np.testing.assert_array_equal(next_obs, [2.5, 6.5])
        np.testing.assert_array_equal(dones, [0, 0])

    def test_sum_stops_at_episode_end(self):
        buffer = self.make()
        fill(buffer, 10, dones=(5,), timeouts=(1,))
        rewards, discounts, next_obs, dones = self.returns(buffer, [4, 5, 0])
        np.testing.assert_allclose(rewards, [4 + 0.5 * 5, 5, 0 + 0.5 * 1])
        np.testing.assert_allclose(discounts, [0.25, 0.5, 0.25])
        np.testing.assert_array_equal(next_obs, [5.5, 5.5, 1.5])
        # A termination is terminal; a timeout is not (the value after it is bootstrapped).
        np.testing.assert_array_equal(dones, [1, 1, 0])

    def test_sum_stops_at_newest_transition(self):
        buffer = self.make()
        fill(buffer, 6)
        rewards, discounts, next_obs, dones = self.returns(buffer, [4])
        np.testing.assert_allclose(rewards, [4 + 0.5 * 5])
        np.testing.assert_allclose(discounts, [0.25])
        np.testing.assert_array_equal(next_obs, [5.5])
        np.testing.assert_array_equal(dones, [0])
        # The temporary truncation flag is removed after sampling.
        assert buffer.timeouts[5, 0] == 0

    def test_one_step_is_plain_replay(self):
        buffer = self.make(n_steps=1)
        fill(buffer, 5)
        rewards, discounts, next_obs, _ = self.returns(buffer, [1, 2])
        np.testing.assert_allclose(rewards, [1, 2])
        np.testing.assert_allclose(discounts, [0.5, 0.5])
        np.testing.assert_array_equal(next_obs, [1.5, 2.5])

    def test_no_memory_optimization(self):
        with pytest.raises(NotImplementedError, match="optimize_memory_usage"):
            self.make(optimize_memory_usage=True, handle_timeout_termination=False)
