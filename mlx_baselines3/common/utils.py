"""Small helpers shared by every algorithm: seeding, schedules, devices, logging set-up, observation checks."""

import glob
import os
import platform
import random
import re
import sys
import warnings
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

import cloudpickle
import gymnasium as gym
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces
from mlx.utils import tree_flatten, tree_map, tree_unflatten

import mlx_baselines3 as mb3
from mlx_baselines3.common import logger as logger_module
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.logger import Logger, configure
from mlx_baselines3.common.type_aliases import GymEnv, Schedule, TensorDict, TrainFreq, TrainFrequencyUnit


def set_random_seed(seed: int, using_cuda: bool = False) -> None:
    """
    Seed Python's ``random``, NumPy and MLX's global generator.

    :param seed: the seed
    :param using_cuda: kept for SB3 compatibility; MLX has a single generator for every device
    """
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """
    Fraction of the variance of ``y_true`` that ``y_pred`` explains: ``1 - Var[y_true - y_pred] / Var[y_true]``.

    1 is a perfect prediction, 0 is no better than predicting the mean, a negative value is worse than that.
    NaN when ``y_true`` is constant.

    :param y_pred: the predictions
    :param y_true: the targets
    :return: the explained variance
    """
    assert y_true.ndim == 1 and y_pred.ndim == 1, "explained_variance expects 1-D arrays"
    var_y = np.var(y_true)
    return np.nan if var_y == 0 else float(1 - np.var(y_true - y_pred) / var_y)


def update_learning_rate(optimizer: Any, learning_rate: float) -> None:
    """
    Set the learning rate of an MLX optimizer.

    The value is stored as an ``mx.array`` in the optimizer state, so compiled update steps see the new value
    without being traced again.

    :param optimizer: an ``mlx.optimizers.Optimizer``
    :param learning_rate: the new learning rate
    """
    optimizer.learning_rate = learning_rate


class FloatSchedule:
    """
    Schedule that always returns a Python float: wraps a constant or another schedule.

    :param value_schedule: a constant, or a callable of the remaining progress (e.g. ``LinearSchedule``)
    """

    def __init__(self, value_schedule: Schedule | float):
        if isinstance(value_schedule, FloatSchedule):
            self.value_schedule: Schedule = value_schedule.value_schedule
        elif isinstance(value_schedule, (float, int)):
            self.value_schedule = ConstantSchedule(float(value_schedule))
        else:
            if not callable(value_schedule):
                raise UsageError(
                    f"The learning rate schedule must be a float or a callable, not {value_schedule} (a schedule is a "
                    "function of the remaining progress, from 1 to 0)"
                )
            self.value_schedule = value_schedule

    def __call__(self, progress_remaining: float) -> float:
        return float(self.value_schedule(progress_remaining))

    def __repr__(self) -> str:
        return f"FloatSchedule({self.value_schedule})"


class LinearSchedule:
    """
    Linear interpolation from ``start`` (progress remaining 1) to ``end``, reached when a fraction
    ``end_fraction`` of training has passed, then constant.

    :param start: value at the start of training
    :param end: value from ``end_fraction`` of training on
    :param end_fraction: fraction of training after which ``end`` is returned (e.g. 0.1)
    """

    def __init__(self, start: float, end: float, end_fraction: float) -> None:
        self.start = start
        self.end = end
        self.end_fraction = end_fraction

    def __call__(self, progress_remaining: float) -> float:
        elapsed = 1 - progress_remaining
        if elapsed > self.end_fraction:
            return self.end
        return self.start + elapsed * (self.end - self.start) / self.end_fraction

    def __repr__(self) -> str:
        return f"LinearSchedule(start={self.start}, end={self.end}, end_fraction={self.end_fraction})"


class ConstantSchedule:
    """
    Schedule that returns the same value whatever the progress.

    :param val: the value
    """

    def __init__(self, val: float):
        self.val = val

    def __call__(self, _: float) -> float:
        return self.val

    def __repr__(self) -> str:
        return f"ConstantSchedule(val={self.val})"


def get_schedule_fn(value_schedule: Schedule | float) -> Schedule:
    """
    Deprecated: use ``FloatSchedule``. Kept so that code and saved models using it keep working.

    :param value_schedule: a constant or a schedule
    :return: a schedule
    """
    warnings.warn("get_schedule_fn() is deprecated, please use FloatSchedule() instead")
    return FloatSchedule(value_schedule)


