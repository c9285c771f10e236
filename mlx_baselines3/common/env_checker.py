"""
``check_env``: verify that a custom environment follows the gymnasium API and will work with mlx-baselines3.

API violations raise (``AssertionError``, or ``TypeError`` for a ``reset()`` without ``seed``); legal but unsupported
or risky choices (Tuple/Sequence/Graph spaces, non-zero ``start``, images that are not ``uint8`` in [0, 255], an
action ``Box`` that is not [-1, 1] ...) only warn.
"""

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.preprocessing import check_for_nested_spaces, is_image_space_channels_first
from mlx_baselines3.common.vec_env import DummyVecEnv, VecCheckNan

_SPACES_DOC = "cf. https://gymnasium.farama.org/api/spaces/"
_CUSTOM_ENV_DOC = "https://stable-baselines3.readthedocs.io/en/master/guide/custom_env.html"


def _is_oneof_space(space: spaces.Space) -> bool:
    # OneOf only exists from gymnasium 1.0 on.
    one_of = getattr(spaces, "OneOf", None)
    return one_of is not None and isinstance(space, one_of)


def _is_numpy_array_space(space: spaces.Space) -> bool:
    """
    :param space: a space
    :return: whether one numpy array can hold a sample of it (False for Dict and Tuple)
    """
    return not isinstance(space, (spaces.Dict, spaces.Tuple))


def _starts_at_zero(space: spaces.Discrete | spaces.MultiDiscrete) -> bool:
    return bool(np.allclose(space.start, np.zeros_like(space.start)))


def _check_non_zero_start(space: spaces.Space, space_type: str = "observation", key: str = "") -> None:
    """
    Warn about a ``Discrete``/``MultiDiscrete`` space whose values do not start at 0.

    :param space: an observation or action space
    :param space_type: "observation" or "action", for the message
    :param key: the key of ``space`` inside a Dict observation space, for the message
    """
    if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)) and not _starts_at_zero(space):
        maybe_key = f"(key='{key}')" if key else ""
        warnings.warn(
            f"{type(space).__name__} {space_type} space {maybe_key} with a non-zero start (start={space.start}) "
            "is not supported by Stable-Baselines3. "
            f"You can use a wrapper (see {_CUSTOM_ENV_DOC}) "
            f"or update your {space_type} space."
        )


def _check_image_input(observation_space: spaces.Box, key: str = "") -> None:
    """
    Warn when a 3-D ``Box`` (taken for an image) will not suit ``CnnPolicy``: not ``uint8``, bounds other than
    [0, 255], or smaller than 36x36.

    :param observation_space: the image space
    :param key: its key inside a Dict observation space, for the message
    """
    if observation_space.dtype != np.uint8:
        warnings.warn(
            f"It seems that your observation {key} is an image but its `dtype` "
            f"is ({observation_space.dtype}) whereas it has to be `np.uint8`. "
            "If your observation is not an image, we recommend you to flatten the observation "
            "to have only a 1D vector"
        )
    if np.any(observation_space.low != 0) or np.any(observation_space.high != 255):
        warnings.warn(
            f"It seems that your observation space {key} is an image but the "
            "upper and lower bounds are not in [0, 255]. "
            "Because the CNN policy normalize automatically the observation "
            "you may encounter issue if the values are not in that range."
        )
    # Height is axis 0 for channel-last images and the last axis for channel-first ones; axis 1 is always a side.
    first_side = -1 if is_image_space_channels_first(observation_space) else 0
    if observation_space.shape[first_side] < 36 or observation_space.shape[1] < 36:
        warnings.warn(
            "The minimal resolution for an image is 36x36 for the default `CnnPolicy`. "
            "You might need to use a custom features extractor "
            "cf. https://stable-baselines3.readthedocs.io/en/master/guide/custom_policy.html"
        )


