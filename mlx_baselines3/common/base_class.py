"""Abstract base class of the RL algorithms: environment wrapping, the learn-loop plumbing, predict, logging."""

import collections.abc
import inspect
import io
import math
import os
import pathlib
import time
import types
import typing
import warnings
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common import utils
from mlx_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from mlx_baselines3.common.env_util import is_wrapped
from mlx_baselines3.common.exceptions import LoadError, UsageError
from mlx_baselines3.common.logger import Logger
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.preprocessing import check_for_nested_spaces, is_image_space, is_image_space_channels_first
from mlx_baselines3.common.safe_load import check_keyword_arguments
from mlx_baselines3.common.safe_pickle import shorten
from mlx_baselines3.common.save_util import (
    SCHEDULE_ATTRIBUTES,
    decode_data_entries,
    load_from_zip_file,  # noqa: F401 (SB3's name at SB3's path)
    read_zip_file,
    recursive_getattr,
    recursive_setattr,  # noqa: F401 (SB3's name at SB3's path)
    save_to_zip_file,
    warn_skipped,
)
from mlx_baselines3.common.state_dict import (
    load_module_state_dict,
    load_optimizer_state_dict,
    module_state_dict,
    optimizer_state_dict,
)
from mlx_baselines3.common.streams import run_on_model_device
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.type_aliases import TensorDict as TensorDict  # SB3 exposes it here
from mlx_baselines3.common.utils import (
    FloatSchedule,
    check_for_correct_spaces,
    get_device,
    get_system_info,
    set_random_seed,
    update_learning_rate,
)
from mlx_baselines3.common.vec_env import (
    DummyVecEnv,
    VecEnv,
    VecNormalize,
    VecTransposeImage,
    is_vecenv_wrapped,
    unwrap_vec_normalize,
)
from mlx_baselines3.common.vec_env.patch_gym import _patch_env

SelfBaseAlgorithm = TypeVar("SelfBaseAlgorithm", bound="BaseAlgorithm")

#: ``device="auto"`` picks the GPU from this much work per gradient step (trainable parameters x batch size). Measured
#: with MLX's CUDA backend on an H200 host: PPO/A2C/DQN with SB3's default networks (under 5e6) ran 1.1-2x faster on
#: the CPU, SAC/TD3 with [256, 256] networks (9e7-1e8) and PPO with [256, 256] and batches of 256 (3e7) 1.9-4x faster
#: on the GPU; see docs/performance.md.
AUTO_GPU_MIN_WORK = 10_000_000


def maybe_make_env(env: GymEnv | str, verbose: int) -> GymEnv:
    """
    Create the environment when given its registered id.

    :param env: an environment or a registered id
    :param verbose: print that the environment is created
    :return: the environment
    """
    if isinstance(env, str):
        env_id = env
        if verbose >= 1:
            print(f"Creating environment from the given name '{env_id}'")
        # rgb_array rendering by default, so that videos can be recorded.
        try:
            env = gym.make(env_id, render_mode="rgb_array")
        except TypeError:
            env = gym.make(env_id)
    return env


# The public calls that run on the model's device from any thread (common/streams.py), and whether they change the
# model's arrays (then evaluated before returning).
_DEVICE_METHODS = (
    ("_setup_model", True),
    ("learn", True),
    ("train", True),
    ("set_parameters", True),
    ("predict", False),
    ("get_parameters", False),
    ("save", False),
    ("load", True),
    ("set_random_seed", False),
)


