"""Detection of NaN and infinite values flowing between an agent and its environments."""

import warnings
from typing import Any

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn, VecEnvWrapper


class VecCheckNan(VecEnvWrapper):
    """
    Checks actions (from the agent), observations and rewards (from the environments) for NaN and, optionally,
    infinite values, and warns or raises naming which of them is bad and where it came from.

    :param venv: the VecEnv to wrap
    :param raise_exception: raise a ``ValueError`` instead of warning
    :param warn_once: when warning, stop checking after the first warning
    :param check_inf: also look for +inf and -inf
    """

    def __init__(self, venv: VecEnv, raise_exception: bool = False, warn_once: bool = True, check_inf: bool = True) -> None:
        super().__init__(venv)
        self.raise_exception = raise_exception
        self.warn_once = warn_once
        self.check_inf = check_inf
        self._user_warned = False
        self._actions: np.ndarray
        self._observations: VecEnvObs
        if isinstance(venv.action_space, spaces.Dict):
            raise NotImplementedError("VecCheckNan doesn't support dict action spaces")

    def step_async(self, actions: np.ndarray) -> None:
        self._check_val(event="step_async", actions=actions)
        self._actions = actions
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        self._check_val(event="step_wait", observations=observations, rewards=rewards, dones=dones)
        self._observations = observations
        return observations, rewards, dones, infos

    def reset(self) -> VecEnvObs:
        observations = self.venv.reset()
        self._check_val(event="reset", observations=observations)
        self._observations = observations
        return observations

    def check_array_value(self, name: str, value: np.ndarray) -> list[tuple[str, str]]:
        """
        :param name: what the array is, for the report
        :param value: the array to check
        :return: ``(name, "inf")`` and/or ``(name, "nan")`` for each kind of bad value found
        """
        found: list[tuple[str, str]] = []
        # Integer and boolean arrays cannot hold NaN or inf.
        if not np.issubdtype(value.dtype, np.inexact):
            return found
        if self.check_inf and np.any(np.isinf(value)):
            found.append((name, "inf"))
        if np.any(np.isnan(value)):
            found.append((name, "nan"))
        return found

    def _check_val(self, event: str, **kwargs: Any) -> None:
        """
        Check named values and report any NaN/inf found.

        :param event: "reset", "step_async" (checks the agent's actions) or "step_wait" (checks the env's outputs)
        :param kwargs: the values to check: arrays, lists, or dicts/tuples of arrays
        """
        if not self.raise_exception and self.warn_once and self._user_warned:
            return
        found: list[tuple[str, str]] = []
        for name, value in kwargs.items():
            if isinstance(value, (np.ndarray, list)):
                found += self.check_array_value(name, np.asarray(value))
            elif isinstance(value, dict):
                for inner_name, inner_value in value.items():
                    found += self.check_array_value(f"{name}.{inner_name}", np.asarray(inner_value))
            elif isinstance(value, tuple):
                for idx, inner_value in enumerate(value):
                    found += self.check_array_value(f"{name}.{idx}", np.asarray(inner_value))
            else:
                raise TypeError(f"Unsupported observation type {type(value)}.")
        if not found:
            return
        self._user_warned = True
        msg = ", ".join(f"found {kind} in {name}" for name, kind in found) + ".\r\nOriginated from the "
        if event == "reset":
            msg += "environment observation (at reset)"
        elif event == "step_wait":
            msg += f"environment, Last given value was: \r\n\taction={self._actions}"
        elif event == "step_async":
            msg += f"RL model, Last given value was: \r\n\tobservations={self._observations}"
        else:
            raise ValueError(f"Unknown event {event!r}: expected 'reset', 'step_async' or 'step_wait'")
        if self.raise_exception:
            raise ValueError(msg)
        warnings.warn(msg, UserWarning)