def _check_unsupported_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> bool:
    """
    Warn about observation and action spaces that the algorithms do not support.

    :param observation_space: the observation space
    :param action_space: the action space
    :return: True when the observation space is of a kind (Sequence, Graph, OneOf) whose returned values cannot be
        checked, so those checks must be skipped
    """
    should_skip = False
    # Sequence and Graph are also looked for one level down, inside Dict and Tuple spaces.
    inner_spaces: list[spaces.Space] = []
    if isinstance(observation_space, spaces.Dict):
        inner_spaces = list(observation_space.spaces.values())
        for key, space in observation_space.spaces.items():
            _check_non_zero_start(space, "observation", key)
        if any(isinstance(space, spaces.Dict) for space in inner_spaces):
            warnings.warn(
                "Nested observation spaces are not supported by Stable Baselines3 "
                "(Dict spaces inside Dict space). "
                "You should flatten it to have only one level of keys."
                "For example, `dict(space1=dict(space2=Box(), space3=Box()), spaces4=Discrete())` "
                "is not supported but `dict(space2=Box(), spaces3=Box(), spaces4=Discrete())` is."
            )

    if isinstance(observation_space, spaces.MultiDiscrete) and observation_space.nvec.ndim > 1:
        warnings.warn(
            f"The MultiDiscrete observation space uses a multidimensional array {observation_space.nvec} "
            "which is currently not supported by Stable-Baselines3. "
            "Please convert it to a 1D array using a wrapper: "
            "https://github.com/DLR-RM/stable-baselines3/issues/1836."
        )

    if isinstance(observation_space, spaces.Tuple):
        inner_spaces = list(observation_space.spaces)
        warnings.warn(
            "The observation space is a Tuple, "
            "this is currently not supported by Stable Baselines3. "
            "However, you can convert it to a Dict observation space "
            "(cf. https://gymnasium.farama.org/api/spaces/composite/#dict). "
            "which is supported by SB3."
        )

    if _is_oneof_space(observation_space):
        warnings.warn(
            "OneOf observation space is not supported by Stable-Baselines3. Note: The checks for returned values are skipped."
        )
        should_skip = True

    _check_non_zero_start(observation_space, "observation")

    candidates = [observation_space, *inner_spaces]
    if any(isinstance(space, spaces.Sequence) for space in candidates):
        warnings.warn(
            "Sequence observation space is not supported by Stable-Baselines3. "
            "You can pad your observation to have a fixed size instead.\n"
            "Note: The checks for returned values are skipped."
        )
        should_skip = True

    if any(isinstance(space, spaces.Graph) for space in candidates):
        warnings.warn(
            "Graph observation space is not supported by Stable-Baselines3. Note: The checks for returned values are skipped."
        )
        should_skip = True

    if isinstance(action_space, spaces.MultiDiscrete) and action_space.nvec.ndim > 1:
        warnings.warn(
            f"The MultiDiscrete action space uses a multidimensional array {action_space.nvec} "
            "which is currently not supported by Stable-Baselines3. "
            f"Please convert it to a 1D array using a wrapper: {_CUSTOM_ENV_DOC}."
        )

    _check_non_zero_start(action_space, "action")

    if not _is_numpy_array_space(action_space):
        warnings.warn(
            "The action space is not based off a numpy array. Typically this means it's either a Dict or Tuple space. "
            "This type of action space is currently not supported by Stable Baselines 3. You should try to flatten the "
            "action using a wrapper."
        )
    return should_skip


def _check_nan(env: gym.Env) -> None:
    """
    Take 10 random steps through ``VecCheckNan``, which warns about NaN or inf in actions, observations and rewards.

    :param env: the environment
    """
    vec_env = VecCheckNan(DummyVecEnv([lambda: env]))
    vec_env.reset()
    for _ in range(10):
        vec_env.step(np.array([env.action_space.sample()]))


def _is_goal_env(env: gym.Env) -> bool:
    """
    :param env: the environment
    :return: whether it follows the goal-conditioned convention (the former ``gym.GoalEnv``): the unwrapped env
        defines ``compute_reward``. Wrappers are looked through because ``gym.Wrapper`` forwards any attribute.
    """
    return hasattr(env.unwrapped, "compute_reward")


def _check_goal_env_obs(obs: dict, observation_space: spaces.Dict, method_name: str) -> None:
    """
    Check that a goal-conditioned env's observation space has ``achieved_goal`` and ``desired_goal`` (and at least
    three keys, the third usually being ``observation``).

    :param obs: the returned observation
    :param observation_space: the Dict observation space
    :param method_name: "reset" or "step", for the message
    """
    keys = list(observation_space.spaces.keys())
    assert len(keys) >= 3, (
        "A goal conditioned env must contain at least 3 observation keys: `observation`, `achieved_goal`, and `desired_goal`. "
        f"The current observation contains {len(keys)} keys: {keys}"
    )
    for key in ("achieved_goal", "desired_goal"):
        if key not in observation_space.spaces:
            raise UsageError(
                f"The observation returned by the `{method_name}()` method of a goal-conditioned env requires the '{key}' "
                f"key to be part of the observation dictionary. Current keys are {keys}"
            )


