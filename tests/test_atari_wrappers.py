"""Atari wrappers: unit tests on a scripted fake ALE env (no ROM needed), and parity with SB3 on a real game (ale-py)."""

import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.atari_wrappers import (
    AtariWrapper,
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    MaxAndSkipEnv,
    NoopResetEnv,
    StickyActionEnv,
    WarpFrame,
)


class _FakeALE:
    def __init__(self, env: "FakeAtariEnv"):
        self._env = env

    def lives(self) -> int:
        return self._env.lives


class FakeAtariEnv(gym.Env):
    """
    Scripted stand-in for an ale-py env. Frame ``t`` (t = steps since reset) is filled with ``t % 250``, the reward
    of step ``t`` is ``rewards[t - 1]`` (cycling), a life is lost at each step listed in ``life_loss_steps`` and the game is
    over after ``game_length`` steps. Every action and reset is recorded in ``log``.
    """

    def __init__(self, meanings=("NOOP", "FIRE", "RIGHT", "LEFT"), game_length=50, life_loss_steps=(), rewards=None):
        self.observation_space = spaces.Box(0, 255, (12, 10, 3), np.uint8)
        self.action_space = spaces.Discrete(len(meanings))
        self.meanings = list(meanings)
        self.game_length = game_length
        self.life_loss_steps = set(life_loss_steps)
        self.rewards = rewards
        self.ale = _FakeALE(self)
        self.log: list = []
        self.t = 0
        self.lives = 3

    def get_action_meanings(self) -> list[str]:
        return self.meanings

    def _frame(self) -> np.ndarray:
        return np.full(self.observation_space.shape, self.t % 250, dtype=np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.lives = 0, 3
        self.log.append("reset")
        return self._frame(), {"reset": True}

    def step(self, action):
        self.log.append(int(action))
        self.t += 1
        if self.t in self.life_loss_steps:
            self.lives -= 1
        reward = 0.0 if self.rewards is None else self.rewards[(self.t - 1) % len(self.rewards)]
        return self._frame(), reward, self.t >= self.game_length, False, {"t": self.t}


def test_noop_reset_takes_the_requested_noops():
    env = NoopResetEnv(FakeAtariEnv(), noop_max=5)
    env.override_num_noops = 3
    obs, info = env.reset(seed=0)
    assert env.env.log == ["reset", 0, 0, 0]
    assert obs[0, 0, 0] == 3 and info == {"t": 3}


def test_noop_reset_random_count_and_reset_on_game_over():
    fake = FakeAtariEnv(game_length=2)
    env = NoopResetEnv(fake, noop_max=30)
    env.reset(seed=0)
    # With a 2-step game the NOOPs restart it every other step; each restart is one more "reset" in the log.
    noops = fake.log.count(0)
    assert 1 <= noops <= 30
    assert fake.log.count("reset") == 1 + noops // 2
    counts = set()
    for seed in range(40):
        fake.log.clear()
        env.reset(seed=seed)
        counts.add(fake.log.count(0))
    assert min(counts) >= 1 and max(counts) <= 30 and len(counts) > 10


def test_noop_and_sticky_require_noop_first():
    with pytest.raises(AssertionError, match="NOOP"):
        NoopResetEnv(FakeAtariEnv(meanings=("FIRE", "NOOP", "LEFT")))
    with pytest.raises(AssertionError, match="NOOP"):
        StickyActionEnv(FakeAtariEnv(meanings=("FIRE", "NOOP", "LEFT")), 0.25)


def test_fire_reset_presses_fire_then_action_2():
    fake = FakeAtariEnv()
    obs, info = FireResetEnv(fake).reset(seed=0)
    assert fake.log == ["reset", 1, 2]
    assert obs[0, 0, 0] == 2 and info == {}
    with pytest.raises(AssertionError, match="FIRE"):
        FireResetEnv(FakeAtariEnv(meanings=("NOOP", "RIGHT", "LEFT")))
    with pytest.raises(AssertionError, match="at least 3 actions"):
        FireResetEnv(FakeAtariEnv(meanings=("NOOP", "FIRE")))


def test_fire_reset_restarts_a_game_that_ends_on_fire():
    fake = FakeAtariEnv(game_length=1)
    FireResetEnv(fake).reset()
    assert fake.log == ["reset", 1, "reset", 2, "reset"]


@pytest.mark.parametrize("probability", [0.0, 1.0])
def test_sticky_actions_extremes(probability):
    fake = FakeAtariEnv()
    env = StickyActionEnv(fake, probability)
    env.reset(seed=0)
    for action in [1, 2, 3, 2]:
        env.step(action)
    # Never sticky: actions pass through. Always sticky: the NOOP from the reset sticks forever.
    assert fake.log[1:] == ([1, 2, 3, 2] if probability == 0.0 else [0, 0, 0, 0])


def test_sticky_actions_repeat_at_the_given_rate():
    fake = FakeAtariEnv(game_length=10_000)
    env = StickyActionEnv(fake, 0.25)
    env.reset(seed=1)
    for step in range(4000):
        env.step(1 + step % 3)  # always a new action, so a repeat is visible as a mismatch
    taken = np.array(fake.log[1:])
    asked = 1 + np.arange(4000) % 3
    assert abs(np.mean(taken != asked) - 0.25) < 0.03


def test_episodic_life_ends_episode_on_life_loss_only_resets_on_game_over():
    fake = FakeAtariEnv(game_length=6, life_loss_steps=(2, 4))
    env = EpisodicLifeEnv(fake)
    env.reset()
    assert env.lives == 3
    terminations = [env.step(3)[2] for _ in range(2)]
    assert terminations == [False, True] and not env.was_real_done
    obs, info = env.reset()
    # No real reset after a lost life: a NOOP step instead.
    assert fake.log == ["reset", 3, 3, 0] and obs[0, 0, 0] == 3 and info == {"t": 3}
    assert env.step(3)[2] is True  # life lost at step 4
    env.reset()
    assert env.step(3)[2] is True  # step 6 is the real game over
    assert env.was_real_done
    env.reset()
    assert fake.log[-1] == "reset" and env.lives == 3


def test_episodic_life_resets_when_the_noop_ends_the_game():
    fake = FakeAtariEnv(game_length=3, life_loss_steps=(2,))
    env = EpisodicLifeEnv(fake)
    env.reset()
    env.step(3)
    env.step(3)
    env.reset()
    assert fake.log == ["reset", 3, 3, 0, "reset"]


def test_max_and_skip_repeats_sums_and_maxes_last_two_frames():
    rewards = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    fake = FakeAtariEnv(rewards=rewards, game_length=1000)
    env = MaxAndSkipEnv(fake, skip=4)
    env.reset()
    obs, reward, terminated, truncated, info = env.step(2)
    assert fake.log == ["reset", 2, 2, 2, 2]
    assert reward == 10.0 and info == {"t": 4} and not (terminated or truncated)
    assert obs.shape == (12, 10, 3) and obs.max() == obs.min() == 4
    # The max really is a max: a darker last frame keeps the brighter one before it.
    fake.t = 246
    obs, *_ = env.step(2)
    # The last two frames are 249 and 250 % 250 = 0.
    assert fake.t == 250 and obs.min() == obs.max() == 249


def test_max_and_skip_stops_at_the_end_of_the_episode():
    fake = FakeAtariEnv(game_length=2, rewards=[1.0, 1.0])
    env = MaxAndSkipEnv(fake, skip=4)
    env.reset()
    _, reward, terminated, _, _ = env.step(1)
    assert fake.log == ["reset", 1, 1] and reward == 2.0 and terminated


def test_clip_reward_keeps_the_sign():
    env = ClipRewardEnv(FakeAtariEnv(rewards=[5.0, -0.3, 0.0]))
    env.reset()
    assert [env.step(0)[1] for _ in range(3)] == [1.0, -1.0, 0.0]


def test_warp_frame_matches_opencv_grayscale_area_resize():
    cv2 = pytest.importorskip("cv2")
    env = WarpFrame(FakeAtariEnv(), width=8, height=6)
    assert env.observation_space == spaces.Box(0, 255, (6, 8, 1), np.uint8)
    frame = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    expected = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (8, 6), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(env.observation(frame), expected[:, :, None])


def test_warp_frame_without_opencv_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match="pip install opencv-python-headless"):
        WarpFrame(FakeAtariEnv())


