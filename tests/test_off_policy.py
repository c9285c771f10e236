"""OffPolicyAlgorithm: train_freq/gradient_steps/learning_starts, warm-up, action scaling and noise, transitions stored,
logging, n-step and memory-efficient buffers, replay-buffer save/load. A tiny algorithm with a constant policy keeps
the checks independent of any learning algorithm."""

import pickle
from typing import ClassVar

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common import off_policy_algorithm
from mlx_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer, ReplayBuffer
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.envs import SimpleMultiObsEnv
from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.logger import configure
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.noise import NormalActionNoise, VectorizedActionNoise
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from mlx_baselines3.common.vec_env import DummyVecEnv

SCALED_ACTION = 0.5


class CounterEnv(gym.Env):
    """Observation: the step number in the episode; episodes last `ep_length` steps; reward: the action taken."""

    def __init__(self, ep_length: int = 5, truncate: bool = False):
        self.observation_space = spaces.Box(0, 100, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(0, 10, shape=(1,), dtype=np.float32)
        self.ep_length, self.truncate = ep_length, truncate

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.ep_length
        return np.array([self.t], dtype=np.float32), float(action[0]), end and not self.truncate, end and self.truncate, {}


class ConstantPolicy(BasePolicy):
    """Always the scaled action SCALED_ACTION (in [-1, 1], squashed policies' convention)."""

    def __init__(self, observation_space, action_space, lr_schedule, use_sde=False):
        super().__init__(observation_space, action_space, squash_output=isinstance(action_space, spaces.Box))
        self.bias = mx.zeros(1)

    def _predict(self, observation, deterministic=False):
        batch = next(iter(observation.values())) if isinstance(observation, dict) else observation
        return mx.full((batch.shape[0], *self.action_space.shape), SCALED_ACTION) + self.bias


class Recorder(OffPolicyAlgorithm):
    """Records its train() calls and the minibatches it gets."""

    policy_aliases: ClassVar = {"MlpPolicy": ConstantPolicy, "MultiInputPolicy": ConstantPolicy}

    def __init__(self, env, policy="MlpPolicy", **kwargs):
        kwargs.setdefault("learning_starts", 0)
        super().__init__(policy, env, learning_rate=1e-3, support_multi_env=True, **kwargs)
        self.train_calls: list[tuple[int, int]] = []
        self.batch_shapes: list[tuple[int, ...]] = []
        self._setup_model()

    def train(self, gradient_steps: int, batch_size: int) -> None:
        self.train_calls.append((self.num_timesteps, gradient_steps))
        for batch in self._replay_batches(gradient_steps, batch_size):
            self.batch_shapes.append(tuple(batch.actions.shape))


def vec_env(n_envs=1, **kwargs):
    return DummyVecEnv([lambda: Monitor(CounterEnv(**kwargs))] * n_envs)


class TestTrainFreq:
    @pytest.mark.parametrize(
        ("train_freq", "expected"),
        [
            (4, TrainFreq(4, TrainFrequencyUnit.STEP)),
            ((3, "step"), TrainFreq(3, TrainFrequencyUnit.STEP)),
            ((2, "episode"), TrainFreq(2, TrainFrequencyUnit.EPISODE)),
            (TrainFreq(5, TrainFrequencyUnit.EPISODE), TrainFreq(5, TrainFrequencyUnit.EPISODE)),
        ],
    )
    def test_conversion(self, train_freq, expected):
        assert Recorder(vec_env(), train_freq=train_freq).train_freq == expected

    def test_unit_typo(self):
        with pytest.raises(ValueError, match="must be either 'step' or 'episode' not 'steps'"):
            Recorder(vec_env(), train_freq=(4, "steps"))

    @pytest.mark.parametrize("train_freq", [(1.5, "step"), ("4", "step"), (0, "step"), (-1, "episode"), (1, "step", 2)])
    def test_bad_frequency(self, train_freq):
        with pytest.raises(ValueError, match="train_freq"):
            Recorder(vec_env(), train_freq=train_freq)

    def test_steps(self):
        model = Recorder(vec_env(), train_freq=3, gradient_steps=2, batch_size=4)
        model.learn(10)
        assert model.train_calls == [(3, 2), (6, 2), (9, 2), (12, 2)]
        assert model.batch_shapes == [(4, 1)] * 8

    def test_episodes(self):
        model = Recorder(vec_env(ep_length=4), train_freq=(2, "episode"), gradient_steps=1)
        model.learn(20)
        assert model.train_calls == [(8, 1), (16, 1), (24, 1)]

    def test_episodes_need_one_env(self):
        model = Recorder(vec_env(n_envs=2), train_freq=(1, "episode"))
        with pytest.raises(ValueError, match="only one env when doing episodic training"):
            model.learn(10)

    def test_gradient_steps_as_many_as_env_steps(self):
        model = Recorder(vec_env(n_envs=2), train_freq=3, gradient_steps=-1)
        model.learn(12)
        assert model.train_calls == [(6, 6), (12, 6)]

    def test_no_gradient_steps(self):
        model = Recorder(vec_env(), train_freq=1, gradient_steps=0)
        model.learn(5)
        assert model.train_calls == []


class TestLearningStarts:
    def test_warning_when_larger_than_budget(self):
        model = Recorder(vec_env(), learning_starts=100)
        with pytest.warns(UserWarning, match="learning_starts=100 is not smaller than the training budget"):
            model.learn(50)
        assert model.train_calls == []

    def test_training_starts_after_warm_up(self, recwarn):
        model = Recorder(vec_env(), learning_starts=5)
        model.learn(8)
        assert [step for step, _ in model.train_calls] == [6, 7, 8]
        assert not [w for w in recwarn if "learning_starts" in str(w.message)]

    def test_warm_up_actions_are_uniform(self):
        model = Recorder(vec_env(), learning_starts=50, train_freq=1, seed=0)
        model.learn(60)
        stored = model.replay_buffer.actions[:60, 0, 0]
        # Warm-up: uniform over [0, 10], stored scaled to [-1, 1]; then the policy's action.
        warm_up = stored[:50]
        assert warm_up.min() < -0.5 and warm_up.max() > 0.5 and len(np.unique(warm_up)) == 50
        np.testing.assert_allclose(stored[50:], SCALED_ACTION)


def test_box_actions_scaled_for_the_env_and_buffer():
    model = Recorder(vec_env())
    model.learn(5)
    # The env receives the action in its bounds [0, 10] (reward = action), the buffer keeps it in [-1, 1].
    np.testing.assert_allclose(model.replay_buffer.rewards[:5, 0], 7.5)
    np.testing.assert_allclose(model.replay_buffer.actions[:5, 0, 0], SCALED_ACTION)


def test_action_noise_is_vectorized_and_clipped():
    np.random.seed(0)
    model = Recorder(vec_env(n_envs=2), action_noise=NormalActionNoise(np.zeros(1), np.ones(1)))
    model.learn(40)
    assert isinstance(model.action_noise, VectorizedActionNoise) and model.action_noise.n_envs == 2
    actions = model.replay_buffer.actions[:20, :, 0]
    assert actions.min() == -1 and actions.max() == 1
    assert len(np.unique(actions)) > 20
    np.testing.assert_allclose(model.replay_buffer.rewards[:20], 5 * (actions + 1), rtol=1e-5)


def test_terminal_observations_are_stored():
    for truncate in (False, True):
        model = Recorder(vec_env(ep_length=3, truncate=truncate))
        model.learn(6)
        buffer = model.replay_buffer
        np.testing.assert_array_equal(buffer.observations[:6, 0, 0], [0, 1, 2, 0, 1, 2])
        # The VecEnv has already reset: the next observation of the last step is the terminal one (3), not 0.
        np.testing.assert_array_equal(buffer.next_observations[:6, 0, 0], [1, 2, 3, 1, 2, 3])
        np.testing.assert_array_equal(buffer.dones[:6, 0], [0, 0, 1, 0, 0, 1])
        np.testing.assert_array_equal(buffer.timeouts[:6, 0], [0, 0, truncate, 0, 0, truncate])


def test_callback_can_stop_training():
    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.num_timesteps < 7

    model = Recorder(vec_env(), train_freq=5)
    model.learn(100, callback=StopAt())
    assert model.num_timesteps == 7 and model.train_calls == [(5, 1)]


def test_logged_keys():
    model = Recorder(vec_env(ep_length=3))
    model.set_logger(configure(None, [""]))
    dumped = []
    model.logger.dump = lambda step=0: dumped.append((step, dict(model.logger.name_to_value)))
    model.learn(12, log_interval=2)
    assert [step for step, _ in dumped] == [6, 12]
    values = dumped[-1][1]
    assert values["time/episodes"] == 4 and values["time/total_timesteps"] == 12
    assert values["rollout/ep_rew_mean"] == pytest.approx(22.5) and values["rollout/ep_len_mean"] == 3
    assert {"time/fps", "time/time_elapsed"} <= set(values)


def test_replay_batches_sampled_in_chunks(monkeypatch):
    model = Recorder(vec_env(), train_freq=20, gradient_steps=10, batch_size=3)
    calls = []
    sample_batches = model.replay_buffer.sample_batches
    monkeypatch.setattr(
        model.replay_buffer,
        "sample_batches",
        lambda batch_size, n_batches, env=None: calls.append(n_batches) or sample_batches(batch_size, n_batches, env),
    )
    model.learn(20)
    assert calls == [10]
    # Room for 4 minibatches per sampling.
    monkeypatch.setattr(off_policy_algorithm, "_MAX_SAMPLE_BYTES", 4 * 3 * model._transition_nbytes())
    calls.clear()
    model.learn(20)
    assert calls == [4, 4, 2] and model.batch_shapes[-10:] == [(3, 1)] * 10


class TestBufferChoice:
    def test_n_step(self):
        model = Recorder(vec_env(), n_steps=3, gamma=0.9)
        assert isinstance(model.replay_buffer, NStepReplayBuffer)
        assert model.replay_buffer.n_steps == 3 and model.replay_buffer.gamma == 0.9

    def test_n_step_ignored_with_custom_class(self):
        with pytest.warns(UserWarning, match="`n_steps=3` is ignored because a custom `replay_buffer_class`"):
            model = Recorder(vec_env(), n_steps=3, replay_buffer_class=ReplayBuffer)
        assert type(model.replay_buffer) is ReplayBuffer

    def test_dict_observations(self):
        env = DummyVecEnv([lambda: gym.wrappers.TransformAction(SimpleMultiObsEnv(), lambda a: a, spaces.Discrete(4))])
        assert isinstance(Recorder(env, "MultiInputPolicy").replay_buffer, DictReplayBuffer)
        with pytest.raises(ValueError, match="not supported for Dict observation spaces"):
            Recorder(env, "MultiInputPolicy", n_steps=2)

    def test_kwargs_and_memory_optimization(self):
        model = Recorder(
            vec_env(n_envs=2),
            buffer_size=100,
            optimize_memory_usage=True,
            replay_buffer_kwargs=dict(handle_timeout_termination=False),
        )
        assert model.replay_buffer.buffer_size == 50 and model.replay_buffer.optimize_memory_usage
        model.learn(10)
        with pytest.warns(UserWarning, match="last trajectory in the replay buffer will be truncated"):
            model.learn(10)
        assert model.replay_buffer.dones[4].all()


class TestSaveLoadReplayBuffer:
    def test_round_trip(self, tmp_path):
        model = Recorder(vec_env(n_envs=2), learning_starts=4, n_steps=2)
        model.learn(30)
        model.save_replay_buffer(tmp_path / "buffer")
        assert (tmp_path / "buffer.pkl").exists()
        loaded = Recorder(vec_env(n_envs=2))
        loaded.load_replay_buffer(tmp_path / "buffer")
        original, restored = model.replay_buffer, loaded.replay_buffer
        assert type(restored) is NStepReplayBuffer and restored is not original
        for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
            np.testing.assert_array_equal(getattr(restored, name), getattr(original, name), err_msg=name)
            assert getattr(restored, name).dtype == getattr(original, name).dtype
        assert (restored.pos, restored.full, restored.n_steps, restored.gamma) == (original.pos, original.full, 2, 0.99)
        assert restored.device == loaded.device
        loaded.learn(10)

    def test_file_object(self, tmp_path):
        model = Recorder(vec_env())
        model.learn(5)
        with open(tmp_path / "buffer.bin", "wb") as file:
            model.save_replay_buffer(file)
        with open(tmp_path / "buffer.bin", "rb") as file:
            model.load_replay_buffer(file)
        assert model.replay_buffer.pos == 5

    def test_refuses_code_in_the_file(self, tmp_path):
        class Exploit:
            def __reduce__(self):
                return (print, ("pwned",))

        with open(tmp_path / "evil.pkl", "wb") as file:
            pickle.dump(Exploit(), file)
        model = Recorder(vec_env())
        with pytest.raises(LoadError, match=r"builtins\.print"):
            model.load_replay_buffer(tmp_path / "evil.pkl")

    def test_not_a_replay_buffer(self, tmp_path):
        with open(tmp_path / "array.pkl", "wb") as file:
            pickle.dump(np.zeros(3), file)
        with pytest.raises(LoadError, match="must inherit from ReplayBuffer"):
            Recorder(vec_env()).load_replay_buffer(tmp_path / "array.pkl")

    def test_sb3_replay_buffer_loads(self, tmp_path):
        sb3 = pytest.importorskip("stable_baselines3")
        theirs = sb3.TD3("MlpPolicy", CounterEnv(), learning_starts=5, buffer_size=100, policy_kwargs=dict(net_arch=[8]))
        theirs.learn(20)
        theirs.save_replay_buffer(tmp_path / "sb3_buffer.pkl")
        model = Recorder(vec_env())
        model.load_replay_buffer(tmp_path / "sb3_buffer.pkl")
        assert type(model.replay_buffer) is ReplayBuffer and model.replay_buffer.pos == 20
        np.testing.assert_array_equal(model.replay_buffer.actions[:20], theirs.replay_buffer.actions[:20])
        assert model.replay_buffer.sample(4).observations.shape == (4, 1)