def _check_goal_env_compute_reward(
    obs: dict[str, np.ndarray | int],
    env: gym.Env,
    reward: float,
    info: dict[str, Any],
) -> None:
    """
    Check that the step reward is what ``compute_reward`` gives, and that ``compute_reward`` also works on a batch
    of goals (HER calls it that way).

    :param obs: the observation returned by ``step()``
    :param env: the environment
    :param reward: the reward returned by ``step()``
    :param info: the info returned by ``step()``
    """
    achieved_goal, desired_goal = obs["achieved_goal"], obs["desired_goal"]
    compute_reward = env.compute_reward  # type: ignore[attr-defined]
    assert reward == compute_reward(achieved_goal, desired_goal, info), "The reward was not computed with `compute_reward()`"

    achieved_goal, desired_goal = np.array(achieved_goal), np.array(desired_goal)
    batch_achieved_goals = np.array([achieved_goal, achieved_goal])
    batch_desired_goals = np.array([desired_goal, desired_goal])
    if achieved_goal.ndim == 0:
        # Scalar goals (Discrete spaces) are stored as (batch, 1) in replay buffers.
        batch_achieved_goals = batch_achieved_goals.reshape(2, 1)
        batch_desired_goals = batch_desired_goals.reshape(2, 1)
    rewards = compute_reward(batch_achieved_goals, batch_desired_goals, np.array([info, info]))
    assert rewards.shape == (2,), f"Unexpected shape for vectorized computation of reward: {rewards.shape} != (2,)"
    assert rewards[0] == reward, f"Vectorized computation of reward differs from single computation: {rewards[0]} != {reward}"


def _check_obs(obs: tuple | dict | np.ndarray | int, observation_space: spaces.Space, method_name: str) -> None:
    """
    Check that an observation matches its (non-Dict) space: type, shape, dtype, bounds, then ``contains``.

    :param obs: the observation
    :param observation_space: the space it should belong to
    :param method_name: "reset" or "step", for the messages
    """
    if not isinstance(observation_space, spaces.Tuple):
        assert not isinstance(obs, tuple), (
            f"The observation returned by the `{method_name}()` method should be a single value, not a tuple"
        )

    if isinstance(observation_space, spaces.Discrete):
        # Python ints and NumPy integers (what Discrete.sample() returns) are both fine.
        assert np.issubdtype(type(obs), np.integer), f"The observation returned by `{method_name}()` method must be an int"
    elif _is_numpy_array_space(observation_space):
        assert isinstance(obs, np.ndarray), f"The observation returned by `{method_name}()` method must be a numpy array"

    # Shape, dtype and bounds first, so that the message says what is wrong rather than just "not in space".
    if isinstance(obs, np.ndarray):
        assert observation_space.shape == obs.shape, (
            f"The observation returned by the `{method_name}()` method does not match the shape "
            f"of the given observation space {observation_space}. "
            f"Expected: {observation_space.shape}, actual shape: {obs.shape}"
        )
        assert np.can_cast(obs.dtype, observation_space.dtype), (  # type: ignore[arg-type]
            f"The observation returned by the `{method_name}()` method does not match the data type (cannot cast) "
            f"of the given observation space {observation_space}. "
            f"Expected: {observation_space.dtype}, actual dtype: {obs.dtype}"
        )
        if isinstance(observation_space, spaces.Box):
            _check_box_bounds(obs, observation_space, method_name)

    assert observation_space.contains(obs), (
        f"The observation returned by the `{method_name}()` method "
        f"does not match the given observation space {observation_space}"
    )


def _check_box_bounds(obs: np.ndarray, observation_space: spaces.Box, method_name: str) -> None:
    """
    Raise an ``AssertionError`` listing every element of ``obs`` outside the bounds of ``observation_space``.

    :param obs: the observation (already of the space's shape)
    :param observation_space: the Box space
    :param method_name: "reset" or "step", for the message
    """
    low, high = observation_space.low, observation_space.high
    invalid_indices = np.argwhere((obs < low) | (obs > high))
    if len(invalid_indices) == 0:
        return
    lines = [
        f"The observation returned by the `{method_name}()` method does not match the bounds "
        f"of the given observation space {observation_space}. ",
        f"{len(invalid_indices)} invalid indices: ",
    ]
    for index in map(tuple, invalid_indices):
        index_str = ",".join(map(str, index))
        lines.append(f"Expected: {low[index]} <= obs[{index_str}] <= {high[index]}, actual value: {obs[index]} ")
    raise UsageError("\n".join(lines) + "\n")


