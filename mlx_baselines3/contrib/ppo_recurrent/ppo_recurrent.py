from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import RolloutBuffer as RolloutBuffer
from mlx_baselines3.common.callbacks import BaseCallback as BaseCallback
from mlx_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm as OnPolicyAlgorithm  # sb3-contrib's namespace
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.common.utils import FloatSchedule as FloatSchedule
from mlx_baselines3.common.utils import explained_variance as explained_variance
from mlx_baselines3.common.utils import obs_as_tensor
from mlx_baselines3.common.vec_env import VecEnv
from mlx_baselines3.contrib.common.recurrent.buffers import RecurrentDictRolloutBuffer, RecurrentRolloutBuffer
from mlx_baselines3.contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from mlx_baselines3.contrib.common.recurrent.type_aliases import RNNStates
from mlx_baselines3.contrib.ppo_recurrent.policies import CnnLstmPolicy, MlpLstmPolicy, MultiInputLstmPolicy
from mlx_baselines3.ppo import PPO

SelfRecurrentPPO = TypeVar("SelfRecurrentPPO", bound="RecurrentPPO")


class RecurrentPPO(PPO):
    """
    PPO with recurrent (LSTM) policies, for partially observable tasks, following sb3-contrib's ``RecurrentPPO``.

    The LSTM states of every rollout step are stored; the update replays the rollout as sequences (cut at episode
    starts, see ``RecurrentRolloutBuffer``) from the stored states, with PPO's clipped loss averaged over the real
    steps. One compiled update per minibatch, as ``PPO``.

    :param policy: the policy model to use (MlpLstmPolicy, CnnLstmPolicy, MultiInputLstmPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate, constant or a schedule of the remaining progress (from 1 to 0)
    :param n_steps: steps per environment per update
    :param batch_size: minibatch size, in steps (None: the whole rollout)
    :param n_epochs: passes over the rollout per update
    :param gamma: discount factor
    :param gae_lambda: bias/variance trade-off of Generalized Advantage Estimation
    :param clip_range: clipping of the probability ratio, constant or a schedule
    :param clip_range_vf: clipping of the value function around the old values (None: no clipping)
    :param normalize_advantage: normalize the advantages per minibatch
    :param ent_coef: entropy coefficient of the loss
    :param vf_coef: value function coefficient of the loss
    :param max_grad_norm: maximum norm for gradient clipping
    :param use_sde: use generalized State-Dependent Exploration instead of action noise
    :param sde_sample_freq: resample the gSDE noise every n steps (-1: only at the start of each rollout)
    :param target_kl: stop the epochs of an update early when the approximate KL divergence exceeds ``1.5 * target_kl``
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy (``lstm_hidden_size``, ``n_lstm_layers``, ``shared_lstm``,
        ``enable_critic_lstm``, ``lstm_kwargs``...)
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpLstmPolicy": MlpLstmPolicy,
        "CnnLstmPolicy": CnnLstmPolicy,
        "MultiInputLstmPolicy": MultiInputLstmPolicy,
    }
    policy: RecurrentActorCriticPolicy  # type: ignore[assignment]
    rollout_buffer: RecurrentRolloutBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[RecurrentActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 128,
        batch_size: int | None = 128,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
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
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
        )
        self._last_lstm_states: RNNStates | None = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        if not isinstance(self.policy, RecurrentActorCriticPolicy):
            raise ValueError("Policy must subclass RecurrentActorCriticPolicy")
        # The buffer's shape depends on the policy's LSTM, built after the base class made its (plain) buffer.
        lstm = self.policy.lstm_actor
        single_hidden_state_shape = (lstm.num_layers, self.n_envs, lstm.hidden_size)
        zeros = mx.zeros(single_hidden_state_shape)
        self._last_lstm_states = RNNStates((zeros, zeros), (zeros, zeros))
        buffer_cls = RecurrentDictRolloutBuffer if isinstance(self.observation_space, spaces.Dict) else RecurrentRolloutBuffer
        self.rollout_buffer = buffer_cls(
            self.n_steps,
            self.observation_space,
            self.action_space,
            (self.n_steps, lstm.num_layers, self.n_envs, lstm.hidden_size),
            self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
        )
        # As sb3-contrib: the recurrent buffer is not a setting (nothing to save or to load).
        self.rollout_buffer_class = None

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_last_lstm_states"]

    def _evaluate_batch(self, batch: dict[str, Any]) -> tuple[mx.array, mx.array, mx.array | None]:
        actions = batch["actions"]
        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.reshape(-1)
        # Inside the compiled update the states arrive as plain tuples: ((h_pi, c_pi), (h_vf, c_vf)).
        lstm_states = RNNStates(*batch["lstm_states"])
        return self.policy.evaluate_actions(batch["observations"], actions, lstm_states, batch["episode_starts"])

    def _rollout_step(self, env: VecEnv) -> tuple[mx.array, mx.array, mx.array, dict[str, Any]]:
        assert self._last_lstm_states is not None
        episode_starts = mx.array(np.asarray(self._last_episode_starts, dtype=np.float32))
        obs = obs_as_tensor(self._last_obs)  # type: ignore[arg-type]
        actions, values, log_probs, lstm_states = self.policy.act(obs, self._last_lstm_states, episode_starts)
        mx.eval(actions, values, log_probs, lstm_states)
        # The buffer keeps the states each step started from; the next step starts from the new ones.
        buffer_kwargs = {"lstm_states": self._last_lstm_states}
        self._last_lstm_states = lstm_states
        return actions, values, log_probs, buffer_kwargs

    def _terminal_value(self, env_index: int, terminal_observation: Any) -> float:
        assert self._last_lstm_states is not None
        terminal_obs = self.policy.obs_to_tensor(terminal_observation)[0]
        hidden, cell = self._last_lstm_states.vf
        states = (hidden[:, env_index : env_index + 1], cell[:, env_index : env_index + 1])
        value = self.policy.predict_values(terminal_obs, states, mx.zeros((1,)))
        return np.asarray(value).item()

    def _bootstrap_values(self, new_obs: Any, dones: np.ndarray) -> np.ndarray:
        assert self._last_lstm_states is not None
        episode_starts = mx.array(np.asarray(dones, dtype=np.float32))
        return np.asarray(self.policy.predict_values(obs_as_tensor(new_obs), self._last_lstm_states.vf, episode_starts))

    def learn(
        self: SelfRecurrentPPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "RecurrentPPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRecurrentPPO:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
