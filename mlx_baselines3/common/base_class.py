"""Abstract base class of the RL algorithms: environment wrapping, the learn-loop plumbing, predict, logging."""

import time
import warnings
from abc import ABC, abstractmethod
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import gymnasium as gym
import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common import utils
from mlx_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from mlx_baselines3.common.env_util import is_wrapped
from mlx_baselines3.common.logger import Logger
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.preprocessing import check_for_nested_spaces, is_image_space, is_image_space_channels_first
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import FloatSchedule, check_for_correct_spaces, get_device, set_random_seed, update_learning_rate
from mlx_baselines3.common.vec_env import (
    DummyVecEnv,
    VecEnv,
    VecNormalize,
    VecTransposeImage,
    is_vecenv_wrapped,
    unwrap_vec_normalize,
)
from mlx_baselines3.common.vec_env.patch_gym import _patch_env

if TYPE_CHECKING:
    from mlx_baselines3.common.noise import ActionNoise

SelfBaseAlgorithm = TypeVar("SelfBaseAlgorithm", bound="BaseAlgorithm")


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

        self.device = get_device(device)
        mx.set_default_device(self.device)
        if verbose >= 1:
            print(f"Using {'cpu' if self.device == mx.cpu else 'gpu'} device")

        self.verbose = verbose
        self.policy_kwargs = {} if policy_kwargs is None else policy_kwargs
        self.num_timesteps = 0
        # Used for updating schedules
        self._total_timesteps = 0
        # Used for computing fps, it is updated at each call of learn()
        self._num_timesteps_at_start = 0
        self.seed = seed
        self.action_noise: "ActionNoise | None" = None
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
                raise ValueError(
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
                raise ValueError(
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
            raise ValueError(
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

    def dump_logs(self) -> None:
        """Write the logs (implemented by the on- and off-policy base classes)."""
        raise NotImplementedError()

    def _dump_logs(self, *args) -> None:
        warnings.warn("algo._dump_logs() is deprecated in favor of algo.dump_logs(). It will be removed in SB3 v2.7.0")
        self.dump_logs(*args)

