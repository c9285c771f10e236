"""Base classes of vectorized environments: the ``VecEnv`` interface and ``VecEnvWrapper``."""

import inspect
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from copy import deepcopy
from typing import Any, Union

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError

# These aliases live here rather than in type_aliases.py so that the vec_env package imports nothing from the rest of
# the library (SB3 makes the same choice, and user code imports them from this module).
# Which sub-environments a call targets: all of them (None), one index, or several.
VecEnvIndices = Union[None, int, Iterable[int]]  # noqa: UP007
# A batch of observations, one row per sub-environment.
VecEnvObs = Union[np.ndarray, dict[str, np.ndarray], tuple[np.ndarray, ...]]  # noqa: UP007
# observations, rewards, dones, infos
VecEnvStepReturn = tuple[VecEnvObs, np.ndarray, np.ndarray, list[dict]]


def tile_images(images_nhwc: Sequence[np.ndarray]) -> np.ndarray:
    """
    Arrange ``n`` images of equal size on a grid, as close to square as possible, and return the grid as one image.
    Grid cells left over when ``n`` is not a product of the grid sides are black.

    :param images_nhwc: the images, shape ``(n, height, width, channels)`` once stacked
    :return: one image of shape ``(rows * height, cols * width, channels)``
    """
    images = np.asarray(images_nhwc)
    n_images, height, width, n_channels = images.shape
    n_rows = int(np.ceil(np.sqrt(n_images)))
    n_cols = int(np.ceil(n_images / n_rows))
    grid = np.zeros((n_rows * n_cols, height, width, n_channels), dtype=images.dtype)
    grid[:n_images] = images
    # (rows, cols, h, w, c) -> (rows, h, cols, w, c) so that a reshape lays the cells side by side.
    grid = grid.reshape(n_rows, n_cols, height, width, n_channels).transpose(0, 2, 1, 3, 4)
    return grid.reshape(n_rows * height, n_cols * width, n_channels)