def _check_box_obs(observation_space: spaces.Box, key: str = "") -> None:
    """
    Warn about Box observation shapes the default policies do not handle: 3-D spaces are checked as images, and
    anything that is neither 1-D nor 3-D gets a warning.

    :param observation_space: the Box space
    :param key: its key inside a Dict observation space, for the messages
    """
    if len(observation_space.shape) == 3:
        _check_image_input(observation_space, key)
    if len(observation_space.shape) not in (1, 3):
        warnings.warn(
            f"Your observation {key} has an unconventional shape (neither an image, nor a 1D vector). "
            "We recommend you to flatten the observation "
            "to have only a 1D vector or use a custom policy to properly process the data."
        )


def _check_dict_obs(obs: Any, observation_space: spaces.Dict, method_name: str) -> None:
    """
    Check a Dict observation: a dict with exactly the space's keys, each value matching its subspace.

    :param obs: the observation
    :param observation_space: the Dict space
    :param method_name: "reset" or "step", for the messages
    """
    assert isinstance(obs, dict), f"The observation returned by `{method_name}()` must be a dictionary"
    if obs.keys() != observation_space.spaces.keys():
        raise UsageError(
            f"The observation keys returned by `{method_name}()` must match the observation "
            f"space keys: {obs.keys()} != {observation_space.spaces.keys()}"
        )
    for key, space in observation_space.spaces.items():
        try:
            _check_obs(obs[key], space, method_name)
        except AssertionError as e:
            raise UsageError(f"Error while checking key={key}: " + str(e)) from e


def _check_returned_values(env: gym.Env, observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """
    Call ``reset()`` and one ``step()`` with a random action and check what they return.

    :param env: the environment
    :param observation_space: its observation space
    :param action_space: its action space
    """
    reset_returns = env.reset()
    assert isinstance(reset_returns, tuple), "`reset()` must return a tuple (obs, info)"
    assert len(reset_returns) == 2, f"`reset()` must return a tuple of size 2 (obs, info), not {len(reset_returns)}"
    obs, info = reset_returns
    assert isinstance(info, dict), f"The second element of the tuple return by `reset()` must be a dictionary not {info}"

    if _is_goal_env(env):
        # _check_spaces already made sure a goal env has a Dict observation space.
        _check_goal_env_obs(obs, observation_space, "reset")  # type: ignore[arg-type]
    elif isinstance(observation_space, spaces.Dict):
        _check_dict_obs(obs, observation_space, "reset")
    else:
        _check_obs(obs, observation_space, "reset")

    data = env.step(action_space.sample())
    assert len(data) == 5, (
        "The `step()` method must return five values: "
        f"obs, reward, terminated, truncated, info. Actual: {len(data)} values returned."
    )
    obs, reward, terminated, truncated, info = data

    if isinstance(observation_space, spaces.Dict):
        assert isinstance(obs, dict), "The observation returned by `step()` must be a dictionary"
        if _is_goal_env(env):
            _check_goal_env_obs(obs, observation_space, "step")
            _check_goal_env_compute_reward(obs, env, float(reward), info)
        _check_dict_obs(obs, observation_space, "step")
    else:
        _check_obs(obs, observation_space, "step")

    # Ints are accepted: the reward is cast to float anyway.
    assert isinstance(reward, (float, int)), "The reward returned by `step()` must be a float"
    assert isinstance(terminated, bool), "The `terminated` signal must be a boolean"
    assert isinstance(truncated, bool), "The `truncated` signal must be a boolean"
    assert isinstance(info, dict), "The `info` returned by `step()` must be a python dictionary"

    if _is_goal_env(env):
        assert reward == env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)  # type: ignore[attr-defined]


