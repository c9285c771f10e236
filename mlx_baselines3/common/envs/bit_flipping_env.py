"""Goal-conditioned bit flipping task (Andrychowicz et al., 2017), the standard smoke test for HER."""

from collections import OrderedDict
from typing import Any

import numpy as np
from gymnasium import Env, spaces
from gymnasium.envs.registration import EnvSpec

from mlx_baselines3.common.type_aliases import GymStepReturn


class BitFlippingEnv(Env):
    """
    Start from random bits and flip them until all are ones. The reward is 0 when the goal is reached and -1
    otherwise, so without hindsight relabelling almost every transition looks the same. Observations are dicts with
    ``observation``, ``achieved_goal`` and ``desired_goal`` (the first two both hold the current bits).

    Discrete actions flip the bit at the given index; with ``continuous=True`` every component ``> 0`` flips its bit.
    The bits can be observed as a ``MultiBinary`` vector (default), as one integer (``discrete_obs_space``), or as a
    36x36 ``uint8`` image whose first ``n_bits`` pixels are 0 or 255 (``image_obs_space``).

    :param n_bits: number of bits
    :param continuous: use a ``Box(-1, 1, (n_bits,))`` action space instead of ``Discrete(n_bits)``
    :param max_steps: steps before truncation (``n_bits`` when None)
    :param discrete_obs_space: observe the bits as an integer in ``Discrete(2**n_bits)``
    :param image_obs_space: observe the bits as an image
    :param channel_first: image shape (1, 36, 36) if True, else (36, 36, 1)
    :param render_mode: "human" prints the bits, "rgb_array" returns them
    """

    # A spec lets the env be used where an env id is read (e.g. HER checks, Monitor headers) without registration.
    spec = EnvSpec("BitFlippingEnv-v0", "no-entry-point")
    state: np.ndarray

    def __init__(
        self,
        n_bits: int = 10,
        continuous: bool = False,
        max_steps: int | None = None,
        discrete_obs_space: bool = False,
        image_obs_space: bool = False,
        channel_first: bool = True,
        render_mode: str = "human",
    ) -> None:
        super().__init__()
        self.render_mode = render_mode
        self.image_shape = (1, 36, 36) if channel_first else (36, 36, 1)
        self.observation_space = self._make_observation_space(discrete_obs_space, image_obs_space, n_bits)
        # The true state is always a bit vector; the observation space above only decides how it is shown.
        self._obs_space = spaces.MultiBinary(n_bits)
        if continuous:
            self.action_space = spaces.Box(-1, 1, shape=(n_bits,), dtype=np.float32)
        else:
            self.action_space = spaces.Discrete(n_bits)
        self.continuous = continuous
        self.discrete_obs_space = discrete_obs_space
        self.image_obs_space = image_obs_space
        self.desired_goal = np.ones((n_bits,), dtype=self.observation_space["desired_goal"].dtype)
        self.max_steps = n_bits if max_steps is None else max_steps
        self.current_step = 0

    def seed(self, seed: int) -> None:
        """
        Seed the generator of the initial bits.

        :param seed: the seed
        """
        self._obs_space.seed(seed)

    def convert_if_needed(self, state: np.ndarray) -> int | np.ndarray:
        """
        Encode a bit vector in the observation format chosen at construction.

        :param state: bit vector of length ``n_bits``
        :return: the integer whose binary digits are the bits (least significant first), the image, or the bits
        """
        if self.discrete_obs_space:
            # int8 bits times 2**i would overflow, hence the cast.
            weights = 2 ** np.arange(len(state), dtype=np.int64)
            return int(np.dot(state.astype(np.int64), weights))
        if self.image_obs_space:
            n_pixels = int(np.prod(self.image_shape))
            image = np.zeros(n_pixels, dtype=np.uint8)
            image[: len(state)] = state.astype(np.uint8) * 255
            return image.reshape(self.image_shape)
        return state

    def convert_to_bit_vector(self, state: int | np.ndarray, batch_size: int) -> np.ndarray:
        """
        Decode observations (one or a batch) back to bit vectors.

        :param state: integer(s), image(s) or bit vector(s), in the observation format
        :param batch_size: number of observations in ``state``
        :return: array of shape (batch_size, n_bits)
        """
        n_bits = len(self.desired_goal)
        if self.discrete_obs_space:
            values = np.asarray(state, dtype=np.int64).reshape(batch_size, 1)
            return ((values & (1 << np.arange(n_bits))) > 0).astype(int)
        if self.image_obs_space:
            return np.asarray(state).reshape(batch_size, -1)[:, :n_bits] / 255
        return np.asarray(state).reshape(batch_size, -1)

    def _make_observation_space(self, discrete_obs_space: bool, image_obs_space: bool, n_bits: int) -> spaces.Dict:
        if discrete_obs_space and image_obs_space:
            raise ValueError(
                "Cannot use both discrete and image observation spaces: pass discrete_obs_space=True "
                "or image_obs_space=True, not both"
            )

        def make_space() -> spaces.Space:
            # A new space per key: spaces hold their own random generator.
            if discrete_obs_space:
                return spaces.Discrete(2**n_bits)
            if image_obs_space:
                return spaces.Box(low=0, high=255, shape=self.image_shape, dtype=np.uint8)
            return spaces.MultiBinary(n_bits)

        return spaces.Dict({key: make_space() for key in ("observation", "achieved_goal", "desired_goal")})

    def _get_obs(self) -> dict[str, int | np.ndarray]:
        return OrderedDict(
            [
                ("observation", self.convert_if_needed(self.state.copy())),
                ("achieved_goal", self.convert_if_needed(self.state.copy())),
                ("desired_goal", self.convert_if_needed(self.desired_goal.copy())),
            ]
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, int | np.ndarray], dict]:
        """
        Draw new random bits.

        :param seed: seeds the generator of the initial bits
        :param options: unused
        :return: the goal-conditioned observation and an empty info dict
        """
        if seed is not None:
            self._obs_space.seed(seed)
        self.current_step = 0
        self.state = self._obs_space.sample()
        return self._get_obs(), {}

    def step(self, action: np.ndarray | int) -> GymStepReturn:
        """
        Flip the chosen bit(s).

        :param action: index of the bit to flip, or a vector whose positive components flip their bits
        :return: observation, reward (0.0 at the goal, else -1.0), terminated (goal reached), truncated
            (``max_steps`` reached) and ``{"is_success": terminated}``
        """
        if self.continuous:
            flip = np.asarray(action) > 0
        else:
            flip = np.zeros(len(self.state), dtype=bool)
            flip[action] = True
        self.state[flip] = 1 - self.state[flip]
        obs = self._get_obs()
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], None).item())
        terminated = reward == 0
        self.current_step += 1
        truncated = self.current_step >= self.max_steps
        return obs, reward, terminated, truncated, {"is_success": terminated}

    def compute_reward(
        self, achieved_goal: int | np.ndarray, desired_goal: int | np.ndarray, _info: dict[str, Any] | None
    ) -> np.float32:
        """
        Vectorised reward, as HER calls it on whole batches of relabelled goals.

        :param achieved_goal: one achieved goal or a batch of them (in the observation format)
        :param desired_goal: the matching desired goal(s)
        :param _info: unused
        :return: float32 array of shape (batch_size,): 0.0 where the goals match, -1.0 elsewhere
        """
        achieved_goal = np.asarray(achieved_goal)
        if self.discrete_obs_space:
            # Each goal is a single integer, whatever the array's shape ((batch,), (batch, 1) or scalar).
            batch_size = achieved_goal.size
        else:
            single_ndim = 3 if self.image_obs_space else 1
            batch_size = achieved_goal.shape[0] if achieved_goal.ndim > single_ndim else 1
        achieved = self.convert_to_bit_vector(achieved_goal, batch_size)
        desired = self.convert_to_bit_vector(desired_goal, batch_size)
        mismatch = np.any(achieved != desired, axis=-1)
        return -mismatch.astype(np.float32)

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """
        :return: a copy of the bits in "rgb_array" mode; in "human" mode they are printed and None is returned
        """
        if self.render_mode == "rgb_array":
            return self.state.copy()
        print(self.state)
        return None

    def close(self) -> None:
        """Nothing to release."""