def get_linear_fn(start: float, end: float, end_fraction: float) -> Schedule:
    """
    Deprecated: use ``LinearSchedule``.

    :param start: value at the start of training
    :param end: final value
    :param end_fraction: fraction of training after which ``end`` is returned
    :return: a linear schedule
    """
    warnings.warn("get_linear_fn() is deprecated, please use LinearSchedule() instead")
    return LinearSchedule(start, end, end_fraction)


def constant_fn(val: float) -> Schedule:
    """
    Deprecated: use ``ConstantSchedule``.

    :param val: the constant value
    :return: a constant schedule
    """
    warnings.warn("constant_fn() is deprecated, please use ConstantSchedule() instead")
    return ConstantSchedule(val)


def _gpu_available() -> bool:
    try:
        return mx.is_available(mx.gpu)
    except (AttributeError, RuntimeError):
        return False


def _gpu_type() -> str:
    """:return: torch's name for the GPU MLX drives here: ``"mps"`` (Apple's Metal) on macOS, else ``"cuda"``"""
    return "mps" if sys.platform == "darwin" else "cuda"


class Device:
    """
    The device a model computes on: the observable surface of ``torch.device`` over an MLX device.

    ``type`` is ``"cpu"``, ``"cuda"`` (MLX's CUDA backend) or ``"mps"`` (Apple's GPU), ``index`` the device number
    or None, ``str()`` gives ``"cuda"`` / ``"cuda:0"`` and ``repr()`` ``device(type='cuda')``, as torch does, so that
    SB3 code such as ``model.device.type == "cuda"`` keeps working. A device equals another with the same type and
    index, the same name as a string (``"gpu"`` names this platform's GPU) and the MLX device it maps to
    (``mx.cpu``, ``mx.gpu``, ``mx.Device(mx.gpu, 0)``); it is hashable like its name. ``mlx_device`` is what MLX runs
    on. Build one with :func:`get_device`.

    :param type: ``"cpu"``, ``"cuda"`` or ``"mps"``
    :param index: the device number (None: the default one)
    """

    __slots__ = ("_index", "_type")

    def __init__(self, type: str, index: int | None = None) -> None:
        if type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"Unknown device type {type!r}: use 'cpu', 'cuda' or 'mps' (or get_device('gpu')).")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"Device index must be an int >= 0 or None, got {index!r}")
        self._type = type
        self._index = index

    @property
    def type(self) -> str:
        """``"cpu"``, ``"cuda"`` or ``"mps"``."""
        return self._type

    @property
    def index(self) -> int | None:
        """The device number, or None for the default device of its type."""
        return self._index

    @property
    def mlx_device(self) -> mx.Device:
        """The MLX device computations run on."""
        if self._type == "cpu":
            return mx.Device(mx.cpu, self._index or 0)
        return mx.Device(mx.gpu, self._index or 0)

    @classmethod
    def from_mlx(cls, device: "mx.Device | mx.DeviceType") -> "Device":
        """
        :param device: an MLX device or device type
        :return: the device object for it
        """
        if isinstance(device, mx.DeviceType):
            return cls("cpu") if device == mx.cpu else cls(_gpu_type())
        if device.type == mx.cpu:
            return cls("cpu")
        # MLX devices print as "Device(gpu, 1)" and expose no index attribute.
        index = int(str(device).rstrip(")").rpartition(",")[2])
        return cls(_gpu_type(), index or None)

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type='{self._type}'{index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device):
            return (self._type, self._index) == (other._type, other._index)
        if isinstance(other, str):
            try:
                return self == _parse_device_name(other)
            except ValueError:
                return False
        if isinstance(other, mx.DeviceType):
            return self.mlx_device.type == other
        if isinstance(other, mx.Device):
            return self.mlx_device == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Device, (self._type, self._index))


def _parse_device_name(name: str) -> Device:
    """
    :param name: ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``, optionally with ``":<index>"``
    :return: the device it names (not checked for availability)
    """
    kind, _, index = name.strip().lower().partition(":")
    if kind not in ("cpu", "gpu", "mps", "cuda") or (index and not index.isdigit()):
        raise ValueError(f"Unknown device {name!r}: use 'auto', 'cpu', 'gpu', 'mps' or 'cuda' (optionally ':<index>').")
    if kind == "cpu":
        return Device("cpu", int(index) if index else None)
    return Device(_gpu_type(), int(index) if index else None)


