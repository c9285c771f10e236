"""evaluate_policy: episode split over sub-envs, Monitor-aware accounting, warnings, threshold, callback, state passing."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.envs import IdentityEnv
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import DummyVecEnv, VecEnvWrapper, VecMonitor


class FixedLengthEnv(gym.Env):
    """Episodes of exactly ``length`` steps, each paying ``reward``."""

    observation_space = spaces.Box(-1, 1, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, length: int, reward: float = 1.0):
        self.length, self.reward, self.t = length, reward, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), self.reward, self.t >= self.length, False, {}


class ScaleReward(gym.RewardWrapper):
    def reward(self, reward):
        return 10.0 * reward


class LifeLoss(gym.Wrapper):
    """Reports ``terminated`` every ``every`` steps without ending the wrapped episode (like EpisodicLifeEnv)."""

    def __init__(self, env, every: int):
        super().__init__(env)
        self.every, self.steps, self.real_done = every, 0, True

    def reset(self, **kwargs):
        if self.real_done:
            self.steps = 0
            return self.env.reset(**kwargs)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self.real_done = terminated or truncated
        return obs, reward, terminated or self.steps % self.every == 0, truncated, info


class EchoPredictor:
    """Acts with the observation itself (optimal on IdentityEnv) and records how it was called."""

    def __init__(self):
        self.calls = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.calls.append({"state": state, "episode_start": episode_start.copy(), "deterministic": deterministic})
        new_state = 0 if state is None else state + 1
        return np.asarray(observation), new_state


class ZeroPredictor:
    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return np.zeros(len(observation), dtype=np.int64), None


def test_identity_env_mean_and_std():
    env = Monitor(IdentityEnv(dim=3, ep_length=5))
    assert evaluate_policy(EchoPredictor(), env, n_eval_episodes=4) == (5.0, 0.0)
    rewards, lengths = evaluate_policy(EchoPredictor(), env, n_eval_episodes=3, return_episode_rewards=True)
    assert rewards == [5.0, 5.0, 5.0] and lengths == [5, 5, 5]


def test_episodes_are_split_between_sub_envs():
    lengths = [2, 3, 7]
    env = DummyVecEnv([lambda length=length: Monitor(FixedLengthEnv(length, reward=length)) for length in lengths])
    episode_rewards, episode_lengths = evaluate_policy(ZeroPredictor(), env, n_eval_episodes=5, return_episode_rewards=True)
    # Targets are [1, 2, 2]: env 0's later (short) episodes are ignored, so short episodes are not over-counted.
    assert episode_lengths == [2, 3, 3, 7, 7]
    assert episode_rewards == [4.0, 9.0, 9.0, 49.0, 49.0]
    mean, std = evaluate_policy(ZeroPredictor(), env, n_eval_episodes=5)
    assert mean == pytest.approx(np.mean(episode_rewards)) and std == pytest.approx(np.std(episode_rewards))


def test_monitor_statistics_ignore_outer_reward_wrappers():
    env = ScaleReward(Monitor(FixedLengthEnv(4)))
    assert evaluate_policy(ZeroPredictor(), env, n_eval_episodes=2, return_episode_rewards=True) == ([4.0, 4.0], [4, 4])


def test_without_monitor_rewards_are_counted_as_stepped_and_a_warning_is_given():
    env = ScaleReward(FixedLengthEnv(4))
    with pytest.warns(UserWarning, match="not wrapped with a ``Monitor`` wrapper"):
        rewards, lengths = evaluate_policy(ZeroPredictor(), env, n_eval_episodes=2, return_episode_rewards=True)
    assert rewards == [40.0, 40.0] and lengths == [4, 4]


def test_warn_false_silences_the_monitor_warning(recwarn):
    evaluate_policy(ZeroPredictor(), FixedLengthEnv(2), n_eval_episodes=1, warn=False)
    assert not [w for w in recwarn if "Monitor" in str(w.message)]


def test_early_dones_outside_the_monitor_do_not_end_episodes():
    env = LifeLoss(Monitor(FixedLengthEnv(6)), every=2)
    rewards, lengths = evaluate_policy(ZeroPredictor(), env, n_eval_episodes=2, return_episode_rewards=True)
    assert rewards == [6.0, 6.0] and lengths == [6, 6]
    with pytest.warns(UserWarning):
        _, lengths_unmonitored = evaluate_policy(
            ZeroPredictor(), LifeLoss(FixedLengthEnv(6), every=2), n_eval_episodes=2, return_episode_rewards=True
        )
    assert lengths_unmonitored == [2, 2]


def test_vec_monitor_counts_as_monitor(recwarn):
    env = VecMonitor(DummyVecEnv([lambda: ScaleReward(FixedLengthEnv(3))] * 2))
    rewards, lengths = evaluate_policy(ZeroPredictor(), env, n_eval_episodes=2, return_episode_rewards=True)
    # VecMonitor sits outside the reward wrapper, so it sees the scaled rewards.
    assert rewards == [30.0, 30.0] and lengths == [3, 3]
    assert not [w for w in recwarn if "Monitor" in str(w.message)]


def test_reward_threshold():
    env = Monitor(FixedLengthEnv(2))
    evaluate_policy(ZeroPredictor(), env, n_eval_episodes=1, reward_threshold=1.5)
    with pytest.raises(AssertionError, match=r"Mean reward below threshold: 2\.00 < 2\.00"):
        evaluate_policy(ZeroPredictor(), env, n_eval_episodes=1, reward_threshold=2.0)


def test_callback_sees_the_step_locals():
    seen = []

    def callback(locals_, globals_):
        assert globals_["evaluate_policy"] is evaluate_policy
        seen.append((locals_["i"], bool(locals_["done"]), float(locals_["reward"]), locals_["episode_counts"].tolist()))
        assert locals_["info"] is locals_["infos"][locals_["i"]]

    env = DummyVecEnv([lambda: Monitor(FixedLengthEnv(2, reward=0.5)), lambda: Monitor(FixedLengthEnv(3))])
    evaluate_policy(ZeroPredictor(), env, n_eval_episodes=2, callback=callback)
    # Env 0 is called until its episode ends (step 2), env 1 until step 3; counts are read before the increment.
    assert seen == [
        (0, False, 0.5, [0, 0]),
        (1, False, 1.0, [0, 0]),
        (0, True, 0.5, [0, 0]),
        (1, False, 1.0, [1, 0]),
        (1, True, 1.0, [1, 0]),
    ]


def test_state_and_episode_start_are_threaded_through_predict():
    predictor = EchoPredictor()
    env = DummyVecEnv([lambda: Monitor(IdentityEnv(dim=2, ep_length=2)) for _ in range(2)])
    evaluate_policy(predictor, env, n_eval_episodes=4, deterministic=False)
    assert [call["state"] for call in predictor.calls] == [None, 0, 1, 2]
    episode_starts = [call["episode_start"].tolist() for call in predictor.calls]
    assert episode_starts == [[True, True], [False, False], [True, True], [False, False]]
    assert not any(call["deterministic"] for call in predictor.calls)


def test_render_is_called_after_every_step():
    class CountRenders(VecEnvWrapper):
        renders = 0

        def reset(self):
            return self.venv.reset()

        def step_wait(self):
            return self.venv.step_wait()

        def render(self, mode=None):
            CountRenders.renders += 1

    env = CountRenders(DummyVecEnv([lambda: Monitor(FixedLengthEnv(3))]))
    evaluate_policy(ZeroPredictor(), env, n_eval_episodes=2, render=True)
    assert CountRenders.renders == 6


class CartPolePolicy:
    """Push towards the side the pole leans to: balances for a few dozen steps, episodes of varied lengths."""

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return (observation[:, 2] > 0).astype(np.int64), None


def test_parity_with_sb3():
    sb3_evaluation = pytest.importorskip("stable_baselines3.common.evaluation")
    sb3_vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    sb3_monitor = pytest.importorskip("stable_baselines3.common.monitor")

    def make_envs(dummy, monitor, n_envs):
        envs = dummy([lambda: monitor(gym.make("CartPole-v1")) for _ in range(n_envs)])
        envs.seed(11)
        return envs

    for n_envs, n_episodes in [(1, 3), (3, 7)]:
        our_envs = make_envs(DummyVecEnv, Monitor, n_envs)
        ours = evaluate_policy(CartPolePolicy(), our_envs, n_episodes, return_episode_rewards=True)
        theirs = sb3_evaluation.evaluate_policy(
            CartPolePolicy(),
            make_envs(sb3_vec_env.DummyVecEnv, sb3_monitor.Monitor, n_envs),
            n_episodes,
            return_episode_rewards=True,
        )
        assert ours == theirs and len(ours[0]) == n_episodes and len(set(ours[1])) > 1


def test_with_ppo_before_and_after_learning():
    from mlx_baselines3 import PPO
    from mlx_baselines3.common.env_util import make_vec_env

    train_env = make_vec_env(IdentityEnv, n_envs=2, seed=0, env_kwargs={"dim": 2, "ep_length": 10})
    model = PPO("MlpPolicy", train_env, n_steps=128, batch_size=64, n_epochs=4, learning_rate=3e-3, seed=0)

    # Untrained: the returns are those of the deterministic policy replayed by hand on an identically seeded env.
    def make_eval_env():
        env = Monitor(IdentityEnv(dim=2, ep_length=10))
        env.action_space.seed(5)
        return env

    rewards, lengths = evaluate_policy(model, make_eval_env(), n_eval_episodes=3, return_episode_rewards=True)
    greedy = {obs: int(model.predict(np.array([obs]), deterministic=True)[0][0]) for obs in (0, 1)}
    replay = make_eval_env()
    expected = []
    for _ in range(3):
        obs, _ = replay.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = replay.step(greedy[int(obs)])
            total, done = total + reward, terminated or truncated
        expected.append(total)
    assert rewards == expected and lengths == [10, 10, 10]

    model.learn(2048)
    mean, std = evaluate_policy(model, make_eval_env(), n_eval_episodes=5, reward_threshold=9.0)
    assert mean == 10.0 and std == 0.0