class BaseAlgorithm(ABC):
    """
    The base of RL algorithms.

    :param policy: the policy class or the name of a registered alias (``"MlpPolicy"``, ``"CnnPolicy"``...)
    :param env: the environment (a registered id, a gymnasium env or a VecEnv), or None to load a model
    :param learning_rate: learning rate, constant or a schedule of the remaining progress
    :param policy_kwargs: keyword arguments for the policy
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param verbose: 0 silent, 1 info (training statistics), 2 debug
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param support_multi_env: the algorithm supports several parallel environments
    :param monitor_wrapper: wrap a plain gymnasium env in ``Monitor`` to record episode statistics
    :param seed: seed of the random generators
    :param use_sde: use generalized State-Dependent Exploration
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of rollouts)
    :param supported_action_spaces: the action space types the algorithm supports
    """

    # Policy aliases ("MlpPolicy", "CnnPolicy"...) of the algorithm.
    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {}
    policy: BasePolicy
    observation_space: spaces.Space
    action_space: spaces.Space
    n_envs: int
    lr_schedule: Schedule
    _logger: Logger

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        run_on_model_device(cls, _DEVICE_METHODS)

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        device: "mx.Device | str" = "auto",
        support_multi_env: bool = False,
        monitor_wrapper: bool = True,
        seed: int | None = None,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        supported_action_spaces: tuple[type[spaces.Space], ...] | None = None,
    ) -> None:
        if isinstance(policy, str):
            self.policy_class = self._get_policy_from_name(policy)
        else:
            self.policy_class = policy

        # The model's own device: its work runs there (see common/streams.py), MLX's default device is left alone.
        self.device = get_device(device)
        # With "auto" and a GPU, the device is settled once the policy exists: see _choose_auto_device().
        self._device_undecided = isinstance(device, str) and device.lower() == "auto" and self.device.type != "cpu"
        if verbose >= 1 and not self._device_undecided:
            print(f"Using {self.device.type} device")

        self.verbose = verbose
        self.policy_kwargs = {} if policy_kwargs is None else policy_kwargs
        self.num_timesteps = 0
        # Used for updating schedules
        self._total_timesteps = 0
        # Used for computing fps, it is updated at each call of learn()
        self._num_timesteps_at_start = 0
        self.seed = seed
        self.action_noise: ActionNoise | None = None
        self.start_time = 0.0
        self.learning_rate = learning_rate
        self.tensorboard_log = tensorboard_log
        self._last_obs: np.ndarray | dict[str, np.ndarray] | None = None
        self._last_episode_starts: np.ndarray | None = None
        # When using VecNormalize:
        self._last_original_obs: np.ndarray | dict[str, np.ndarray] | None = None
        self._episode_num = 0
        # Used for gSDE only
        self.use_sde = use_sde
        self.sde_sample_freq = sde_sample_freq
        # Track the training progress remaining (from 1 to 0), used for schedules
        self._current_progress_remaining = 1.0
        # Buffers for logging
        self._stats_window_size = stats_window_size
        self.ep_info_buffer: deque | None = None
        self.ep_success_buffer: deque | None = None
        # For logging (and TD3 delayed updates)
        self._n_updates = 0
        # Whether the user passed a custom logger or not
        self._custom_logger = False
        self.env: VecEnv | None = None
        self._vec_normalize_env: VecNormalize | None = None

        if env is not None:
            env = maybe_make_env(env, self.verbose)
            env = self._wrap_env(env, self.verbose, monitor_wrapper)

            self.observation_space = env.observation_space
            self.action_space = env.action_space
            self.n_envs = env.num_envs
            self.env = env

            # get VecNormalize object if needed
            self._vec_normalize_env = unwrap_vec_normalize(env)

            if supported_action_spaces is not None and not isinstance(self.action_space, supported_action_spaces):
                raise UsageError(
                    f"The algorithm only supports {supported_action_spaces} as action spaces "
                    f"but {self.action_space} was provided"
                )

            if not support_multi_env and self.n_envs > 1:
                raise ValueError(
                    "Error: the model does not support multiple envs; it requires a single vectorized environment."
                )

            # Catch common mistake: using MlpPolicy/CnnPolicy instead of MultiInputPolicy
            if policy in ["MlpPolicy", "CnnPolicy"] and isinstance(self.observation_space, spaces.Dict):
                raise ValueError(f"You must use `MultiInputPolicy` when working with dict observation space, not {policy}")

            if self.use_sde and not isinstance(self.action_space, spaces.Box):
                raise ValueError("generalized State-Dependent Exploration (gSDE) can only be used with continuous actions.")

            if isinstance(self.action_space, spaces.Box) and not np.all(
                np.isfinite(np.array([self.action_space.low, self.action_space.high]))
            ):
                raise UsageError(
                    f"Continuous action space must have a finite lower and upper bound, got {self.action_space}. "
                    "Rescale the actions of your env to finite bounds (e.g. [-1, 1])."
                )

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        """
        Wrap a plain env as SB3 does: Monitor (episode statistics), then DummyVecEnv; image observations that are
        channels-last also get a VecTransposeImage.

        :param env: the environment
        :param verbose: print the wrappers added
        :param monitor_wrapper: add a Monitor when the env has none
        :return: the wrapped environment
        """
        if not isinstance(env, VecEnv):
            # Patch to support gym 0.21/0.26 and gymnasium
            env = _patch_env(env)
            if not is_wrapped(env, Monitor) and monitor_wrapper:
                if verbose >= 1:
                    print("Wrapping the env with a `Monitor` wrapper")
                env = Monitor(env)
            if verbose >= 1:
                print("Wrapping the env in a DummyVecEnv.")
            env = DummyVecEnv([lambda: env])  # type: ignore[list-item, return-value]

        # Make sure that dict-spaces are not nested (not supported)
        check_for_nested_spaces(env.observation_space)

        if not is_vecenv_wrapped(env, VecTransposeImage):
            wrap_with_vectranspose = False
            if isinstance(env.observation_space, spaces.Dict):
                # If even one of the keys is an image-space in need of transpose, apply transpose
                for space in env.observation_space.spaces.values():
                    wrap_with_vectranspose = wrap_with_vectranspose or (
                        is_image_space(space) and not is_image_space_channels_first(space)  # type: ignore[arg-type]
                    )
            else:
                wrap_with_vectranspose = is_image_space(env.observation_space) and not is_image_space_channels_first(
                    env.observation_space  # type: ignore[arg-type]
                )

            if wrap_with_vectranspose:
                if verbose >= 1:
                    print("Wrapping the env in a VecTransposeImage.")
                env = VecTransposeImage(env)

        return env

    @abstractmethod
    def _setup_model(self) -> None:
        """Create the networks, the buffer and the optimizers."""

    def set_logger(self, logger: Logger) -> None:
        """
        Use a custom logger; ``tensorboard_log`` and ``verbose`` then no longer choose the outputs.

        :param logger: the logger
        """
        self._logger = logger
        # User defined logger
        self._custom_logger = True

    @property
    def logger(self) -> Logger:
        """The logger of the algorithm."""
        return self._logger

    def _choose_auto_device(self, batch_size: int) -> bool:
        """
        Settle ``device="auto"`` on a machine with a GPU, once the policy is built: the GPU for convolutional policies
        and for training minibatches of at least ``AUTO_GPU_MIN_WORK`` (trainable parameters x batch size), else the
        CPU, where small networks run faster because they cost kernel launches and host round trips rather than
        arithmetic. The threshold comes from measurements of every algorithm on both devices (docs/performance.md).

        :param batch_size: the number of samples in one gradient step
        :return: whether the GPU pays off for this policy (whatever device was requested)
        """
        n_params = sum(value.size for _, value in utils.named_arrays(self.policy.trainable_parameters()))
        convolutional = any(isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) for module in self.policy.modules())
        gpu_pays_off = convolutional or n_params * batch_size >= AUTO_GPU_MIN_WORK
        if self._device_undecided:
            self._device_undecided = False
            if not gpu_pays_off:
                self.device = get_device("cpu")
            if self.verbose >= 1:
                print(f"Using {self.device.type} device")
        self.policy.device = self.device
        return gpu_pays_off

    def _setup_lr_schedule(self) -> None:
        """Turn the learning rate (a constant or a schedule) into a schedule."""
        self.lr_schedule = FloatSchedule(self.learning_rate)

    def _update_current_progress_remaining(self, num_timesteps: int, total_timesteps: int) -> None:
        """
        Compute the remaining progress (from 1 to 0) used by the schedules.

        :param num_timesteps: current number of timesteps
        :param total_timesteps: the training budget
        """
        self._current_progress_remaining = 1.0 - float(num_timesteps) / float(total_timesteps)

    def _update_learning_rate(self, optimizers: list[Any] | Any) -> None:
        """
        Set the optimizers' learning rate from the schedule (stored as an array in the optimizer state, so that the
        compiled update steps are not traced again) and log it.

        :param optimizers: an optimizer or a list of them
        """
        learning_rate = self.lr_schedule(self._current_progress_remaining)
        self.logger.record("train/learning_rate", learning_rate)
        if not isinstance(optimizers, list):
            optimizers = [optimizers]
        for optimizer in optimizers:
            update_learning_rate(optimizer, learning_rate)

    def _excluded_save_params(self) -> list[str]:
        """
        :return: names of the attributes that are not saved in the ``data`` of the zip file
        """
        return [
            "policy",
            "device",
            "env",
            "replay_buffer",
            "rollout_buffer",
            "_vec_normalize_env",
            "_episode_storage",
            "_logger",
            "_custom_logger",
            # Compiled update steps are rebuilt by _setup_model() on load.
            "_train_step",
            # The device is chosen again where the model is loaded.
            "_device_undecided",
        ]

    def _get_policy_from_name(self, policy_name: str) -> type[BasePolicy]:
        """
        :param policy_name: an alias such as ``"MlpPolicy"``
        :return: the policy class
        """
        if policy_name in self.policy_aliases:
            return self.policy_aliases[policy_name]
        raise ValueError(f"Policy {policy_name} unknown: use one of {sorted(self.policy_aliases)} or a policy class.")

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        """
        Names of the modules/optimizers saved as state dicts (``policy.pth``, ``policy.optimizer.pth``...) and of the
        other arrays saved in ``pytorch_variables.pth``.

        :return: the state-dict names and the variable names
        """
        return ["policy"], []

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool = False) -> BaseCallback:
        """
        :param callback: a callback, a list of them, a function ``(locals, globals) -> bool`` or None
        :param progress_bar: add a progress bar callback
        :return: one callback that calls all of them
        """
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, ProgressBarCallback()])
        callback.init_callback(self)
        return callback

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        """
        Prepare a call of ``learn``: counters, first reset, logger and callbacks.

        :param total_timesteps: the training budget
        :param callback: the callback(s)
        :param reset_num_timesteps: start counting from 0 (else continue)
        :param tb_log_name: name of the tensorboard run
        :param progress_bar: show a progress bar
        :return: the total number of timesteps to reach and the callback
        """
        self.start_time = time.time_ns()

        if self.ep_info_buffer is None or reset_num_timesteps:
            self.ep_info_buffer = deque(maxlen=self._stats_window_size)
            self.ep_success_buffer = deque(maxlen=self._stats_window_size)

        if self.action_noise is not None:
            self.action_noise.reset()

        if reset_num_timesteps:
            self.num_timesteps = 0
            self._episode_num = 0
        else:
            # Make sure training timesteps are ahead of the internal counter
            total_timesteps += self.num_timesteps
        self._total_timesteps = total_timesteps
        self._num_timesteps_at_start = self.num_timesteps

        # Avoid resetting the environment when calling ``.learn()`` consecutive times
        if reset_num_timesteps or self._last_obs is None:
            assert self.env is not None
            self._last_obs = self.env.reset()  # type: ignore[assignment]
            self._last_episode_starts = np.ones((self.env.num_envs,), dtype=bool)
            # Retrieve unnormalized observation for saving into the buffer
            if self._vec_normalize_env is not None:
                self._last_original_obs = self._vec_normalize_env.get_original_obs()

        # Configure logger's outputs if no logger was passed
        if not self._custom_logger:
            self._logger = utils.configure_logger(self.verbose, self.tensorboard_log, tb_log_name, reset_num_timesteps)

        callback = self._init_callback(callback, progress_bar)
        return total_timesteps, callback

    def _update_info_buffer(self, infos: list[dict[str, Any]], dones: np.ndarray | None = None) -> None:
        """
        Record the episode statistics (``episode`` from Monitor) and success flags found in the infos.

        :param infos: the infos of one step of every env
        :param dones: which envs ended an episode
        """
        assert self.ep_info_buffer is not None
        assert self.ep_success_buffer is not None
        if dones is None:
            dones = np.array([False] * len(infos))
        for idx, info in enumerate(infos):
            maybe_ep_info = info.get("episode")
            maybe_is_success = info.get("is_success")
            if maybe_ep_info is not None:
                self.ep_info_buffer.extend([maybe_ep_info])
            if maybe_is_success is not None and dones[idx]:
                self.ep_success_buffer.append(maybe_is_success)

    def get_env(self) -> VecEnv | None:
        """:return: the current environment (None when there is none)"""
        return self.env

    def get_vec_normalize_env(self) -> VecNormalize | None:
        """:return: the VecNormalize wrapper of the environment, if any"""
        return self._vec_normalize_env

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """
        Use a new environment, with the same spaces and number of envs as the current one.

        :param env: the environment
        :param force_reset: reset it before the next ``learn`` (pass False to continue an unfinished episode)
        """
        env = self._wrap_env(env, self.verbose)
        if env.num_envs != self.n_envs:
            raise UsageError(
                "The number of environments to be set is different from the number of environments in the model: "
                f"({env.num_envs} != {self.n_envs}), whereas `set_env` requires them to be the same. To load a model with "
                f"a different number of environments, you must use `{self.__class__.__name__}.load(path, env)` instead"
            )
        # Check that the observation spaces match
        check_for_correct_spaces(env, self.observation_space, self.action_space)
        # Update VecNormalize object, otherwise the wrong env may be used, see GH#1082
        self._vec_normalize_env = unwrap_vec_normalize(env)

        # Discard `_last_obs`, this will force the env to reset before training
        if force_reset:
            self._last_obs = None

        self.n_envs = env.num_envs
        self.env = env

    @abstractmethod
    def learn(
        self: SelfBaseAlgorithm,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 100,
        tb_log_name: str = "run",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfBaseAlgorithm:
        """
        Train the model.

        :param total_timesteps: the number of environment steps to train for (a lower bound)
        :param callback: callback(s) called at every step
        :param log_interval: log every n episodes (off-policy) or iterations (on-policy)
        :param tb_log_name: the name of the tensorboard run
        :param reset_num_timesteps: start counting from 0 (else continue the previous count and log run)
        :param progress_bar: show a progress bar (needs tqdm and rich)
        :return: the trained model
        """

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        The policy's action for an observation (and the next hidden state, for recurrent policies).

        :param observation: the observation (single or one per env)
        :param state: the last hidden state
        :param episode_start: which envs start a new episode
        :param deterministic: use the most likely action instead of sampling
        :return: the action and the next hidden state
        """
        return self.policy.predict(observation, state, episode_start, deterministic)

    def set_random_seed(self, seed: int | None = None) -> None:
        """
        Seed Python, NumPy and MLX, the action space and the environment.

        :param seed: the seed; None does nothing
        """
        if seed is None:
            return
        set_random_seed(seed)
        self.action_space.seed(seed)
        # self.env is always a VecEnv
        if self.env is not None:
            self.env.seed(seed)

    def _optimizer_parameters(self, name: str) -> Any:
        """
        The parameters that the optimizer saved under ``name`` updates, i.e. the tree its state mirrors: the module
        holding it (``policy.optimizer`` updates ``policy``), or, for an optimizer of bare arrays held by the algorithm
        (SAC's ``ent_coef_optimizer`` over ``log_ent_coef``), those arrays by attribute name.

        :param name: the optimizer's dotted name in ``_get_torch_save_params()``
        :return: a module or a dict of arrays
        """
        optimizer = recursive_getattr(self, name)
        parent, _, _ = name.rpartition(".")
        owner = recursive_getattr(self, parent) if parent else self
        if isinstance(owner, nn.Module):
            return owner
        # MLX keeps per-parameter state as dicts, scalars (step, learning rate) as arrays.
        return {key: recursive_getattr(owner, key) for key, value in optimizer.state.items() if isinstance(value, dict)}

    def get_parameters(self) -> dict[str, dict]:
        """
        The parameters of the agent's networks and the state of its optimizers, as SB3's (torch) state dicts: SB3's
        key names and torch's layouts, so that SB3 can load them and vice versa.

        :return: state dicts by object name (``"policy"``, ``"policy.optimizer"``...)
        """
        state_dicts_names, _ = self._get_torch_save_params()
        params = {}
        for name in state_dicts_names:
            attr = recursive_getattr(self, name)
            if isinstance(attr, optim.Optimizer):
                params[name] = optimizer_state_dict(attr, self._optimizer_parameters(name))
            else:
                params[name] = module_state_dict(attr)
        return params

    def set_parameters(
        self,
        load_path_or_dict: str | pathlib.Path | io.BufferedIOBase | dict[str, dict],
        exact_match: bool = True,
        device: "mx.Device | str" = "auto",
    ) -> None:
        """
        Load networks' parameters and optimizers' states in place, from a model file (SB3's or ours) or from a dict as
        returned by ``get_parameters``. Names are matched against what this algorithm saves
        (``_get_torch_save_params``) and, within a module, against the module's own parameter names.

        :param load_path_or_dict: the file (path or file object), or state dicts by object name
        :param exact_match: require a state dict for every object and every parameter of each module (else only the
            given ones are updated)
        :param device: kept for SB3 compatibility (MLX arrays live in unified memory)
        :raises LoadError: when names, shapes or optimizer states do not match this model
        """
        if isinstance(load_path_or_dict, dict):
            params, where = load_path_or_dict, "the given state dicts"
        else:
            contents = read_zip_file(load_path_or_dict, load_data=False)
            params, where = contents.params, contents.where
        expected = set(self._get_torch_save_params()[0])
        unknown = sorted(str(name) for name in set(params) - expected)
        if unknown or (exact_match and set(params) != expected):
            missing = sorted(expected - set(params)) if exact_match else []
            raise LoadError(
                f"Names of parameters do not match agents' parameters: expected {sorted(expected)}, got "
                f"{sorted(map(str, params))} (missing {[name + '.pth' for name in missing]}, unexpected {unknown}). "
                f"{where} is incomplete or was saved by another algorithm than {type(self).__name__}."
            )
        self._upgrade_saved_parameters(params)
        for name in params:
            # Only names this algorithm declares reach getattr: the file does not choose what is set.
            attr = recursive_getattr(self, name)
            try:
                if isinstance(attr, optim.Optimizer):
                    load_optimizer_state_dict(attr, params[name], self._optimizer_parameters(name))
                else:
                    load_module_state_dict(attr, params[name], exact_match=exact_match)
            except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                raise LoadError(f"{where}, '{name}': {e}") from e

    @classmethod
    def load(
        cls: type[SelfBaseAlgorithm],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: "mx.Device | str" = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        trusted: bool = False,
        **kwargs,
    ) -> SelfBaseAlgorithm:
        """
        Create a model from a file saved by ``save``, by this library or by Stable-Baselines3 (torch is not needed).
        It re-creates the model; use ``set_parameters`` to load weights into an existing one.

        Loading never runs code from the file (see ``docs/guide/security.md``): pickled entries are decoded and only
        known objects are built (spaces, numeric arrays, schedules...); only the attributes this algorithm saves are
        set, with their types checked. A saved schedule that is a function (a lambda, a closure) is skipped with a
        warning and rebuilt as a constant from the value in use. ``trusted=True`` unpickles everything, as SB3 does.

        :param path: the file (``.zip`` is added when the path does not exist) or a file object
        :param env: the environment to run the model on (checked against the saved spaces); None to only predict
        :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
        :param custom_objects: values replacing saved attributes of the same name, which are then not decoded (e.g.
            ``{"learning_rate": 0.0}`` for a schedule that cannot be loaded)
        :param print_system_info: print the system information of the current and of the saving machine
        :param force_reset: reset the env before the next ``learn`` (see SB3 issue #597)
        :param trusted: unpickle with Python's pickle (only for files from a trusted source: unpickling can then run
            arbitrary code)
        :param kwargs: attributes to set on the model after loading (e.g. ``learning_rate``)
        :return: the model
        :raises LoadError: when the file is corrupt, was saved by another algorithm, or holds what default loading
            refuses (the message names the member and the opt-in)
        """
        if print_system_info:
            print("== CURRENT SYSTEM INFO ==")
            get_system_info()

        get_device(device)
        contents = read_zip_file(path, print_system_info=print_system_info, trusted=trusted)
        where = contents.where
        if contents.json_data is None:
            raise LoadError(f"{where} has no 'data' member: it is not a model saved with save() (by SB3 or mlx_baselines3).")
        saved = contents.json_data

        def decode(keys: Iterable[str], skippable: Iterable[str] = ()) -> tuple[dict[str, Any], list[str]]:
            return decode_data_entries(saved, where, custom_objects, trusted, skippable=skippable, keys=keys)

        head, _ = decode(["policy_class", "observation_space", "action_space", "policy_kwargs", "verbose"])
        if "observation_space" not in head or "action_space" not in head:
            raise _MissingSpacesError(
                f"{where}: The observation_space and action_space were not given, can't verify new environments"
            )
        policy_class = _check_loaded_class(head.get("policy_class"), cls, where)
        for name in ("observation_space", "action_space"):
            if not isinstance(head[name], spaces.Space):
                raise LoadError(f"{where}: the saved {name} is not a gymnasium space ({type(head[name]).__name__})")
        policy_kwargs = head.get("policy_kwargs")
        if policy_kwargs is not None:
            policy_kwargs = check_keyword_arguments(policy_kwargs, f"{where}: the saved policy_kwargs")
            policy_kwargs.pop("device", None)
            # SB3 < 1.8 wrapped net_arch in a list: net_arch=[dict(pi=..., vf=...)].
            saved_net_arch = policy_kwargs.get("net_arch")
            if saved_net_arch and isinstance(saved_net_arch, list) and isinstance(saved_net_arch[0], dict):
                policy_kwargs["net_arch"] = saved_net_arch[0]
        if "policy_kwargs" in kwargs and kwargs["policy_kwargs"] != policy_kwargs:
            raise ValueError(
                f"The specified policy kwargs do not equal the stored policy kwargs. "
                f"Stored kwargs: {policy_kwargs}, specified kwargs: {kwargs['policy_kwargs']}"
            )

        if env is not None:
            verbose = head.get("verbose", 0)
            env = cls._wrap_env(env, verbose if isinstance(verbose, int) else 0)
            try:
                check_for_correct_spaces(env, head["observation_space"], head["action_space"])
            except ValueError as e:
                raise ValueError(
                    f"The env given to {cls.__name__}.load does not match the saved model: {e}. Pass an env with the "
                    "spaces the model was trained on."
                ) from e

        model = cls(  # type: ignore[call-arg]
            policy=policy_class,
            env=env,
            device=device,
            _init_setup_model=False,
        )
        # Only the attributes this algorithm has and saves are read from the file; the others (recomputed by
        # _setup_model, such as lr_schedule, or unknown) are not even decoded.
        state_dict_names, variable_names = model._get_torch_save_params()
        excluded = set(model._excluded_save_params()) | {name.split(".")[0] for name in state_dict_names + variable_names}
        # With env=None, __init__ leaves out what the env gives: the spaces and the number of envs.
        attributes = [key for key in [*vars(model), "observation_space", "action_space", "n_envs"] if key not in excluded]
        data, skipped = decode(attributes, skippable=model._schedule_attributes())
        data.update(head)
        data.pop("policy_class", None)
        if "policy_kwargs" in head:
            # As __init__ does, None means no keyword arguments.
            data["policy_kwargs"] = policy_kwargs if policy_kwargs is not None else {}
        _check_saved_by(model, saved, where)
        _check_saved_values(model, data, where)
        if env is not None:
            if force_reset:
                data["_last_obs"] = None
            data["n_envs"] = env.num_envs
        _check_buffer_memory(model, data, kwargs, where)
        # A skipped entry that the caller passes again as a keyword argument (the RL Zoo's `-i`) needs no warning.
        skipped = [key for key in skipped if key not in kwargs]
        replacement = model._replace_skipped_schedules(data, skipped, contents.params)
        warn_skipped(where, skipped, replacement)
        model.__dict__.update(data)
        model.__dict__.update(kwargs)
        try:
            model._setup_model()
            model.set_parameters(contents.params, exact_match=True, device=device)
            model._load_pytorch_variables(contents.pytorch_variables or {}, where)
            # Sample the gSDE exploration matrix.
            if model.use_sde:
                model.policy.reset_noise()  # type: ignore[operator]
        except LoadError as e:
            raise LoadError(f"{where}: {e}" if where not in str(e) else str(e)) from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, RuntimeError, AssertionError) as e:
            # The checks above keep what the file sets within the kinds of values the algorithm declares; whatever
            # combination of them still fails to make a model is a file this class cannot load.
            raise LoadError(
                f"{where}: the saved attributes do not make a working {cls.__name__}: {type(e).__name__}: "
                f"{shorten(str(e), 300)}"
            ) from e
        return model

    @classmethod
    def _schedule_attributes(cls) -> set[str]:
        """
        :return: the attributes whose saved value may be a function (schedules): SB3's, and every ``__init__``
            parameter annotated as a ``Schedule``. Default loading skips those it cannot make instead of refusing.
        """
        names = set(SCHEDULE_ATTRIBUTES)
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            annotation = parameter.annotation
            if "Schedule" in str(annotation) or Schedule in typing.get_args(annotation):
                names.add(name)
        return names

    def _replace_skipped_schedules(self, data: dict[str, Any], skipped: list[str], params: dict[str, Any]) -> str:
        """
        Rebuild the schedules that default loading skipped as constants, from the value in use: the learning rate
        stored in the saved optimizer state (what the last update used), else the class default.

        :param data: the decoded attributes, completed in place
        :param skipped: the skipped attributes
        :param params: the saved state dicts
        :return: what was used, for the warning
        """
        used = []
        defaults = inspect.signature(type(self).__init__).parameters
        for name in skipped:
            value: Any = None
            if name == "learning_rate":
                value = _saved_learning_rate(params)
                source = "the saved optimizer state"
            if value is None and name in defaults and defaults[name].default is not inspect.Parameter.empty:
                value, source = defaults[name].default, f"{type(self).__name__}'s default"
            if value is None and name != "clip_range_vf":
                continue  # recomputed by _setup_model (lr_schedule, exploration_schedule)
            data[name] = value
            used.append(f"{name}={value!r} ({source})")
        return f"Used {', '.join(used)} instead. " if used else ""

    def _upgrade_saved_parameters(self, params: dict[str, Any]) -> None:
        """
        Adapt state dicts saved by older versions of SB3 before they are loaded (an algorithm overrides it for its own
        format changes).

        :param params: the saved state dicts, changed in place
        """
        del params  # nothing to adapt by default

    def _load_pytorch_variables(self, variables: dict[str, Any], where: str) -> None:
        """
        Put the saved ``pytorch_variables`` into the arrays the algorithm declares (``_get_torch_save_params``), in
        place (as SB3 assigns ``.data``: an optimizer state or compiled step holding the array sees the new values).

        :param variables: the saved arrays by name
        :param where: names the file in error messages
        :raises LoadError: for a name the algorithm does not declare, or an array of another shape
        """
        declared = set(self._get_torch_save_params()[1])
        for name, value in variables.items():
            # None: an optional variable that this model does not use (e.g. SAC's log_ent_coef with a fixed ent_coef).
            if value is None:
                continue
            if name not in declared:
                raise LoadError(
                    f"{where}, member 'pytorch_variables.pth': '{shorten(name, 60)}' is not a variable that "
                    f"{type(self).__name__} saves (it saves {sorted(declared)})"
                )
            current = recursive_getattr(self, name, None)
            if not isinstance(value, mx.array) or not isinstance(current, mx.array) or current.shape != value.shape:
                shape = tuple(value.shape) if isinstance(value, mx.array) else type(value).__name__
                raise LoadError(
                    f"{where}, member 'pytorch_variables.pth': '{name}' holds {shape}, the model's has "
                    f"{tuple(current.shape) if isinstance(current, mx.array) else type(current).__name__}"
                )
            current[...] = value.astype(current.dtype)

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """
        Save the model in Stable-Baselines3's zip format (SB3 loads it too): the attributes in ``data`` and the
        networks' and optimizers' state dicts in torch's format. The file is replaced atomically.

        :param path: the file (``.zip`` is added when it has no suffix) or a writable file object
        :param exclude: attributes not to save, besides the default ones (env, buffers, logger...)
        :param include: attributes to save even though they are excluded by default
        """
        data = self.__dict__.copy()
        excluded = set(exclude or []).union(self._excluded_save_params())
        if include is not None:
            excluded = excluded.difference(include)
        state_dicts_names, torch_variable_names = self._get_torch_save_params()
        # Objects saved as state dicts are not also pickled into data.
        excluded.update(name.split(".")[0] for name in state_dicts_names + torch_variable_names)
        for name in excluded:
            data.pop(name, None)
        pytorch_variables = {name: recursive_getattr(self, name) for name in torch_variable_names}
        save_to_zip_file(path, data=data, params=self.get_parameters(), pytorch_variables=pytorch_variables)

    def dump_logs(self) -> None:
        """Write the logs (implemented by the on- and off-policy base classes)."""
        raise NotImplementedError()

    def _dump_logs(self, *args) -> None:
        warnings.warn("algo._dump_logs() is deprecated in favor of algo.dump_logs(). It will be removed in SB3 v2.7.0")
        self.dump_logs(*args)


# Hyperparameters that tell the algorithms apart (TD3 and DDPG share theirs): a file holding one that the loading
# class lacks, or lacking one it has, was saved by another algorithm.
_ALGORITHM_MARKERS = {
    "clip_range": "PPO",
    "n_epochs": "PPO",
    "gae_lambda": "A2C or PPO",
    "vf_coef": "A2C or PPO",
    "buffer_size": "an off-policy algorithm (DQN, SAC, TD3, DDPG)",
    "exploration_fraction": "DQN",
    "exploration_initial_eps": "DQN",
    "target_entropy": "SAC",
    "policy_delay": "TD3 or DDPG",
    "target_policy_noise": "TD3 or DDPG",
}


run_on_model_device(BaseAlgorithm, _DEVICE_METHODS)


def _check_saved_by(model: BaseAlgorithm, data: dict[str, Any], path: Any) -> None:
    extra = [key for key in _ALGORITHM_MARKERS if key in data and key not in model.__dict__]
    missing = [key for key in _ALGORITHM_MARKERS if key not in data and key in model.__dict__]
    if extra or missing:
        name = type(model).__name__
        saved_by = next((_ALGORITHM_MARKERS[key] for key in extra), "another algorithm")
        raise LoadError(
            f"{name}.load: {path} was saved by {saved_by}, not {name}: it has the hyperparameters {extra} that {name} "
            f"does not use and lacks {missing} that it needs. Load it with the class that saved it."
        )


class _MissingSpacesError(LoadError, KeyError):
    """A model file without its spaces: SB3 raises KeyError, our loaders LoadError; this is both."""

    def __str__(self) -> str:
        return str(self.args[0])


def _check_loaded_class(value: Any, cls: type, where: str) -> type[BasePolicy]:
    # The saved policy class: one of this library's policies (the builder only makes classes it knows).
    if not (isinstance(value, type) and issubclass(value, BasePolicy)):
        raise LoadError(
            f"{where}: the saved policy_class is {type(value).__name__ if not isinstance(value, type) else value.__name__}, "
            f"not a policy class of {cls.__name__}. Pass custom_objects={{'policy_class': ...}}."
        )
    return value


def _check_saved_values(model: BaseAlgorithm, data: dict[str, Any], where: str) -> None:
    # Saved values must have the kind of the attribute they replace: a bool stays a bool, a number a number (or a
    # schedule / TrainFreq, which SB3 stores in place of a number), no integer beyond int64.
    n_envs = data.get("n_envs")
    if not isinstance(n_envs, int) or isinstance(n_envs, bool) or not 1 <= n_envs <= 1 << 16:
        raise LoadError(f"{where}: the saved n_envs is {shorten(n_envs)}, not a number of environments")
    annotations = _init_annotations(type(model))
    for key, value in data.items():
        current = model.__dict__.get(key)
        if key in annotations and not _matches_annotation(value, annotations[key]):
            ok = False
        elif isinstance(current, bool):
            ok = isinstance(value, (bool, np.bool_))
        elif isinstance(current, int):
            integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            ok = (integer and abs(int(value)) < 2**63) or callable(value) or isinstance(value, tuple)
        elif isinstance(current, float):
            number = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
            ok = (number and math.isfinite(value) and abs(value) < 2**63) or callable(value) or isinstance(value, tuple)
        else:
            ok = not (isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63)
        if not ok:
            raise LoadError(
                f"{where}: the saved {shorten(key, 60)} is {shorten(value)}, which does not fit "
                f"{type(model).__name__}'s {type(current).__name__} attribute. Pass {key}=... to load() to replace it."
            )


def _init_annotations(cls: type) -> dict[str, Any]:
    # The types the constructor declares for its parameters (what a saved attribute of that name must be).
    try:
        return typing.get_type_hints(getattr(cls, "__init__"))  # noqa: B009 (the class's, not an instance's)
    except Exception:
        # Unresolvable forward references: check nothing by annotation.
        return {}


def _matches_annotation(value: Any, annotation: Any) -> bool:
    # Whether a saved value fits a parameter's annotation; unknown annotation forms accept anything.
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or isinstance(annotation, typing.TypeVar):
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches_annotation(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if annotation is bool:
        return isinstance(value, (bool, np.bool_))
    if annotation is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if annotation is float:
        return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    if annotation is str:
        return isinstance(value, str)
    if origin is type:
        target = args[0] if args else Any
        if not isinstance(value, type):
            return False
        return not isinstance(target, type) or issubclass(value, target)
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        return callable(value)
    if origin in (dict, list, tuple):
        return isinstance(value, origin)
    if annotation in (dict, list, tuple):
        return isinstance(value, annotation)
    if isinstance(annotation, type) and origin is None:
        return isinstance(value, annotation)
    return True


def _space_bytes(space: spaces.Space) -> int:
    if isinstance(space, spaces.Dict):
        return sum(_space_bytes(child) for child in space.spaces.values())
    if isinstance(space, spaces.Tuple):
        return sum(_space_bytes(child) for child in space.spaces)
    return int(np.prod(space.shape or (1,))) * (space.dtype.itemsize if space.dtype is not None else 8)


def _check_buffer_memory(model: BaseAlgorithm, data: dict[str, Any], kwargs: dict[str, Any], where: str) -> None:
    # A saved buffer_size (or n_steps) sizes the buffer that _setup_model allocates: refuse one that cannot fit in
    # this machine's memory before allocating it (the file's author picks it; a keyword argument to load() overrides).
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    step = 2 * _space_bytes(data["observation_space"]) + _space_bytes(data["action_space"]) + 16
    n_envs = data.get("n_envs", 1)
    for key, per_unit in (("buffer_size", step), ("n_steps", step * n_envs)):
        size = data.get(key)
        if key in kwargs or not isinstance(size, int) or isinstance(size, bool):
            continue
        if size < 0 or size * per_unit > memory:
            raise LoadError(
                f"{where}: the saved {key}={size} needs {size * per_unit / 2**30:.1f} GiB of buffer, more than this "
                f"machine's {memory / 2**30:.1f} GiB. Pass {type(model).__name__}.load(..., {key}=<smaller>) to replace it."
            )


def _saved_learning_rate(params: dict[str, Any]) -> float | None:
    # The learning rate of the last update, as the saved optimizer state holds it.
    for name, state in params.items():
        if not name.endswith("optimizer") or not isinstance(state, dict):
            continue
        groups = state.get("param_groups")
        if isinstance(groups, list) and groups and isinstance(groups[0], dict):
            lr = groups[0].get("lr")
            if isinstance(lr, float) and math.isfinite(lr) and lr >= 0:
                return lr
    return None