def get_device(device: "Device | mx.Device | mx.DeviceType | str" = "auto") -> Device:
    """
    The device a model should run on. Every device choice of the library goes through here.

    ``"cpu"`` is the CPU; ``"gpu"``, ``"mps"`` (Apple) and ``"cuda"`` (NVIDIA, with ``mlx[cuda13]``) are the GPU,
    with an optional ``":<index>"``; a ``torch.device`` is read by its name. ``"auto"`` picks the GPU when MLX has
    one, else the CPU (algorithms then settle ``"auto"`` by measurement, see ``BaseAlgorithm``). A GPU requested where
    MLX has none gives the CPU, with a warning.

    :param device: a device name, a :class:`Device`, or an MLX device
    :return: the device, whose ``mlx_device`` MLX runs on
    """
    if isinstance(device, Device):
        return device
    if isinstance(device, (mx.Device, mx.DeviceType)):
        return Device.from_mlx(device)
    name = str(device)
    if name.strip().lower() == "auto":
        return Device(_gpu_type()) if _gpu_available() else Device("cpu")
    chosen = _parse_device_name(name)
    if chosen.type != "cpu" and not _gpu_available():
        warnings.warn(f"device={device!r} was requested but MLX has no GPU backend here; using the CPU.")
        return Device("cpu")
    return chosen


def get_latest_run_id(log_path: str = "", log_name: str = "") -> int:
    """
    Highest run number among folders ``{log_path}/{log_name}_{N}`` (0 when there is none).

    :param log_path: the folder holding the runs
    :param log_name: the run name prefix
    :return: the latest run number
    """
    max_run_id = 0
    for path in glob.glob(os.path.join(log_path, f"{glob.escape(log_name)}_[0-9]*")):
        suffix = path.split(os.sep)[-1].split("_")[-1]
        if log_name == "_".join(path.split(os.sep)[-1].split("_")[:-1]) and suffix.isdigit():
            max_run_id = max(max_run_id, int(suffix))
    return max_run_id


def configure_logger(
    verbose: int = 0,
    tensorboard_log: str | None = None,
    tb_log_name: str = "",
    reset_num_timesteps: bool = True,
) -> Logger:
    """
    Build the logger an algorithm writes to: stdout when ``verbose >= 1``, tensorboard when ``tensorboard_log`` is set.

    :param verbose: 0 silent, 1 info, 2 debug
    :param tensorboard_log: folder for tensorboard runs, or None
    :param tb_log_name: name of the run (a number is appended: ``PPO_1``, ``PPO_2``...)
    :param reset_num_timesteps: False continues the latest run instead of starting a new one
    :return: the logger
    """
    save_path, format_strings = None, ["stdout"]
    if tensorboard_log is not None:
        latest_run_id = get_latest_run_id(tensorboard_log, tb_log_name)
        if not reset_num_timesteps:
            # Continue training in the same directory
            latest_run_id -= 1
        save_path = os.path.join(tensorboard_log, f"{tb_log_name}_{latest_run_id + 1}")
        format_strings = ["stdout", "tensorboard"] if verbose >= 1 else ["tensorboard"]
    elif verbose == 0:
        format_strings = [""]
    return configure(save_path, format_strings=format_strings)


