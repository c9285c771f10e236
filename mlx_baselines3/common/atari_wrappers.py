"""
The usual Atari 2600 preprocessing (Mnih et al., 2015; Machado et al., 2018) as gymnasium wrappers.

The wrappers talk to the emulator through ``env.unwrapped.get_action_meanings()`` and
``env.unwrapped.ale.lives()``, as ``ale-py`` environments provide them. ``WarpFrame`` needs OpenCV
(``pip install opencv-python-headless``), imported only when a ``WarpFrame`` is built.
"""

from types import ModuleType
from typing import SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.type_aliases import AtariResetReturn, AtariStepReturn


def _import_cv2() -> ModuleType:
    try:
        import cv2
    except ImportError as e:
        raise ImportError(
            "WarpFrame (and so AtariWrapper) needs OpenCV to convert and resize frames: "
            "install it with `pip install opencv-python-headless`"
        ) from e
    # OpenCL would only add start-up cost and GPU contention for these tiny images.
    cv2.ocl.setUseOpenCL(False)
    return cv2


def _action_meanings(env: gym.Env) -> list[str]:
    return env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]


def _check_action_meaning(env: gym.Env, index: int, expected: str, wrapper: str) -> None:
    meanings = _action_meanings(env)
    if len(meanings) <= index or meanings[index] != expected:
        raise UsageError(f"{wrapper} expects action {index} to be {expected!r}, but the env's actions are {meanings}")


