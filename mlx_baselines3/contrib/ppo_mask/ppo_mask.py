from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import RolloutBuffer
from mlx_baselines3.common.callbacks import BaseCallback
from mlx_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm as OnPolicyAlgorithm  # sb3-contrib's namespace
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import FloatSchedule as FloatSchedule
from mlx_baselines3.common.utils import explained_variance as explained_variance
from mlx_baselines3.common.utils import obs_as_tensor
from mlx_baselines3.common.vec_env import VecEnv
from mlx_baselines3.contrib.common.maskable.buffers import MaskableDictRolloutBuffer, MaskableRolloutBuffer
from mlx_baselines3.contrib.common.maskable.policies import MaskableActorCriticPolicy
from mlx_baselines3.contrib.common.maskable.utils import get_action_masks, is_masking_supported
from mlx_baselines3.contrib.ppo_mask.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from mlx_baselines3.ppo import PPO

SelfMaskablePPO = TypeVar("SelfMaskablePPO", bound="MaskablePPO")

_MASKABLE_ACTION_SPACES = (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


class MaskablePPO(PPO):
    """
    PPO with invalid-action masking (Huang & Ontañón, 2020, https://arxiv.org/abs/2006.14171), following
    sb3-contrib's ``MaskablePPO``: actions are sampled only among those the env's ``action_masks()`` allows (see
    ``ActionMasker``), and the update scores them under the same masks. Same update as ``PPO`` otherwise, compiled once.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate, constant or a schedule of the remaining progress (from 1 to 0)
    :param n_steps: steps per environment per update
    :param batch_size: minibatch size (None: the whole rollout)
    :param n_epochs: passes over the rollout per update
    :param gamma: discount factor
    :param gae_lambda: bias/variance trade-off of Generalized Advantage Estimation
    :param clip_range: clipping of the probability ratio, constant or a schedule
    :param clip_range_vf: clipping of the value function around the old values (None: no clipping)
    :param normalize_advantage: normalize the advantages per minibatch
    :param ent_coef: entropy coefficient of the loss
    :param vf_coef: value function coefficient of the loss
    :param max_grad_norm: maximum norm for gradient clipping
    :param rollout_buffer_class: rollout buffer class (None: chosen from the observation space)
    :param rollout_buffer_kwargs: keyword arguments for the rollout buffer
    :param target_kl: stop the epochs of an update early when the approximate KL divergence exceeds ``1.5 * target_kl``
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: MaskableActorCriticPolicy  # type: ignore[assignment]
    rollout_buffer: MaskableRolloutBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[MaskableActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int | None = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: "mx.Device | str" = "auto",
        _init_setup_model: bool = True,
    ):
        super().__init__(
            policy,  # type: ignore[arg-type]
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,  # type: ignore[arg-type]
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
        )
        if self.env is not None and not isinstance(self.action_space, _MASKABLE_ACTION_SPACES):
            raise ValueError(
                f"The algorithm only supports {_MASKABLE_ACTION_SPACES} as action spaces but {self.action_space} was provided"
            )
        # Whether the rollout being collected uses masks (learn(use_masking=...)); not saved.
        self._use_masking = True
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if self.rollout_buffer_class is None:
            is_dict = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = MaskableDictRolloutBuffer if is_dict else MaskableRolloutBuffer
        super()._setup_model()
        if not isinstance(self.policy, MaskableActorCriticPolicy):
            raise ValueError("Policy must subclass MaskableActorCriticPolicy")

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_use_masking"]

    def _evaluate_batch(self, batch: dict[str, Any]) -> tuple[mx.array, mx.array, mx.array | None]:
        actions = batch["actions"]
        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.reshape(-1)
        return self.policy.evaluate_actions(batch["observations"], actions, action_masks=batch["action_masks"])

    def _rollout_step(self, env: VecEnv) -> tuple[mx.array, mx.array, mx.array, dict[str, Any]]:
        action_masks = get_action_masks(env) if self._use_masking else None
        actions, values, log_probs = self.policy.act(obs_as_tensor(self._last_obs), action_masks)  # type: ignore[arg-type]
        mx.eval(actions, values, log_probs)
        return actions, values, log_probs, {"action_masks": action_masks}

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
        use_masking: bool | None = None,
    ) -> bool:
        """
        Run the current policy in the environment, choosing among the allowed actions, and fill the rollout buffer
        (with the masks).

        :param env: the training environment
        :param callback: called at every step
        :param rollout_buffer: the buffer to fill (a maskable one)
        :param n_rollout_steps: number of steps to collect per environment
        :param use_masking: ask the env for action masks at every step (None: as ``learn`` was told, True by default)
        :return: False when a callback asked to stop training
        """
        if use_masking is None:
            use_masking = self._use_masking
        if not isinstance(rollout_buffer, (MaskableRolloutBuffer, MaskableDictRolloutBuffer)):
            raise ValueError(f"RolloutBuffer doesn't support action masking: {type(rollout_buffer).__name__}")
        if use_masking and not is_masking_supported(env):
            raise ValueError("Environment does not support action masking. Consider using ActionMasker wrapper")
        self._use_masking = use_masking
        return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        The policy's action for an observation, chosen among the allowed actions.

        :param observation: the observation (single or one per env)
        :param state: unused (returned unchanged)
        :param episode_start: unused
        :param deterministic: use the most likely allowed action instead of sampling
        :param action_masks: True where an action is allowed (one row per observation), or None for no masking
        :return: the action and ``state``
        """
        return self.policy.predict(observation, state, episode_start, deterministic, action_masks=action_masks)

    def learn(  # type: ignore[override]
        self: SelfMaskablePPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "MaskablePPO",
        reset_num_timesteps: bool = True,
        use_masking: bool = True,
        progress_bar: bool = False,
    ) -> SelfMaskablePPO:
        """
        Train the model.

        :param total_timesteps: the number of environment steps to train for (a lower bound)
        :param callback: callback(s) called at every step
        :param log_interval: log every n iterations
        :param tb_log_name: the name of the tensorboard run
        :param reset_num_timesteps: start counting from 0 (else continue the previous count and log run)
        :param use_masking: use the env's action masks during training
        :param progress_bar: show a progress bar (needs tqdm and rich)
        :return: the trained model
        """
        self._use_masking = use_masking
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