def check_for_correct_spaces(env: GymEnv, observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """
    Check that an environment has the given observation and action spaces.

    :param env: the environment
    :param observation_space: the expected observation space
    :param action_space: the expected action space
    """
    if observation_space != env.observation_space:
        raise ValueError(f"Observation spaces do not match: {observation_space} != {env.observation_space}")
    if action_space != env.action_space:
        raise ValueError(f"Action spaces do not match: {action_space} != {env.action_space}")


def check_shape_equal(space1: spaces.Space, space2: spaces.Space) -> None:
    """
    Check that two spaces have the same shape (key by key for Dict spaces).

    :param space1: a space
    :param space2: another space
    """
    # Explicit raises rather than asserts, so that the check survives ``python -O``.
    if isinstance(space1, spaces.Dict):
        if not isinstance(space2, spaces.Dict):
            raise UsageError(f"spaces must be of the same type: {type(space1)} != {type(space2)}")
        if space1.spaces.keys() != space2.spaces.keys():
            raise UsageError(f"spaces must have the same keys: {list(space1.spaces.keys())} != {list(space2.spaces.keys())}")
        for key in space1.spaces:
            check_shape_equal(space1.spaces[key], space2.spaces[key])
    elif isinstance(space1, spaces.Box) and space1.shape != space2.shape:
        raise UsageError(f"spaces must have the same shape: {space1.shape} != {space2.shape}")


def _vectorized_by_shape(observation: np.ndarray, space_shape: tuple[int, ...], space: spaces.Space) -> bool:
    if observation.shape == space_shape:
        return False
    if observation.shape[1:] == space_shape:
        return True
    raise ValueError(
        f"Error: Unexpected observation shape {observation.shape} for {type(space).__name__} environment, "
        f"please use {space_shape} or (n_env, {', '.join(map(str, space_shape))}) for the observation shape."
    )


def is_vectorized_box_observation(observation: np.ndarray, observation_space: spaces.Box) -> bool:
    """
    :param observation: the input observation
    :param observation_space: the observation space
    :return: whether the observation is a batch of observations (one per env)
    """
    return _vectorized_by_shape(observation, observation_space.shape, observation_space)


def is_vectorized_discrete_observation(observation: int | np.ndarray, observation_space: spaces.Discrete) -> bool:
    """
    :param observation: the input observation
    :param observation_space: the observation space
    :return: whether the observation is a batch of observations (one per env)
    """
    if isinstance(observation, int) or observation.shape == ():
        return False
    if len(observation.shape) == 1:
        return True
    raise ValueError(
        f"Error: Unexpected observation shape {observation.shape} for Discrete environment, "
        "please use () or (n_env,) for the observation shape."
    )


def is_vectorized_multidiscrete_observation(observation: np.ndarray, observation_space: spaces.MultiDiscrete) -> bool:
    """
    :param observation: the input observation
    :param observation_space: the observation space
    :return: whether the observation is a batch of observations (one per env)
    """
    return _vectorized_by_shape(observation, (len(observation_space.nvec),), observation_space)


def is_vectorized_multibinary_observation(observation: np.ndarray, observation_space: spaces.MultiBinary) -> bool:
    """
    :param observation: the input observation
    :param observation_space: the observation space
    :return: whether the observation is a batch of observations (one per env)
    """
    return _vectorized_by_shape(observation, observation_space.shape, observation_space)


def is_vectorized_dict_observation(observation: dict, observation_space: spaces.Dict) -> bool:
    """
    :param observation: the input observation (a dict)
    :param observation_space: the observation space
    :return: whether the observation is a batch of observations (one per env)
    """
    all_non_vectorized = all(observation[key].shape == subspace.shape for key, subspace in observation_space.spaces.items())
    if all_non_vectorized:
        return False
    all_vectorized = all(observation[key].shape[1:] == subspace.shape for key, subspace in observation_space.spaces.items())
    if all_vectorized:
        return True
    errors = []
    for key, subspace in observation_space.spaces.items():
        try:
            is_vectorized_observation(observation[key], subspace)
        except ValueError as error:
            errors.append(f"key '{key}': {error}")
    raise ValueError(
        "There seems to be a mix of vectorized and non-vectorized observations. "
        f"Unexpected observation shape {[observation[k].shape for k in observation_space.spaces]} for the spaces "
        f"{observation_space}. " + " ".join(errors)
    )


def is_vectorized_observation(observation: int | np.ndarray | dict, observation_space: spaces.Space) -> bool:
    """
    Whether an observation is a batch (one per env) or a single one, with a clear error when its shape fits neither.

    :param observation: the input observation
    :param observation_space: the observation space
    :return: whether the observation is vectorized
    """
    checks = {
        spaces.Box: is_vectorized_box_observation,
        spaces.Discrete: is_vectorized_discrete_observation,
        spaces.MultiDiscrete: is_vectorized_multidiscrete_observation,
        spaces.MultiBinary: is_vectorized_multibinary_observation,
        spaces.Dict: is_vectorized_dict_observation,
    }
    for space_type, check in checks.items():
        if isinstance(observation_space, space_type):
            return check(observation, observation_space)  # type: ignore[operator]
    raise ValueError(f"Error: Cannot determine if the observation is vectorized with the space type {observation_space}.")


def safe_mean(arr: np.ndarray | list | deque) -> float:
    """
    Mean that returns NaN for an empty input instead of warning.

    :param arr: the values
    :return: their mean, or NaN
    """
    return np.nan if len(arr) == 0 else float(np.mean(arr))  # type: ignore[arg-type]


def zip_strict(*iterables: Iterable) -> Iterable:
    """
    ``zip`` that raises when the iterables have different lengths (``zip(..., strict=True)``, as SB3 2.9.2).

    :param iterables: the iterables
    :return: the zipped tuples
    :raises ValueError: Python's own "zip() argument 2 is shorter than argument 1" when the lengths differ
    """
    return zip(*iterables, strict=True)


def polyak_update(params: Any, target_params: Any, tau: "float | mx.array") -> Any:
    """
    Soft update ``target = (1 - tau) * target + tau * params`` over two parameter trees of the same structure.

    Returns the new target tree (MLX arrays are immutable); apply it with ``target_module.update(new_tree)``, or use
    ``update_target_network`` for a whole network. Safe inside ``mx.compile`` when ``tau`` is an ``mx.array``.

    :param params: the source parameters (e.g. ``critic.parameters()``)
    :param target_params: the target parameters (e.g. ``critic_target.parameters()``)
    :param tau: the soft update coefficient, in [0, 1] (1 is a hard copy)
    :return: the updated target parameter tree
    """
    return tree_map(lambda target, source: (1 - tau) * target + tau * source, target_params, params)


def update_target_network(source: nn.Module, target: nn.Module, tau: "float | mx.array") -> None:
    """
    Move a target network towards its online network: ``polyak_update`` of all parameters, then the batch
    normalization running statistics (``running_*``) copied, as SB3 does after each target update (SB3 GH#996).

    :param source: the online network
    :param target: its target copy (same structure)
    :param tau: the soft update coefficient (an ``mx.array`` inside compiled updates; the float 1.0 copies)
    """
    if isinstance(tau, float) and tau == 1.0:
        target.update(source.parameters())
        return
    target.update(polyak_update(source.parameters(), target.parameters(), tau))
    running_stats = [(name, value) for name, value in named_arrays(source.parameters()) if "running_" in name]
    if running_stats:
        target.update(tree_unflatten(running_stats))


#: torch classes that have an MLX counterpart, by torch module: torch class name -> (MLX module, MLX class name).
#: The single table of torch names: ``as_mlx_optimizer_class``/``as_mlx_module_class`` map classes given by users
#: with it, and loading maps the classes named in SB3 files with it.
TORCH_TO_MLX_CLASSES: dict[str, dict[str, tuple[Any, str]]] = {
    "torch.nn.modules.activation": {
        name: (nn, name)
        for name in (
            "ReLU",
            "ReLU6",
            "Tanh",
            "Sigmoid",
            "LeakyReLU",
            "ELU",
            "CELU",
            "SELU",
            "GELU",
            "SiLU",
            "Mish",
            "Softplus",
            "Softsign",
            "Softshrink",
            "Hardswish",
            "LogSigmoid",
            "Softmax",
            "Softmin",
            "LogSoftmax",
            "PReLU",
            "GLU",
        )
    }
    | {"Hardtanh": (nn, "HardTanh"), "Hardshrink": (nn, "HardShrink")},
    "torch.nn.modules.linear": {"Identity": (nn, "Identity")},
    "torch.nn.modules.normalization": {"LayerNorm": (nn, "LayerNorm")},
    "torch.nn.modules.batchnorm": {"BatchNorm1d": (nn, "BatchNorm")},
    "torch.optim.adam": {"Adam": (optim, "Adam")},
    "torch.optim.adamw": {"AdamW": (optim, "AdamW")},
    "torch.optim.rmsprop": {"RMSprop": (optim, "RMSprop")},
    "torch.optim.sgd": {"SGD": (optim, "SGD")},
    "torch.optim.adagrad": {"Adagrad": (optim, "Adagrad")},
    "torch.optim.adamax": {"Adamax": (optim, "Adamax")},
    "torch.optim.adadelta": {"Adadelta": (optim, "AdaDelta")},
}


def torch_class_to_mlx(module: str, name: str) -> type | None:
    """
    The MLX class that stands for a torch class (``TORCH_TO_MLX_CLASSES``).

    :param module: the torch class's module, e.g. ``"torch.optim.adadelta"``
    :param name: its name, e.g. ``"Adadelta"``
    :return: the MLX class (``mlx.optimizers.AdaDelta``), or None when the table has no entry
    """
    entry = TORCH_TO_MLX_CLASSES.get(module, {}).get(name)
    return None if entry is None else getattr(entry[0], entry[1])


def obs_as_tensor(obs: np.ndarray | dict[str, np.ndarray], device: Any = None) -> "mx.array | TensorDict":
    """
    Convert an observation (or a dict of observations) to MLX arrays.

    :param obs: the observation
    :param device: unused (MLX arrays live in unified memory); kept for SB3 compatibility
    :return: the observation as ``mx.array`` (or dict of them)
    """
    if isinstance(obs, np.ndarray):
        return mx.array(obs)
    if isinstance(obs, dict):
        return {key: mx.array(_obs) for (key, _obs) in obs.items()}
    raise TypeError(f"Unrecognized type of observation {type(obs)}")


def should_collect_more_steps(train_freq: TrainFreq, num_collected_steps: int, num_collected_episodes: int) -> bool:
    """
    Whether an off-policy algorithm should keep collecting before training.

    :param train_freq: how often to train, in steps or episodes
    :param num_collected_steps: steps collected so far
    :param num_collected_episodes: episodes collected so far
    :return: True while more steps are needed
    """
    if train_freq.unit == TrainFrequencyUnit.STEP:
        return num_collected_steps < train_freq.frequency
    if train_freq.unit == TrainFrequencyUnit.EPISODE:
        return num_collected_episodes < train_freq.frequency
    raise ValueError(f"The unit of the `train_freq` must be either 'step' or 'episode', not '{train_freq.unit}'.")


def get_parameters_by_name(model: nn.Module, included_names: Iterable[str]) -> list[mx.array]:
    """
    Flattened parameters (and buffers such as batch-norm statistics) whose name contains one of ``included_names``.

    :param model: the module
    :param included_names: substrings to select by
    :return: the matching arrays
    """
    return [param for name, param in named_arrays(model.parameters()) if any(key in name for key in included_names)]


def named_arrays(tree: Any) -> list[tuple[str, Any]]:
    """
    The leaves of a parameter tree with their dotted paths, as ``mlx.utils.tree_flatten`` lists them (typed as the list
    it returns without a destination: its stub also allows a dict).

    :param tree: a module or a nested dict/list of arrays
    :return: ``(path, array)`` pairs, e.g. ``("layers.0.weight", array)``
    """
    return cast(list[tuple[str, Any]], tree_flatten(tree))


def _gpu_description() -> str:
    # The GPU MLX computes on: Apple silicon through Metal, or an NVIDIA card with the CUDA build (mlx[cuda13]).
    if not _gpu_available():
        return "none (MLX has no GPU backend here)"
    backend = "CUDA" if mx.cuda.is_available() else "Metal"
    try:
        name = mx.device_info(mx.gpu).get("device_name", "unknown")
    except (AttributeError, RuntimeError, TypeError):
        name = "unknown"
    return f"{name} ({backend})"


def get_system_info(print_info: bool = True) -> tuple[dict[str, str], str]:
    """
    The OS, Python and library versions under SB3's key names, so tools that read SB3's report keep working, plus
    this library's own entries: ``Stable-Baselines3`` holds our version (the API level we implement is SB3 2.9.2),
    ``PyTorch`` the MLX version that plays its part, ``GPU Enabled`` whether MLX sees a GPU (Apple's Metal or an NVIDIA
    card with ``mlx[cuda13]``), ``GPU`` which one.

    :param print_info: print the information
    :return: the information as a dict and as a printable string (one ``- key: value`` line each)
    """
    mlx_version = mx.__version__  # type: ignore[attr-defined]  # missing from MLX's stubs
    env_info = {
        # Strip the host name, it is private information.
        "OS": re.sub(r"#(\d)", r"# \1", f"{platform.platform()} {platform.version()}"),
        "Python": platform.python_version(),
        "Stable-Baselines3": mb3.__version__,
        "PyTorch": f"MLX {mlx_version}",
        "GPU Enabled": str(_gpu_available()),
        "Numpy": np.__version__,
        "Cloudpickle": cloudpickle.__version__,
        "Gymnasium": gym.__version__,
    }
    try:
        import gym as openai_gym  # type: ignore[import-not-found]

        env_info["OpenAI Gym"] = openai_gym.__version__
    except ImportError:
        pass
    env_info.update({"MLX-Baselines3": mb3.__version__, "MLX": mlx_version, "GPU": _gpu_description()})
    env_info_str = "".join(f"- {key}: {value}\n" for key, value in env_info.items())
    if print_info:
        print(env_info_str)
    return env_info, env_info_str


def __getattr__(name: str) -> Any:
    """
    ``SummaryWriter``, which SB3 exposes here: tensorboardX's (torch's API, no torch), None without tensorboardX.
    Resolved on first use, as importing it costs about a second.

    :param name: the attribute
    :return: its value
    """
    if name == "SummaryWriter":
        return logger_module.__getattr__("SummaryWriter")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