class StickyActionEnv(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    Sticky actions (Machado et al., 2018, https://arxiv.org/abs/1709.06009): at each step the previous action is
    repeated instead of the new one with probability ``action_repeat_probability``, which makes the emulator
    stochastic. The first action of an episode is sticky with respect to NOOP.

    :param env: environment to wrap (action 0 must be NOOP)
    :param action_repeat_probability: probability of repeating the previous action
    """

    def __init__(self, env: gym.Env, action_repeat_probability: float) -> None:
        super().__init__(env)
        self.action_repeat_probability = action_repeat_probability
        _check_action_meaning(env, 0, "NOOP", "StickyActionEnv")

    def reset(self, **kwargs) -> AtariResetReturn:
        """
        :param kwargs: passed to the wrapped env's ``reset``
        :return: observation and info of the wrapped env
        """
        self._sticky_action = 0
        return self.env.reset(**kwargs)

    def step(self, action: int) -> AtariStepReturn:
        """
        :param action: the agent's action, taken unless the previous one sticks
        :return: the wrapped env's step result for the action actually taken
        """
        if self.np_random.random() >= self.action_repeat_probability:
            self._sticky_action = action
        return self.env.step(self._sticky_action)


class NoopResetEnv(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    Start each episode with a random number (1 to ``noop_max``) of NOOP actions, so that the agent does not see the
    same deterministic start every time.

    :param env: environment to wrap (action 0 must be NOOP)
    :param noop_max: largest number of NOOPs taken on reset
    """

    def __init__(self, env: gym.Env, noop_max: int = 30) -> None:
        super().__init__(env)
        self.noop_max = noop_max
        # Set to an int to take exactly that many NOOPs on every reset (for tests and debugging).
        self.override_num_noops: int | None = None
        self.noop_action = 0
        _check_action_meaning(env, 0, "NOOP", "NoopResetEnv")

    def reset(self, **kwargs) -> AtariResetReturn:
        """
        Reset, then take the NOOPs (resetting again if one of them ends the episode).

        :param kwargs: passed to the wrapped env's ``reset``
        :return: observation and info after the last NOOP
        """
        self.env.reset(**kwargs)
        if self.override_num_noops is None:
            noops = int(self.unwrapped.np_random.integers(1, self.noop_max + 1))
        else:
            noops = self.override_num_noops
        if noops <= 0:
            raise UsageError(f"NoopResetEnv must take at least one NOOP on reset, got {noops}")
        obs: np.ndarray = np.zeros(0)
        info: dict = {}
        for _ in range(noops):
            obs, _, terminated, truncated, info = self.env.step(self.noop_action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class FireResetEnv(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    Press FIRE (action 1), then action 2, after each reset, for games that stay frozen until the player fires.

    :param env: environment to wrap (action 1 must be FIRE, with at least 3 actions)
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        _check_action_meaning(env, 1, "FIRE", "FireResetEnv")
        if len(_action_meanings(env)) < 3:
            raise UsageError(f"FireResetEnv needs at least 3 actions, the env has {_action_meanings(env)}")

    def reset(self, **kwargs) -> AtariResetReturn:
        """
        :param kwargs: passed to the wrapped env's ``reset``
        :return: observation after the two start actions, and an empty info dict
        """
        self.env.reset(**kwargs)
        for start_action in (1, 2):
            obs, _, terminated, truncated, _ = self.env.step(start_action)
            if terminated or truncated:
                self.env.reset(**kwargs)
        return obs, {}


class EpisodicLifeEnv(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    Report the loss of a life as the end of an episode (terminated=True), as DeepMind did for DQN, since it helps
    value estimation; the game itself is only reset once all lives are lost.

    .. note::
        Because of this, ``reset()`` after a lost life does not restart the game: it takes one NOOP step and
        returns its observation. Use ``make_atari_env(..., wrapper_kwargs=dict(terminal_on_life_loss=False))``
        when ``reset()`` must always restart the game (e.g. for evaluation).

    :param env: environment to wrap (an ``ale-py`` env: its ``unwrapped.ale.lives()`` is read)
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.was_real_done = True

    def _ale_lives(self) -> int:
        return self.env.unwrapped.ale.lives()  # type: ignore[attr-defined]

    def step(self, action: int) -> AtariStepReturn:
        """
        :param action: the action
        :return: the wrapped env's step result, with ``terminated`` also set when a life was lost
        """
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.was_real_done = terminated or truncated
        lives = self._ale_lives()
        # Only a drop to a positive count is a lost life: some games (Qbert) sit at 0 lives for a few frames
        # before the game is over, and the real game over must be the one that ends the episode there.
        if 0 < lives < self.lives:
            terminated = True
        # Updating after the comparison lets bonus lives raise the count without ending anything.
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs) -> AtariResetReturn:
        """
        Restart the game after a real game over; after a lost life, take a NOOP step instead.

        :param kwargs: passed to the wrapped env's ``reset``
        :return: the first observation of the next episode and its info
        """
        if self.was_real_done:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            # That NOOP can itself end the game; reset now, or Monitor would refuse the next step.
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self._ale_lives()
        return obs, info


class MaxAndSkipEnv(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    Repeat each action ``skip`` times, sum the rewards, and return the pixel-wise max of the last two frames
    (Atari sprites flicker: some are drawn only on every other frame).

    :param env: environment to wrap
    :param skip: number of frames each action is repeated for
    """

    def __init__(self, env: gym.Env, skip: int = 4) -> None:
        super().__init__(env)
        if env.observation_space.dtype is None or env.observation_space.shape is None:
            raise UsageError(f"MaxAndSkipEnv needs an observation space with a shape and a dtype, got {env.observation_space}")
        self._obs_buffer = np.zeros((2, *env.observation_space.shape), dtype=env.observation_space.dtype)
        self._skip = skip

    def step(self, action: int) -> AtariStepReturn:
        """
        :param action: the action, repeated ``skip`` times (or until the episode ends)
        :return: max of the last two frames, summed reward, terminated, truncated and the last info
        """
        total_reward = 0.0
        terminated = truncated = False
        for frame in range(self._skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            # Only the last two frames are kept. When the episode ends early the max mixes in older frames,
            # which is harmless: that observation is never used to pick an action.
            if frame >= self._skip - 2:
                self._obs_buffer[frame - (self._skip - 2)] = obs
            total_reward += float(reward)
            if terminated or truncated:
                break
        return self._obs_buffer.max(axis=0), total_reward, terminated, truncated, info


class ClipRewardEnv(gym.RewardWrapper):
    """
    Replace each reward by its sign (-1, 0 or +1), so that one set of hyperparameters fits games with very
    different score scales.

    :param env: environment to wrap
    """

    def reward(self, reward: SupportsFloat) -> float:
        """
        :param reward: the raw reward
        :return: its sign
        """
        return float(np.sign(float(reward)))


class WarpFrame(gym.ObservationWrapper[np.ndarray, int, np.ndarray]):
    """
    Turn RGB frames into grayscale ``height x width x 1`` images (84x84 by default, as in the Nature DQN paper),
    resized with area interpolation. Needs OpenCV.

    :param env: environment to wrap (with an RGB ``Box`` observation space)
    :param width: width of the output frame
    :param height: height of the output frame
    """

    def __init__(self, env: gym.Env, width: int = 84, height: int = 84) -> None:
        super().__init__(env)
        self._cv2 = _import_cv2()
        self.width = width
        self.height = height
        if not isinstance(env.observation_space, spaces.Box):
            raise UsageError(f"Expected Box space, got {env.observation_space}")
        self.observation_space = spaces.Box(
            low=0,
            high=255,
            shape=(self.height, self.width, 1),
            dtype=env.observation_space.dtype,  # type: ignore[arg-type]
        )

    def observation(self, frame: np.ndarray) -> np.ndarray:
        """
        :param frame: RGB frame of shape (H, W, 3)
        :return: grayscale frame of shape (height, width, 1)
        """
        gray = self._cv2.cvtColor(frame, self._cv2.COLOR_RGB2GRAY)
        resized = self._cv2.resize(gray, (self.width, self.height), interpolation=self._cv2.INTER_AREA)
        return resized[:, :, None]


class AtariWrapper(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    The standard Atari 2600 preprocessing, applied in this order:

    * sticky actions (off by default, ``action_repeat_probability``)
    * a random number of NOOPs on reset (``noop_max``)
    * frame skipping, with a max over the last two frames (``frame_skip``)
    * end of episode on loss of life (``terminal_on_life_loss``)
    * FIRE on reset, for games that have a FIRE action
    * grayscale, square ``screen_size`` frames
    * rewards clipped to their sign (``clip_reward``)

    .. warning::
        Use it on Atari envs without built-in frame skipping, e.g. ``"BreakoutNoFrameskip-v4"``; otherwise
        frames are skipped twice.

    :param env: the ``ale-py`` environment to wrap
    :param noop_max: largest number of NOOPs on reset (0 disables them)
    :param frame_skip: number of frames each action is repeated for (1 disables skipping)
    :param screen_size: side of the square output frames
    :param terminal_on_life_loss: end the episode (terminated=True) whenever a life is lost
    :param clip_reward: replace rewards by their sign
    :param action_repeat_probability: probability of repeating the previous action (sticky actions)
    """

    def __init__(
        self,
        env: gym.Env,
        noop_max: int = 30,
        frame_skip: int = 4,
        screen_size: int = 84,
        terminal_on_life_loss: bool = True,
        clip_reward: bool = True,
        action_repeat_probability: float = 0.0,
    ) -> None:
        if action_repeat_probability > 0.0:
            env = StickyActionEnv(env, action_repeat_probability)
        if noop_max > 0:
            env = NoopResetEnv(env, noop_max=noop_max)
        if frame_skip > 1:
            env = MaxAndSkipEnv(env, skip=frame_skip)
        if terminal_on_life_loss:
            env = EpisodicLifeEnv(env)
        if "FIRE" in _action_meanings(env):
            env = FireResetEnv(env)
        env = WarpFrame(env, width=screen_size, height=screen_size)
        if clip_reward:
            env = ClipRewardEnv(env)
        super().__init__(env)
