"""
Exploration noise added to the actions of deterministic (or stochastic) continuous-action policies (TD3, DDPG, SAC).

Noise is drawn with NumPy on the host: it is added to the action after the policy call, where the action already is
a NumPy array, so it costs no device work.
"""

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np
from numpy.typing import DTypeLike

from mlx_baselines3.common.exceptions import UsageError


class ActionNoise(ABC):
    """The base of the action noise processes: call it for one noise sample, ``reset`` at the end of an episode."""

    def __init__(self) -> None:
        super().__init__()

    def reset(self) -> None:  # noqa: B027 (a no-op by default: memoryless noises have nothing to reset)
        """Reset the noise process (called at the end of each episode)."""

    @abstractmethod
    def __call__(self) -> np.ndarray:
        """:return: one noise sample, shaped like the action"""


class NormalActionNoise(ActionNoise):
    """
    Independent Gaussian noise at every step.

    :param mean: mean of the noise (one value per action dimension)
    :param sigma: standard deviation of the noise (one value per action dimension)
    :param dtype: dtype of the samples
    """

    def __init__(self, mean: np.ndarray, sigma: np.ndarray, dtype: DTypeLike = np.float32) -> None:
        self._mu = mean
        self._sigma = sigma
        self._dtype = dtype
        super().__init__()

    def __call__(self) -> np.ndarray:
        return np.random.normal(self._mu, self._sigma).astype(self._dtype)

    def __repr__(self) -> str:
        return f"NormalActionNoise(mu={self._mu}, sigma={self._sigma})"


class OrnsteinUhlenbeckActionNoise(ActionNoise):
    """
    Temporally correlated noise: an Ornstein-Uhlenbeck process, discretized with the Euler-Maruyama scheme,
    ``x += theta * (mean - x) * dt + sigma * sqrt(dt) * N(0, 1)``. It drifts back towards ``mean`` at rate ``theta``.

    :param mean: the mean the process returns to
    :param sigma: scale of the random increments
    :param theta: rate of the return to the mean
    :param dt: time step of the discretization
    :param initial_noise: value of the process after a reset (zeros when None)
    :param dtype: dtype of the samples
    """

    def __init__(
        self,
        mean: np.ndarray,
        sigma: np.ndarray,
        theta: float = 0.15,
        dt: float = 1e-2,
        initial_noise: np.ndarray | None = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        self._theta = theta
        self._mu = mean
        self._sigma = sigma
        self._dt = dt
        self._dtype = dtype
        self.initial_noise = initial_noise
        self.noise_prev = np.zeros_like(self._mu)
        self.reset()
        super().__init__()

    def __call__(self) -> np.ndarray:
        drift = self._theta * (self._mu - self.noise_prev) * self._dt
        diffusion = self._sigma * np.sqrt(self._dt) * np.random.normal(size=np.shape(self._mu))
        self.noise_prev = self.noise_prev + drift + diffusion
        return self.noise_prev.astype(self._dtype)

    def reset(self) -> None:
        """Restart the process from ``initial_noise`` (or zeros)."""
        self.noise_prev = self.initial_noise if self.initial_noise is not None else np.zeros_like(self._mu)

    def __repr__(self) -> str:
        return f"OrnsteinUhlenbeckActionNoise(mu={self._mu}, sigma={self._sigma})"


class VectorizedActionNoise(ActionNoise):
    """
    One independent copy of a noise process per parallel environment; a call stacks one sample of each.
    Off-policy algorithms wrap a plain noise in it automatically when they train on several environments.

    :param base_noise: the noise process to copy
    :param n_envs: number of parallel environments
    """

    def __init__(self, base_noise: ActionNoise, n_envs: int) -> None:
        try:
            self.n_envs = int(n_envs)
            assert self.n_envs > 0
        except (TypeError, ValueError, AssertionError) as error:
            raise ValueError(f"Expected n_envs={n_envs} to be positive integer greater than 0") from error

        self.base_noise = base_noise
        self.noises = [copy.deepcopy(self.base_noise) for _ in range(self.n_envs)]

    def reset(self, indices: Iterable[int] | None = None) -> None:
        """
        Reset the noise processes of the given environments.

        :param indices: indices of the environments whose episode ended; None resets all of them
        """
        if indices is None:
            indices = range(len(self.noises))
        for index in indices:
            self.noises[index].reset()

    def __repr__(self) -> str:
        return f"VecNoise(BaseNoise={self.base_noise!r}), n_envs={len(self.noises)})"

    def __call__(self) -> np.ndarray:
        return np.stack([noise() for noise in self.noises])

    @property
    def base_noise(self) -> ActionNoise:
        """The noise process that is copied for each environment."""
        return self._base_noise

    @base_noise.setter
    def base_noise(self, base_noise: ActionNoise) -> None:
        if base_noise is None:
            raise ValueError("Expected base_noise to be an instance of ActionNoise, not None", ActionNoise)
        if not isinstance(base_noise, ActionNoise):
            raise TypeError("Expected base_noise to be an instance of type ActionNoise", ActionNoise)
        self._base_noise = base_noise

    @property
    def noises(self) -> list[ActionNoise]:
        """The per-environment noise processes."""
        return self._noises

    @noises.setter
    def noises(self, noises: list[ActionNoise]) -> None:
        noises = list(noises)
        if len(noises) != self.n_envs:
            raise UsageError(f"Expected a list of {self.n_envs} ActionNoises, found {len(noises)}.")
        different_types = [i for i, noise in enumerate(noises) if not isinstance(noise, type(self.base_noise))]
        if different_types:
            raise ValueError(
                f"Noise instances at indices {different_types} don't match the type of base_noise", type(self.base_noise)
            )
        self._noises = noises
        for noise in noises:
            noise.reset()


__all__ = ["ActionNoise", "NormalActionNoise", "OrnsteinUhlenbeckActionNoise", "VectorizedActionNoise"]