class VecEnv(ABC):
    """
    Abstract vectorized environment: ``num_envs`` copies of an environment stepped together.

    Unlike a gymnasium env, ``step`` returns ``(obs, rewards, dones, infos)`` and sub-environments reset themselves
    when their episode ends; the last observation of the finished episode is then in
    ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` says whether it ended by truncation.

    :param num_envs: number of sub-environments
    :param observation_space: observation space of one sub-environment
    :param action_space: action space of one sub-environment
    """

    def __init__(self, num_envs: int, observation_space: spaces.Space, action_space: spaces.Space):
        self.num_envs = num_envs
        self.observation_space = observation_space
        self.action_space = action_space
        # Infos returned by the latest reset of each sub-environment.
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(num_envs)]
        # Seeds and options are only handed to the sub-environments at their next reset (gymnasium >= 0.26 API).
        self._seeds: list[int | None] = [None for _ in range(num_envs)]
        self._options: list[dict[str, Any]] = [{} for _ in range(num_envs)]

        try:
            render_modes = self.get_attr("render_mode")
        except AttributeError:
            warnings.warn("The `render_mode` attribute is not defined in your environment. It will be set to None.")
            render_modes = [None for _ in range(num_envs)]
        if any(mode != render_modes[0] for mode in render_modes):
            raise UsageError(f"render_mode mode should be the same for all environments, got {render_modes}")
        self.render_mode = render_modes[0]

        supported_modes: list[str] = []
        if self.render_mode == "rgb_array":
            # rgb_array images can also be shown on screen (with OpenCV), so "human" is offered too.
            supported_modes = ["human", "rgb_array"]
        elif self.render_mode is not None:
            supported_modes = [self.render_mode]
        self.metadata = {"render_modes": supported_modes}

    def _reset_seeds(self) -> None:
        """Forget the seeds set with ``seed()`` once they have been used by a reset."""
        self._seeds = [None for _ in range(self.num_envs)]

    def _reset_options(self) -> None:
        """Forget the options set with ``set_options()`` once they have been used by a reset."""
        self._options = [{} for _ in range(self.num_envs)]

    @abstractmethod
    def reset(self) -> VecEnvObs:
        """
        Reset every sub-environment, using (then forgetting) the seeds and options set since the last reset.
        A pending ``step_async`` is abandoned.

        :return: the first observation of each sub-environment
        """

    @abstractmethod
    def step_async(self, actions: np.ndarray) -> None:
        """
        Start stepping every sub-environment with its action; collect the result with ``step_wait()``.
        Must not be called again before ``step_wait()``.

        :param actions: one action per sub-environment
        """

    @abstractmethod
    def step_wait(self) -> VecEnvStepReturn:
        """
        Wait for the step started by ``step_async()``.

        :return: observations, rewards, dones and infos of all sub-environments
        """

    @abstractmethod
    def close(self) -> None:
        """Release the resources of every sub-environment."""

    def has_attr(self, attr_name: str) -> bool:
        """
        Whether every sub-environment has a given attribute.

        :param attr_name: name of the attribute
        :return: True if ``get_attr(attr_name)`` succeeds
        """
        # The default goes through get_attr, which needs the value to be picklable in the subprocess case.
        try:
            self.get_attr(attr_name)
        except AttributeError:
            return False
        return True

    @abstractmethod
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """
        Read an attribute of sub-environments (looked up through their gymnasium wrappers).

        :param attr_name: name of the attribute
        :param indices: which sub-environments (default: all)
        :return: the value of the attribute in each targeted sub-environment
        """

    @abstractmethod
    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """
        Set an attribute on sub-environments (on their outermost wrapper).

        :param attr_name: name of the attribute
        :param value: the new value
        :param indices: which sub-environments (default: all)
        """

    @abstractmethod
    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """
        Call a method of sub-environments.

        :param method_name: name of the method
        :param method_args: positional arguments for the method
        :param indices: which sub-environments (default: all)
        :param method_kwargs: keyword arguments for the method
        :return: what the method returned in each targeted sub-environment
        """

    @abstractmethod
    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """
        Whether sub-environments are wrapped with a given gymnasium wrapper.

        :param wrapper_class: the wrapper class to look for
        :param indices: which sub-environments (default: all)
        :return: one boolean per targeted sub-environment
        """

    def step(self, actions: np.ndarray) -> VecEnvStepReturn:
        """
        Step every sub-environment with its action.

        :param actions: one action per sub-environment
        :return: observations, rewards, dones and infos of all sub-environments
        """
        self.step_async(actions)
        return self.step_wait()

    def get_images(self) -> Sequence[np.ndarray | None]:
        """
        Render an RGB image of each sub-environment.

        :return: one image (or None) per sub-environment
        """
        raise NotImplementedError(f"{type(self).__name__} cannot return images of its sub-environments")

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """
        Render the sub-environments. With ``render_mode="rgb_array"`` the images of all sub-environments are tiled into
        one image, which is returned (``mode="rgb_array"``) or shown in an OpenCV window (``mode="human"``).

        :param mode: kept for backward compatibility; since gymnasium 0.26 the mode is fixed when the env is created
            and a different one here only warns
        :return: the tiled image in ``rgb_array`` mode, else None
        """
        if mode == "human" and self.render_mode != mode:
            if self.render_mode != "rgb_array":
                warnings.warn(
                    f"You tried to render a VecEnv with mode='{mode}' "
                    "but the render mode defined when initializing the environment must be "
                    f"'human' or 'rgb_array', not '{self.render_mode}'."
                )
                return None
        elif mode and self.render_mode != mode:
            warnings.warn(
                f"Starting from gymnasium v0.26, render modes are determined during the initialization of the environment. "
                f"The mode passed to render() ({mode}) must be the environment's render mode ({self.render_mode}); "
                "pass `render_mode` when creating the environment instead."
            )
            return None

        mode = mode or self.render_mode
        if mode is None:
            warnings.warn("You tried to call render() but no `render_mode` was passed to the env constructor.")
            return None

        if self.render_mode == "human":
            # Each sub-environment draws its own window.
            self.env_method("render")
            return None

        if mode in ("rgb_array", "human"):
            big_image = tile_images(self.get_images())  # type: ignore[arg-type]
            if mode == "rgb_array":
                return big_image
            try:
                import cv2
            except ImportError as e:
                raise ImportError(
                    "Showing rgb_array frames with render('human') needs OpenCV: `pip install opencv-python`"
                ) from e
            cv2.imshow("vecenv", big_image[:, :, ::-1])
            cv2.waitKey(1)
            return None

        # Any other mode (e.g. "ansi"): let each sub-environment handle it; results are not gathered.
        self.env_method("render")
        return None

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """
        Choose the seeds of the sub-environments: ``seed``, ``seed + 1``, ... They are applied at the next ``reset()``
        only (gymnasium seeds an env through ``reset(seed=...)``).

        :param seed: the first seed; None draws one at random so that sub-environments still get distinct seeds
        :return: the seed of each sub-environment
        """
        if seed is None:
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))
        self._seeds = [seed + idx for idx in range(self.num_envs)]
        return self._seeds

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """
        Choose the ``options`` passed to the sub-environments at their next ``reset()`` (and only that one).

        :param options: one dict per sub-environment, or a single dict used for all of them
        """
        if options is None:
            options = {}
        # Copies, so that later changes to the caller's dicts (or to one env's options) do not leak.
        if isinstance(options, dict):
            self._options = [deepcopy(options) for _ in range(self.num_envs)]
        else:
            self._options = deepcopy(list(options))

    @property
    def unwrapped(self) -> "VecEnv":
        """The innermost ``VecEnv``, below every ``VecEnvWrapper``."""
        if isinstance(self, VecEnvWrapper):
            return self.venv.unwrapped
        return self

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        """
        Report whether attribute ``name`` of this VecEnv would be hidden by a wrapper above that has it too.

        :param name: name of the attribute
        :param already_found: whether a wrapper above already has the attribute
        :return: the qualified class name of this VecEnv if its attribute is shadowed, else None
        """
        if already_found and hasattr(self, name):
            return f"{type(self).__module__}.{type(self).__name__}"
        return None

    def _get_indices(self, indices: VecEnvIndices) -> Iterable[int]:
        """
        Turn the accepted forms of ``indices`` into an iterable of indices.

        :param indices: None (all sub-environments), one index or several
        :return: the indices
        """
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        return indices