def _chain(env: gym.Env) -> list[type]:
    classes = []
    while isinstance(env, gym.Wrapper):
        classes.append(type(env))
        env = env.env
    return classes


def test_atari_wrapper_order_and_options():
    pytest.importorskip("cv2")
    env = AtariWrapper(FakeAtariEnv(), action_repeat_probability=0.1)
    assert _chain(env) == [
        AtariWrapper,
        ClipRewardEnv,
        WarpFrame,
        FireResetEnv,
        EpisodicLifeEnv,
        MaxAndSkipEnv,
        NoopResetEnv,
        StickyActionEnv,
    ]
    assert env.observation_space.shape == (84, 84, 1)
    minimal = AtariWrapper(
        FakeAtariEnv(meanings=("NOOP", "LEFT")),
        noop_max=0,
        frame_skip=1,
        screen_size=32,
        terminal_on_life_loss=False,
        clip_reward=False,
    )
    assert _chain(minimal) == [AtariWrapper, WarpFrame]
    assert minimal.observation_space.shape == (32, 32, 1)


def test_atari_wrapper_step_on_fake_game():
    pytest.importorskip("cv2")
    fake = FakeAtariEnv(rewards=[3.0] * 50, life_loss_steps=(17,))
    env = AtariWrapper(fake, noop_max=2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (84, 84, 1) and obs.dtype == np.uint8
    assert fake.t in (9, 10) and fake.log[-8:] == [1] * 4 + [2] * 4
    terminations = []
    for _ in range(2):
        obs, reward, terminated, truncated, _ = env.step(3)
        assert reward == 1.0 and not truncated  # 4 frames x 3.0, clipped
        assert obs.shape == (84, 84, 1)
        terminations.append(terminated)
    # Reset takes 1-2 NOOPs then FIRE and action 2 (4 frames each): frame 9 or 10. The two steps take the game to
    # frame 17 or 18, so the life lost at frame 17 ends the second step.
    assert terminations == [False, True]


def test_parity_with_sb3_on_breakout():
    ale_py = pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    sb3_atari = pytest.importorskip("stable_baselines3.common.atari_wrappers")
    gym.register_envs(ale_py)
    ours = AtariWrapper(gym.make("BreakoutNoFrameskip-v4"), action_repeat_probability=0.25)
    theirs = sb3_atari.AtariWrapper(gym.make("BreakoutNoFrameskip-v4"), action_repeat_probability=0.25)
    obs_ours, _ = ours.reset(seed=1)
    obs_theirs, _ = theirs.reset(seed=1)
    np.testing.assert_array_equal(obs_ours, obs_theirs)
    actions = np.random.default_rng(0).integers(0, 4, 150)
    n_terminations = 0
    for action in actions:
        step_ours, step_theirs = ours.step(action), theirs.step(action)
        np.testing.assert_array_equal(step_ours[0], step_theirs[0])
        assert step_ours[1:4] == step_theirs[1:4]
        if step_ours[2] or step_ours[3]:
            n_terminations += 1
            np.testing.assert_array_equal(ours.reset()[0], theirs.reset()[0])
    assert n_terminations > 0
