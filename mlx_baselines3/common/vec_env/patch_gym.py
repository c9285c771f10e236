"""Accept environments and spaces from the legacy OpenAI ``gym`` package by converting them to gymnasium (needs shimmy)."""

import importlib.util
import warnings
from inspect import signature
from typing import Any

import gymnasium

# As SB3's flag, without importing the legacy package at import time.
gym_installed = importlib.util.find_spec("gym") is not None


def _legacy_gym() -> Any:
    """
    :return: the ``gym`` module if it is installed, else None
    """
    try:
        import gym
    except ImportError:
        return None
    return gym


def _import_shimmy(what: str, min_version: str) -> Any:
    """
    :param what: "environment" or "space", for the error message
    :param min_version: the shimmy version needed
    :return: the ``shimmy`` module
    """
    try:
        import shimmy
    except ImportError as e:
        raise ImportError(
            f"Missing shimmy installation. You provided an OpenAI Gym {what}. "
            "Stable-Baselines3 (SB3) has transitioned to using Gymnasium internally. "
            f"In order to use OpenAI Gym {what}s with SB3, you need to "
            f"install shimmy (`pip install 'shimmy>={min_version}'`)."
        ) from e
    return shimmy


def _patch_env(env: Any) -> gymnasium.Env:
    """
    Return a gymnasium env: the env itself if it is one, else a legacy ``gym`` env wrapped by shimmy's compatibility layer.

    :param env: a gymnasium or gym env
    :return: a gymnasium env
    """
    if isinstance(env, gymnasium.Env):
        return env
    gym = _legacy_gym()
    if gym is None or not isinstance(env, gym.Env):
        raise ValueError(
            f"The environment is of type {type(env)}, not a Gymnasium "
            f"environment. In this case, we expect OpenAI Gym to be "
            f"installed and the environment to be an OpenAI Gym environment."
        )
    shimmy = _import_shimmy("environment", "2.0")
    warnings.warn(
        "You provided an OpenAI Gym environment. "
        "We strongly recommend transitioning to Gymnasium environments. "
        "Stable-Baselines3 is automatically wrapping your environments in a compatibility "
        "layer, which could potentially cause issues."
    )
    # gym >= 0.26 envs take the seed in reset(); older ones need the v21 shim.
    if "seed" in signature(env.unwrapped.reset).parameters:
        return shimmy.GymV26CompatibilityV0(env=env)
    return shimmy.GymV21CompatibilityV0(env=env)


def _convert_space(space: Any) -> gymnasium.Space:
    """
    Return a gymnasium space: the space itself if it is one, else the conversion of a legacy ``gym`` space.

    :param space: a gymnasium or gym space
    :return: a gymnasium space
    """
    if isinstance(space, gymnasium.Space):
        return space
    gym = _legacy_gym()
    if gym is None or not isinstance(space, gym.Space):
        raise ValueError(
            f"The space is of type {type(space)}, not a Gymnasium "
            f"space. In this case, we expect OpenAI Gym to be "
            f"installed and the space to be an OpenAI Gym space."
        )
    shimmy = _import_shimmy("space", "0.2.1")
    warnings.warn(
        "You loaded a model that was trained using OpenAI Gym. "
        "We strongly recommend transitioning to Gymnasium by saving that model again."
    )
    return shimmy.openai_gym_compatibility._convert_space(space)