def _check_spaces(env: gym.Env) -> None:
    """
    Check that the env defines gymnasium observation and action spaces, and that a goal-conditioned env (one that
    defines ``compute_reward``) observes a Dict.

    :param env: the environment
    """
    # Not asserts: these hold with ``python -O`` too. UsageError is an AssertionError, as SB3's asserts raise.
    for name in ("observation", "action"):
        if not hasattr(env, f"{name}_space"):
            raise UsageError(f"You must specify an {name} space ({_SPACES_DOC})")
        if not isinstance(getattr(env, f"{name}_space"), spaces.Space):
            raise UsageError(f"The {name} space must inherit from gymnasium.spaces ({_SPACES_DOC})")

    if _is_goal_env(env):
        print(
            "We detected your env to be a GoalEnv because `env.compute_reward()` was defined.\n"
            "If it's not the case, please rename `env.compute_reward()` to something else to avoid False positives."
        )
        assert isinstance(env.observation_space, spaces.Dict), (
            "Goal conditioned envs (previously gym.GoalEnv) require the observation space to be gymnasium.spaces.Dict.\n"
            "Note: if your env is not a GoalEnv, please rename `env.compute_reward()` "
            "to something else to avoid False positive."
        )


def _check_render(env: gym.Env, warn: bool = False) -> None:
    """
    Call ``render()`` in the env's render mode (if it has one), then ``close()``.

    :param env: the environment
    :param warn: warn when the env declares no ``metadata["render_modes"]``
    """
    if env.metadata.get("render_modes") is None and warn:
        warnings.warn(
            "No render modes was declared in the environment "
            "(env.metadata['render_modes'] is None or not defined), "
            "you may have trouble when calling `.render()`"
        )
    if env.render_mode:
        env.render()
    env.close()


def _check_action_box(action_space: spaces.Box) -> None:
    """
    Warn when a Box action space is not [-1, 1] or not float32; raise when a bound is infinite.

    :param action_space: the Box action space
    """
    low, high = action_space.low, action_space.high
    if np.any(np.abs(low) != np.abs(high)) or np.any(low != -1) or np.any(high != 1):
        warnings.warn(
            "We recommend you to use a symmetric and normalized Box action space (range=[-1, 1]) "
            "cf. https://stable-baselines3.readthedocs.io/en/master/guide/rl_tips.html"
        )
    assert np.all(np.isfinite(np.array([low, high]))), "Continuous action space must have a finite lower and upper bound"
    if action_space.dtype != np.dtype(np.float32):
        warnings.warn(f"Your action space has dtype {action_space.dtype}, we recommend using np.float32 to avoid cast errors.")


def check_env(env: gym.Env, warn: bool = True, skip_render_check: bool = True) -> None:
    """
    Check that an environment follows the gymnasium API (https://gymnasium.farama.org/api/env/) and, optionally,
    warn about what would make it a poor fit for the algorithms of this library. Run it once on any custom env.

    It checks the spaces, that ``reset(seed=...)`` works and returns ``(obs, info)``, that ``step()`` returns
    ``(obs, reward, terminated, truncated, info)`` with the right types, that observations match the observation
    space (type, shape, dtype, bounds), the goal-conditioned conventions when the env defines ``compute_reward``,
    and, over 10 random steps, that no NaN or inf appears (as a warning). The env is reset and stepped: pass a
    fresh instance, or reset it afterwards.

    :param env: the environment to check (an instance of ``gymnasium.Env``)
    :param warn: emit warnings about unsupported spaces, images that will not suit ``CnnPolicy`` and action
        spaces that are not symmetric, normalized, finite and float32 (infinite bounds raise)
    :param skip_render_check: skip calling ``render()`` (True by default, as rendering may need a display)
    """
    if not isinstance(env, gym.Env):
        raise UsageError(
            "Your environment must inherit from the gymnasium.Env class cf. https://gymnasium.farama.org/api/env/"
        )

    _check_spaces(env)
    observation_space = env.observation_space
    action_space = env.action_space

    try:
        env.reset(seed=0)
    except TypeError as e:
        raise TypeError("The reset() method must accept a `seed` parameter") from e

    should_skip = False
    if warn:
        should_skip = _check_unsupported_spaces(observation_space, action_space)
        obs_spaces = observation_space.spaces if isinstance(observation_space, spaces.Dict) else {"": observation_space}
        for key, space in obs_spaces.items():
            if isinstance(space, spaces.Box):
                _check_box_obs(space, key)
        if isinstance(action_space, spaces.Box):
            _check_action_box(action_space)

    if should_skip:
        return

    _check_returned_values(env, observation_space, action_space)

    if not skip_render_check:
        _check_render(env, warn)

    try:
        check_for_nested_spaces(env.observation_space)
        _check_nan(env)
    except NotImplementedError:
        # Nested observation spaces and Dict action spaces, already warned about, are beyond VecCheckNan.
        pass