class VecEnvWrapper(VecEnv):
    """
    Base class of wrappers around a ``VecEnv``. Everything it does not override is forwarded to the wrapped VecEnv,
    and attributes it lacks are looked up in the wrapped VecEnv(s).

    :param venv: the VecEnv to wrap
    :param observation_space: observation space of the wrapper (None: the wrapped VecEnv's)
    :param action_space: action space of the wrapper (None: the wrapped VecEnv's)
    """

    def __init__(
        self,
        venv: VecEnv,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
    ):
        self.venv = venv
        super().__init__(
            num_envs=venv.num_envs,
            observation_space=observation_space or venv.observation_space,
            action_space=action_space or venv.action_space,
        )
        self.class_attributes = dict(inspect.getmembers(self.__class__))

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(actions)

    @abstractmethod
    def reset(self) -> VecEnvObs:
        pass

    @abstractmethod
    def step_wait(self) -> VecEnvStepReturn:
        pass

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        return self.venv.seed(seed)

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        return self.venv.set_options(options)

    def close(self) -> None:
        return self.venv.close()

    def render(self, mode: str | None = None) -> np.ndarray | None:
        return self.venv.render(mode=mode)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return self.venv.get_images()

    def has_attr(self, attr_name: str) -> bool:
        return self.venv.has_attr(attr_name)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self.venv.get_attr(attr_name, indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        return self.venv.set_attr(attr_name, value, indices)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self.venv.env_is_wrapped(wrapper_class, indices=indices)

    def __getattr__(self, name: str) -> Any:
        """
        Look up an attribute this wrapper lacks in the wrapped VecEnv(s).

        :param name: name of the attribute
        :return: the value found in the closest wrapped VecEnv that has it
        :raises AttributeError: when several wrappers below have the attribute (the lookup would be ambiguous)
        """
        # While unpickling, __dict__ is still empty: looking up "venv" here would recurse forever.
        if name in ("venv", "class_attributes") or name.startswith("__"):
            raise AttributeError(name)
        blocked_class = self.getattr_depth_check(name, already_found=False)
        if blocked_class is not None:
            own_class = f"{type(self).__module__}.{type(self).__name__}"
            raise AttributeError(
                f"Error: Recursive attribute lookup for {name} from {own_class} is "
                f"ambiguous and hides attribute from {blocked_class}"
            )
        return self.getattr_recursive(name)

    def _get_all_attributes(self) -> dict[str, Any]:
        """
        :return: the instance attributes and the (inherited) class attributes of this wrapper
        """
        all_attributes = self.__dict__.copy()
        all_attributes.update(self.class_attributes)
        return all_attributes

    def getattr_recursive(self, name: str) -> Any:
        """
        Return attribute ``name`` from this wrapper or, if it lacks it, from the closest wrapped VecEnv that has it.

        :param name: name of the attribute
        :return: its value
        """
        if name in self._get_all_attributes():
            return getattr(self, name)
        if hasattr(self.venv, "getattr_recursive"):
            # The wrapped VecEnv is a wrapper: skip its __getattr__, the ambiguity check was done once at the top.
            return self.venv.getattr_recursive(name)
        return getattr(self.venv, name)

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        """
        Report whether attribute ``name`` is defined by more than one wrapper in the chain.

        :param name: name of the attribute
        :param already_found: whether a wrapper above already has the attribute
        :return: the qualified class name of the first shadowed wrapper, else None
        """
        has_it = name in self._get_all_attributes()
        if has_it and already_found:
            return f"{type(self).__module__}.{type(self).__name__}"
        return self.venv.getattr_depth_check(name, already_found or has_it)


class CloudpickleWrapper:
    """
    Holds an object that is pickled with cloudpickle, so that closures and lambdas (e.g. env factories) can be sent
    to subprocesses, which use the standard pickle otherwise.

    :param var: the object to carry
    """

    def __init__(self, var: Any):
        self.var = var

    def __getstate__(self) -> Any:
        return cloudpickle.dumps(self.var)

    def __setstate__(self, var: Any) -> None:
        self.var = cloudpickle.loads(var)
