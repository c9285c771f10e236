"""
Callbacks: hooks called by ``model.learn()`` at the start and end of training, around each rollout, and after every
call to ``env.step()``. They can inspect the algorithm's local variables, log, save checkpoints, evaluate the agent,
show a progress bar, and stop training early by returning False from ``on_step``.

Names, arguments, file names and printed messages are those of Stable-Baselines3 2.9.2.
"""

import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.logger import Logger
from mlx_baselines3.common.vec_env import DummyVecEnv, VecEnv, sync_envs_normalization

if TYPE_CHECKING:
    from mlx_baselines3.common import base_class


class BaseCallback(ABC):
    """
    Base class of all callbacks. Subclasses implement :meth:`_on_step` and, when needed, the other ``_on_*`` hooks.

    The algorithm calls, in order: :meth:`init_callback` (once, from ``learn``), :meth:`on_training_start`, then
    for each rollout :meth:`on_rollout_start`, :meth:`update_locals` and :meth:`on_step` after every
    ``env.step()``, :meth:`on_rollout_end`; finally :meth:`on_training_end`.

    :param verbose: 0 prints nothing, 1 prints information, 2 also prints debug messages
    """

    # Set by init_callback; a string annotation because base_class imports this module.
    model: "base_class.BaseAlgorithm"

    def __init__(self, verbose: int = 0):
        super().__init__()
        # How many times on_step was called.
        self.n_calls = 0
        # The model's timestep count (n_envs per env.step() call), refreshed before each hook.
        self.num_timesteps = 0
        self.verbose = verbose
        self.locals: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}
        # The callback that owns this one (an EventCallback such as EvalCallback), when there is one.
        self.parent: BaseCallback | None = None

    @property
    def training_env(self) -> VecEnv:
        """
        :return: the model's training environment
        """
        training_env = self.model.get_env()
        assert training_env is not None, (
            "`model.get_env()` returned None, you must initialize the model with an environment to use callbacks"
        )
        return training_env

    @property
    def logger(self) -> Logger:
        """
        :return: the model's logger, to record values from the callback
        """
        return self.model.logger

    def init_callback(self, model: "base_class.BaseAlgorithm") -> None:
        """
        Attach the callback to the model it will follow, then run :meth:`_init_callback`.

        :param model: the algorithm being trained
        """
        self.model = model
        self._init_callback()

    def _init_callback(self) -> None:  # noqa: B027 (optional hook, empty by default)
        """
        Optional hook run at the end of :meth:`init_callback`, once ``self.model`` is set.
        """

    def on_training_start(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        """
        Called once when ``learn`` starts.

        :param locals_: the local variables of ``learn`` (kept by reference, so later updates are seen)
        :param globals_: the global variables of the algorithm's module
        """
        self.locals = locals_
        self.globals = globals_
        # The model may already have trained in an earlier learn() call.
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def _on_training_start(self) -> None:  # noqa: B027 (optional hook, empty by default)
        """
        Optional hook run by :meth:`on_training_start`.
        """

    def on_rollout_start(self) -> None:
        """
        Called before each rollout (collection of new experience).
        """
        self._on_rollout_start()

    def _on_rollout_start(self) -> None:  # noqa: B027 (optional hook, empty by default)
        """
        Optional hook run by :meth:`on_rollout_start`.
        """

    @abstractmethod
    def _on_step(self) -> bool:
        """
        The callback's work at each step.

        :return: False to stop training
        """
        return True

    def on_step(self) -> bool:
        """
        Called by the model after each ``env.step()``; for the child of an :class:`EventCallback`, called each time
        the event fires instead.

        :return: False to stop training. Anything truthy or falsy is accepted from :meth:`_on_step`
            (a NumPy or MLX boolean array of one element, for example) and converted to ``bool``.
        """
        self.n_calls += 1
        self.num_timesteps = self.model.num_timesteps
        return bool(self._on_step())

    def on_training_end(self) -> None:
        """
        Called once when ``learn`` returns (also after an early stop).
        """
        self._on_training_end()

    def _on_training_end(self) -> None:  # noqa: B027 (optional hook, empty by default)
        """
        Optional hook run by :meth:`on_training_end`.
        """

    def on_rollout_end(self) -> None:
        """
        Called after each rollout, before the policy update.
        """
        self._on_rollout_end()

    def _on_rollout_end(self) -> None:  # noqa: B027 (optional hook, empty by default)
        """
        Optional hook run by :meth:`on_rollout_end`.
        """

    def update_locals(self, locals_: dict[str, Any]) -> None:
        """
        Refresh :attr:`locals` with the variables of the current step (``new_obs``, ``rewards``, ``dones``,
        ``infos``…), here and in child callbacks.

        :param locals_: the local variables of the rollout loop
        """
        self.locals.update(locals_)
        self.update_child_locals(locals_)

    def update_child_locals(self, locals_: dict[str, Any]) -> None:  # noqa: B027 (no children here)
        """
        Pass the step's local variables on to child callbacks (none here).

        :param locals_: the local variables of the rollout loop
        """


class EventCallback(BaseCallback):
    """
    A callback that runs a child callback when some event happens (the event is defined by subclasses).

    :param callback: the callback to run on the event; its :attr:`parent` becomes this callback
    :param verbose: 0 prints nothing, 1 prints information, 2 also prints debug messages
    """

    def __init__(self, callback: BaseCallback | None = None, verbose: int = 0):
        super().__init__(verbose=verbose)
        self.callback = callback
        if callback is not None:
            callback.parent = self

    def init_callback(self, model: "base_class.BaseAlgorithm") -> None:
        super().init_callback(model)
        if self.callback is not None:
            self.callback.init_callback(self.model)

    def _on_training_start(self) -> None:
        if self.callback is not None:
            self.callback.on_training_start(self.locals, self.globals)

    def _on_event(self) -> bool:
        if self.callback is not None:
            return self.callback.on_step()
        return True

    def _on_step(self) -> bool:
        return True

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """
        Pass the step's local variables on to the child callback.

        :param locals_: the local variables of the rollout loop
        """
        if self.callback is not None:
            self.callback.update_locals(locals_)


class CallbackList(BaseCallback):
    """
    Run several callbacks, in order, at every hook. Training stops when any of them returns False
    (all of them still run for that step).

    :param callbacks: the callbacks
    """

    def __init__(self, callbacks: list[BaseCallback]):
        super().__init__()
        if not isinstance(callbacks, list):
            raise TypeError(f"CallbackList expects a list of callbacks, got {type(callbacks).__name__}: wrap it in [...].")
        self.callbacks = callbacks

    def _init_callback(self) -> None:
        for callback in self.callbacks:
            callback.init_callback(self.model)
            # Children see the list's parent (an EvalCallback, say) as their own, as if the list were not there.
            callback.parent = self.parent

    def _on_training_start(self) -> None:
        for callback in self.callbacks:
            callback.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_start()

    def _on_step(self) -> bool:
        results = [callback.on_step() for callback in self.callbacks]
        return all(results)

    def _on_rollout_end(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_end()

    def _on_training_end(self) -> None:
        for callback in self.callbacks:
            callback.on_training_end()

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """
        Pass the step's local variables on to every callback of the list.

        :param locals_: the local variables of the rollout loop
        """
        for callback in self.callbacks:
            callback.update_locals(locals_)


class CheckpointCallback(BaseCallback):
    """
    Save the model every ``save_freq`` calls (``env.step()`` calls), as ``{name_prefix}_{num_timesteps}_steps.zip``;
    optionally also the replay buffer (``{name_prefix}_replay_buffer_{num_timesteps}_steps.pkl``, off-policy
    algorithms) and the ``VecNormalize`` statistics (``{name_prefix}_vecnormalize_{num_timesteps}_steps.pkl``).

    With ``n_envs`` environments each call is ``n_envs`` timesteps: use ``save_freq = max(save_freq // n_envs, 1)``
    to save every ``save_freq`` timesteps.

    :param save_freq: save every this many calls
    :param save_path: the folder for the files (created if needed)
    :param name_prefix: the start of the file names
    :param save_replay_buffer: also save the replay buffer, when the model has one
    :param save_vecnormalize: also save the ``VecNormalize`` statistics, when the training env has them
    :param verbose: 2 prints the path of each file saved
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str,
        name_prefix: str = "rl_model",
        save_replay_buffer: bool = False,
        save_vecnormalize: bool = False,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        self.save_freq = save_freq
        self.save_path = save_path
        self.name_prefix = name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.save_vecnormalize = save_vecnormalize

    def _init_callback(self) -> None:
        if self.save_path is not None:
            os.makedirs(self.save_path, exist_ok=True)

    def _checkpoint_path(self, checkpoint_type: str = "", extension: str = "") -> str:
        """
        :param checkpoint_type: ``""`` for the model, ``"replay_buffer_"`` or ``"vecnormalize_"``
        :param extension: ``"zip"`` for the model, ``"pkl"`` for the others
        :return: the file path for the current timestep
        """
        return os.path.join(self.save_path, f"{self.name_prefix}_{checkpoint_type}{self.num_timesteps}_steps.{extension}")

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq != 0:
            return True

        model_path = self._checkpoint_path(extension="zip")
        self.model.save(model_path)
        if self.verbose >= 2:
            print(f"Saving model checkpoint to {model_path}")

        if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
            replay_buffer_path = self._checkpoint_path("replay_buffer_", extension="pkl")
            self.model.save_replay_buffer(replay_buffer_path)  # type: ignore[attr-defined]
            if self.verbose >= 2:
                print(f"Saving model replay buffer checkpoint to {replay_buffer_path}")

        vec_normalize_env = self.model.get_vec_normalize_env()
        if self.save_vecnormalize and vec_normalize_env is not None:
            vec_normalize_path = self._checkpoint_path("vecnormalize_", extension="pkl")
            vec_normalize_env.save(vec_normalize_path)
            if self.verbose >= 2:
                print(f"Saving model VecNormalize to {vec_normalize_path}")
        return True


class ConvertCallback(BaseCallback):
    """
    Turn a function ``callback(locals, globals) -> bool`` (the old functional style) into a callback object.

    :param callback: the function, called at every step; returning False stops training. None does nothing.
    :param verbose: 0 prints nothing, 1 prints information, 2 also prints debug messages
    """

    def __init__(self, callback: Callable[[dict[str, Any], dict[str, Any]], bool] | None, verbose: int = 0):
        super().__init__(verbose)
        self.callback = callback

    def _on_step(self) -> bool:
        if self.callback is None:
            return True
        return self.callback(self.locals, self.globals)


class EvalCallback(EventCallback):
    """
    Evaluate the agent every ``eval_freq`` calls on a separate environment; log the results (``eval/mean_reward``,
    ``eval/mean_ep_length``, ``eval/success_rate`` when the env reports ``info["is_success"]``), keep them in
    ``evaluations.npz``, save the best model as ``best_model.zip``, and run callbacks on a new best model and after
    every evaluation (they can stop training).

    Wrap ``eval_env`` like the training env (``Monitor``, ``VecNormalize``…): the ``VecNormalize`` statistics of the
    training env are copied to the eval env before each evaluation. With ``n_envs`` training environments, use
    ``eval_freq = max(eval_freq // n_envs, 1)`` to evaluate every ``eval_freq`` timesteps.

    :param eval_env: the evaluation environment (a Gymnasium env is wrapped in a ``DummyVecEnv``)
    :param callback_on_new_best: run when the mean reward beats the best so far
        (for example :class:`StopTrainingOnRewardThreshold`)
    :param callback_after_eval: run after every evaluation (for example :class:`StopTrainingOnNoModelImprovement`)
    :param n_eval_episodes: episodes per evaluation
    :param eval_freq: evaluate every this many calls; 0 or less never evaluates
    :param log_path: folder for ``evaluations.npz`` (arrays ``timesteps`` (n_evals,), ``results`` and ``ep_lengths``
        (n_evals, n_eval_episodes), and ``successes`` when the env reports success), rewritten after each evaluation
    :param best_model_save_path: folder for ``best_model.zip``
    :param deterministic: evaluate with deterministic actions
    :param render: render the eval env during evaluation
    :param verbose: 1 prints the results of each evaluation
    :param warn: passed to ``evaluate_policy``: warn when the eval env is not wrapped in a ``Monitor``
    """

    def __init__(
        self,
        eval_env: gym.Env | VecEnv,
        callback_on_new_best: BaseCallback | None = None,
        callback_after_eval: BaseCallback | None = None,
        n_eval_episodes: int = 5,
        eval_freq: int = 10000,
        log_path: str | None = None,
        best_model_save_path: str | None = None,
        deterministic: bool = True,
        render: bool = False,
        verbose: int = 1,
        warn: bool = True,
    ):
        super().__init__(callback_after_eval, verbose=verbose)
        self.callback_on_new_best = callback_on_new_best
        if callback_on_new_best is not None:
            callback_on_new_best.parent = self

        self.n_eval_episodes = n_eval_episodes
        self.eval_freq = eval_freq
        self.best_mean_reward = -np.inf
        self.last_mean_reward = -np.inf
        self.deterministic = deterministic
        self.render = render
        self.warn = warn

        if not isinstance(eval_env, VecEnv):
            eval_env = DummyVecEnv([lambda: eval_env])  # type: ignore[list-item, return-value]
        self.eval_env = eval_env
        self.best_model_save_path = best_model_save_path
        # np.savez appends ".npz" to this path.
        self.log_path = os.path.join(log_path, "evaluations") if log_path is not None else None
        self.evaluations_results: list[list[float]] = []
        self.evaluations_timesteps: list[int] = []
        self.evaluations_length: list[list[int]] = []
        self._is_success_buffer: list[bool] = []
        self.evaluations_successes: list[list[bool]] = []

    def _init_callback(self) -> None:
        # Only compares the outer classes: different wrapper stacks with the same outer class go unnoticed.
        if not isinstance(self.training_env, type(self.eval_env)):
            warnings.warn(f"Training and eval env are not of the same type: {self.training_env} != {self.eval_env}")

        if self.best_model_save_path is not None:
            os.makedirs(self.best_model_save_path, exist_ok=True)
        if self.log_path is not None:
            os.makedirs(os.path.dirname(self.log_path), exist_ok=True)

        if self.callback_on_new_best is not None:
            self.callback_on_new_best.init_callback(self.model)

    def _log_success_callback(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        """
        Step hook given to ``evaluate_policy``: collect ``info["is_success"]`` at the end of each episode.

        :param locals_: the local variables of ``evaluate_policy`` (``info`` and ``done`` of one env)
        :param globals_: its global variables
        """
        if locals_["done"]:
            maybe_is_success = locals_["info"].get("is_success")
            if maybe_is_success is not None:
                self._is_success_buffer.append(maybe_is_success)

    def _evaluate(self) -> tuple[list[float], list[int]]:
        """
        Run the evaluation episodes (MaskableEvalCallback evaluates under action masks instead).

        :return: the return and the length of each episode
        """
        return evaluate_policy(  # type: ignore[return-value]
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_eval_episodes,
            render=self.render,
            deterministic=self.deterministic,
            return_episode_rewards=True,
            warn=self.warn,
            callback=self._log_success_callback,
        )

    def _on_step(self) -> bool:
        if self.eval_freq <= 0 or self.n_calls % self.eval_freq != 0:
            return True
        continue_training = True

        if self.model.get_vec_normalize_env() is not None:
            try:
                sync_envs_normalization(self.training_env, self.eval_env)
            except AttributeError as e:
                raise UsageError(
                    "Training and eval env are not wrapped the same way (see the warning above): wrap the eval env "
                    "with the same wrappers, VecNormalize included, as the training env."
                ) from e

        self._is_success_buffer = []
        episode_rewards, episode_lengths = self._evaluate()

        if self.log_path is not None:
            self.evaluations_timesteps.append(self.num_timesteps)
            self.evaluations_results.append(list(episode_rewards))  # type: ignore[arg-type]
            self.evaluations_length.append(list(episode_lengths))  # type: ignore[arg-type]
            extra = {}
            if self._is_success_buffer:
                self.evaluations_successes.append(self._is_success_buffer)
                extra["successes"] = self.evaluations_successes
            np.savez(
                self.log_path,
                timesteps=self.evaluations_timesteps,
                results=self.evaluations_results,
                ep_lengths=self.evaluations_length,
                **extra,  # type: ignore[arg-type]
            )

        mean_reward, std_reward = np.mean(episode_rewards), np.std(episode_rewards)
        mean_ep_length, std_ep_length = np.mean(episode_lengths), np.std(episode_lengths)
        self.last_mean_reward = float(mean_reward)

        if self.verbose >= 1:
            print(f"Eval num_timesteps={self.num_timesteps}, episode_reward={mean_reward:.2f} +/- {std_reward:.2f}")
            print(f"Episode length: {mean_ep_length:.2f} +/- {std_ep_length:.2f}")
        self.logger.record("eval/mean_reward", float(mean_reward))
        self.logger.record("eval/mean_ep_length", mean_ep_length)
        if self._is_success_buffer:
            success_rate = np.mean(self._is_success_buffer)
            if self.verbose >= 1:
                print(f"Success rate: {100 * success_rate:.2f}%")
            self.logger.record("eval/success_rate", success_rate)
        # Dump now so the evaluation appears in the logs at the timestep it was made.
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)

        if mean_reward > self.best_mean_reward:
            if self.verbose >= 1:
                print("New best mean reward!")
            if self.best_model_save_path is not None:
                self.model.save(os.path.join(self.best_model_save_path, "best_model"))
            self.best_mean_reward = float(mean_reward)
            if self.callback_on_new_best is not None:
                continue_training = self.callback_on_new_best.on_step()

        if self.callback is not None:
            continue_training = continue_training and self._on_event()
        return continue_training

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """
        Pass the step's local variables on to the ``callback_after_eval``.

        :param locals_: the local variables of the rollout loop
        """
        if self.callback:
            self.callback.update_locals(locals_)


class StopTrainingOnRewardThreshold(BaseCallback):
    """
    Stop training once the best mean evaluation reward reaches ``reward_threshold``.
    Use it as the ``callback_on_new_best`` of an :class:`EvalCallback`.

    :param reward_threshold: the mean episode reward at which to stop
    :param verbose: 1 prints a message when training stops
    """

    parent: EvalCallback

    def __init__(self, reward_threshold: float, verbose: int = 0):
        super().__init__(verbose=verbose)
        self.reward_threshold = reward_threshold

    def _on_step(self) -> bool:
        assert self.parent is not None, "``StopTrainingOnRewardThreshold`` callback must be used with an ``EvalCallback``"
        continue_training = bool(self.parent.best_mean_reward < self.reward_threshold)
        if self.verbose >= 1 and not continue_training:
            print(
                f"Stopping training because the mean reward {self.parent.best_mean_reward:.2f} "
                f"is above the threshold {self.reward_threshold}"
            )
        return continue_training


class EveryNTimesteps(EventCallback):
    """
    Run a callback each time at least ``n_steps`` timesteps have passed since it last ran.

    :param n_steps: timesteps between two runs
    :param callback: the callback to run
    """

    def __init__(self, n_steps: int, callback: BaseCallback):
        super().__init__(callback)
        self.n_steps = n_steps
        self.last_time_trigger = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last_time_trigger >= self.n_steps:
            self.last_time_trigger = self.num_timesteps
            return self._on_event()
        return True


class LogEveryNTimesteps(EveryNTimesteps):
    """
    Write the logs (``model.dump_logs()``) every ``n_steps`` timesteps, independently of the algorithm's
    ``log_interval``.

    :param n_steps: timesteps between two dumps
    """

    def __init__(self, n_steps: int):
        super().__init__(n_steps, callback=ConvertCallback(self._log_data))

    def _log_data(self, _locals: dict[str, Any], _globals: dict[str, Any]) -> bool:
        self.model.dump_logs()
        return True


class StopTrainingOnMaxEpisodes(BaseCallback):
    """
    Stop training after ``max_episodes`` episodes per environment (``max_episodes * n_envs`` in total).

    :param max_episodes: episodes per environment
    :param verbose: 1 prints a message when training stops
    """

    def __init__(self, max_episodes: int, verbose: int = 0):
        super().__init__(verbose=verbose)
        self.max_episodes = max_episodes
        self._total_max_episodes = max_episodes
        self.n_episodes = 0

    def _init_callback(self) -> None:
        self._total_max_episodes = self.max_episodes * self.training_env.num_envs

    def _on_step(self) -> bool:
        assert "dones" in self.locals, "`dones` variable is not defined, please check your code next to `callback.on_step()`"
        self.n_episodes += np.sum(self.locals["dones"]).item()
        continue_training = self.n_episodes < self._total_max_episodes

        if self.verbose >= 1 and not continue_training:
            n_envs = self.training_env.num_envs
            mean_ep_str = f"with an average of {self.n_episodes / n_envs:.2f} episodes per env" if n_envs > 1 else ""
            print(
                f"Stopping training with a total of {self.num_timesteps} steps because the "
                f"{self.locals.get('tb_log_name')} model reached max_episodes={self.max_episodes}, "
                f"by playing for {self.n_episodes} episodes "
                f"{mean_ep_str}"
            )
        return continue_training


class StopTrainingOnNoModelImprovement(BaseCallback):
    """
    Stop training when the best mean evaluation reward has not improved for more than ``max_no_improvement_evals``
    evaluations in a row, counting only after the first ``min_evals`` evaluations.
    Use it as the ``callback_after_eval`` of an :class:`EvalCallback`.

    :param max_no_improvement_evals: evaluations in a row without a new best that are tolerated
    :param min_evals: evaluations to run before counting
    :param verbose: 1 prints a message when training stops
    """

    parent: EvalCallback

    def __init__(self, max_no_improvement_evals: int, min_evals: int = 0, verbose: int = 0):
        super().__init__(verbose=verbose)
        self.max_no_improvement_evals = max_no_improvement_evals
        self.min_evals = min_evals
        self.last_best_mean_reward = -np.inf
        self.no_improvement_evals = 0

    def _on_step(self) -> bool:
        assert self.parent is not None, "``StopTrainingOnNoModelImprovement`` callback must be used with an ``EvalCallback``"
        continue_training = True
        if self.n_calls > self.min_evals:
            if self.parent.best_mean_reward > self.last_best_mean_reward:
                self.no_improvement_evals = 0
            else:
                self.no_improvement_evals += 1
                continue_training = self.no_improvement_evals <= self.max_no_improvement_evals
        self.last_best_mean_reward = self.parent.best_mean_reward

        if self.verbose >= 1 and not continue_training:
            print(
                f"Stopping training because there was no new best model in the last {self.no_improvement_evals:d} evaluations"
            )
        return continue_training


class ProgressBarCallback(BaseCallback):
    """
    Show a progress bar of the timesteps of this ``learn`` call, drawn with tqdm and rich
    (what ``learn(..., progress_bar=True)`` uses).

    :raises ImportError: when tqdm or rich is missing (``pip install "mlx-baselines3[extra]"`` installs them)
    """

    def __init__(self) -> None:
        super().__init__()
        # Looked up on the module, so that code replacing ``callbacks.tqdm`` (as done with SB3) is honoured.
        tqdm = globals()["tqdm"] if "tqdm" in globals() else __getattr__("tqdm")
        if tqdm is None:
            raise ImportError(
                "You must install tqdm and rich in order to use the progress bar callback. "
                'They are included in the extra packages: `pip install "mlx-baselines3[extra]"`'
            )
        self._tqdm = tqdm
        self.pbar: Any = None

    def _on_training_start(self) -> None:
        # Count only this learn() call: timesteps from earlier calls are already done.
        self.pbar = self._tqdm(total=self.locals["total_timesteps"] - self.model.num_timesteps)

    def _on_step(self) -> bool:
        # One env.step() call advances every environment by one timestep.
        self.pbar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.pbar.refresh()
        self.pbar.close()


def __getattr__(name: str) -> Any:
    """
    ``tqdm`` (tqdm's rich front end, or None without tqdm and rich) and ``TqdmExperimentalWarning``, which SB3's module
    exposes: resolved when asked for (not cached, so that an assignment to ``callbacks.tqdm`` wins and a blocked
    import is seen), because importing rich's progress bar costs about half a second.

    :param name: the attribute
    :return: its value
    """
    if name not in ("tqdm", "TqdmExperimentalWarning"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from tqdm import TqdmExperimentalWarning
        from tqdm.rich import tqdm
    except ImportError:
        tqdm = TqdmExperimentalWarning = None  # as SB3 without tqdm and rich: the progress bar raises when used
    else:
        # tqdm flags its rich front end as experimental on every bar; the warning is noise for users (SB3 hides it too).
        warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
    return tqdm if name == "tqdm" else TqdmExperimentalWarning
