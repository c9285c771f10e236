"""Recurrent (LSTM) actor-critic policies for RecurrentPPO: ``MlpLstmPolicy``, ``CnnLstmPolicy``, ``MultiInputLstmPolicy``."""

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.distributions import Distribution
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.policies import ActorCriticPolicy, make_optimizer
from mlx_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    MlpExtractor,
    NatureCNN,
)
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule
from mlx_baselines3.contrib.common.recurrent.layers import LSTM
from mlx_baselines3.contrib.common.recurrent.type_aliases import RNNStates

LSTMStates = tuple[mx.array, mx.array]


class RecurrentActorCriticPolicy(ActorCriticPolicy):
    """
    Actor-critic policy with an LSTM between the features extractor and the policy/value MLPs, as sb3-contrib's:
    the actor has its LSTM (``lstm_actor``); the critic has its own (``enable_critic_lstm``, the default), reuses the
    actor's outputs without gradient (``shared_lstm``), or has a linear layer instead (``critic``).

    Batches are sequences laid out as sb3-contrib lays them out: ``n_seq`` sequences of equal length, flattened
    sequence by sequence; the LSTM states are zeroed before the steps that start an episode.

    :param observation_space: the observation space
    :param action_space: the action space
    :param lr_schedule: the learning rate schedule
    :param net_arch: hidden layers of the policy and value MLPs after the LSTM
    :param activation_fn: activation class
    :param ortho_init: orthogonal initialization with SB3's gains (not of the LSTMs, as in sb3-contrib)
    :param use_sde: use generalized State-Dependent Exploration
    :param log_std_init: initial log standard deviation (Box actions)
    :param full_std: gSDE: one std per latent unit and action
    :param use_expln: gSDE: keep the std positive with expln instead of exp
    :param squash_output: gSDE: squash the actions with a tanh
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param share_features_extractor: one extractor for the policy and the value function
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (Adam by default, with eps=1e-5 when no kwargs are given)
    :param optimizer_kwargs: keyword arguments for the optimizer
    :param lstm_hidden_size: number of hidden units of each LSTM layer
    :param n_lstm_layers: number of LSTM layers
    :param shared_lstm: the critic uses the actor's LSTM outputs (only the actor's loss trains it)
    :param enable_critic_lstm: the critic has its own LSTM
    :param lstm_kwargs: more keyword arguments for the LSTMs (``bias``, ``dropout``)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = 0.0,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        lstm_hidden_size: int = 256,
        n_lstm_layers: int = 1,
        shared_lstm: bool = False,
        enable_critic_lstm: bool = True,
        lstm_kwargs: dict[str, Any] | None = None,
    ):
        # The MLPs take the LSTM's output: _build_mlp_extractor (called by the base class) needs its size.
        self.lstm_output_dim = lstm_hidden_size
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            ortho_init,
            use_sde,
            log_std_init,
            full_std,
            use_expln,
            squash_output,
            features_extractor_class,
            features_extractor_kwargs,
            share_features_extractor,
            normalize_images,
            optimizer_class,
            optimizer_kwargs,
        )
        if shared_lstm and enable_critic_lstm:
            raise UsageError("You must choose between shared LSTM, seperate or no LSTM for the critic.")
        if shared_lstm and not share_features_extractor:
            raise UsageError("If the features extractor is not shared, the LSTM cannot be shared.")
        lstm_kwargs = dict(lstm_kwargs or {})
        object.__setattr__(self, "lstm_kwargs", lstm_kwargs)
        self.shared_lstm = shared_lstm
        self.enable_critic_lstm = enable_critic_lstm
        self.lstm_actor = LSTM.from_kwargs(self.features_dim, lstm_hidden_size, n_lstm_layers, lstm_kwargs)
        # Shape of the states predict() starts from, per environment: (n_lstm_layers, 1, lstm_hidden_size).
        object.__setattr__(self, "lstm_hidden_state_shape", (n_lstm_layers, 1, lstm_hidden_size))
        self.critic: nn.Module | None = None
        self.lstm_critic: LSTM | None = None
        if not (shared_lstm or enable_critic_lstm):
            # Without a critic LSTM, a linear layer brings the features to the LSTM's output size.
            self.critic = nn.Linear(self.features_dim, lstm_hidden_size)
        if enable_critic_lstm:
            self.lstm_critic = LSTM.from_kwargs(self.features_dim, lstm_hidden_size, n_lstm_layers, lstm_kwargs)
        # Again, now that the LSTMs exist: the optimizer must cover them.
        self.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.optimizer.init(self.trainable_parameters())

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = MlpExtractor(self.lstm_output_dim, net_arch=self.net_arch, activation_fn=self.activation_fn)

    @staticmethod
    def _process_sequence(
        features: mx.array, lstm_states: LSTMStates, episode_starts: mx.array, lstm: LSTM
    ) -> tuple[mx.array, LSTMStates]:
        """
        Run a batch of sequences through an LSTM.

        :param features: ``(n_seq * length, features_dim)``, flattened sequence by sequence (``length`` is 1 when
            collecting rollouts, where the batch is the environments)
        :param lstm_states: the initial ``(h, c)`` of each sequence, each ``(n_layers, n_seq, hidden)``
        :param episode_starts: ``(n_seq * length,)``, 1 where the states must be zeroed before the step
        :param lstm: the LSTM
        :return: the outputs ``(n_seq * length, hidden)`` in the same order, and the final states
        """
        n_seq = lstm_states[0].shape[1]
        # (n_seq * length, dim) -> (length, n_seq, dim): time first, as the LSTM runs
        features_sequence = features.reshape(n_seq, -1, lstm.input_size).swapaxes(0, 1)
        starts = episode_starts.reshape(n_seq, -1).swapaxes(0, 1)
        outputs, states = lstm(features_sequence, lstm_states, starts)
        return outputs.swapaxes(0, 1).reshape(-1, lstm.hidden_size), states

    def _features(self, obs: PyTorchObs) -> tuple[mx.array, mx.array]:
        if self.share_features_extractor:
            features = self.extract_features(obs, self.features_extractor)
            return features, features
        return self.extract_features(obs, self.pi_features_extractor), self.extract_features(obs, self.vf_features_extractor)

    def _critic_latent(
        self, vf_features: mx.array, lstm_states_vf: LSTMStates, episode_starts: mx.array, latent_pi: mx.array | None = None
    ) -> tuple[mx.array, LSTMStates]:
        # The critic's LSTM output (or its stand-in) and states. With a shared LSTM the actor's outputs are reused
        # (computed here if not given), without gradient.
        if self.lstm_critic is not None:
            return self._process_sequence(vf_features, lstm_states_vf, episode_starts, self.lstm_critic)
        if self.shared_lstm:
            if latent_pi is None:
                lstm = self.lstm_actor
                latent_pi, lstm_states_vf = self._process_sequence(vf_features, lstm_states_vf, episode_starts, lstm)
            return mx.stop_gradient(latent_pi), (mx.stop_gradient(lstm_states_vf[0]), mx.stop_gradient(lstm_states_vf[1]))
        return self.critic(vf_features), lstm_states_vf  # type: ignore[misc]

    def __call__(  # type: ignore[override]
        self, obs: PyTorchObs, lstm_states: RNNStates, episode_starts: mx.array, deterministic: bool = False
    ) -> tuple[mx.array, mx.array, mx.array, RNNStates]:
        """
        Run the whole policy on one step (or sequences) of observations.

        :param obs: a batch of raw observations
        :param lstm_states: the actor's and critic's LSTM states before this step
        :param episode_starts: 1 where an observation starts an episode (its states are zeroed first)
        :param deterministic: use the most likely actions instead of sampling
        :return: actions, values, log-probabilities and the new LSTM states
        """
        pi_features, vf_features = self._features(obs)
        latent_pi, states_pi = self._process_sequence(pi_features, lstm_states[0], episode_starts, self.lstm_actor)
        if self.shared_lstm:
            latent_vf, states_vf = self._critic_latent(vf_features, states_pi, episode_starts, latent_pi)
        else:
            latent_vf, states_vf = self._critic_latent(vf_features, lstm_states[1], episode_starts)
            if self.lstm_critic is None:
                # The critic has no states of its own: it carries the actor's, as sb3-contrib does.
                states_vf = states_pi
        values = self.value_net(self.mlp_extractor.forward_critic(latent_vf))
        distribution = self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(latent_pi))
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        actions = self._to_action_dtype(actions.reshape((-1, *self.action_space.shape)))
        return actions, values, log_prob, RNNStates(states_pi, states_vf)

    def forward(  # type: ignore[override]
        self, obs: PyTorchObs, lstm_states: RNNStates, episode_starts: mx.array, deterministic: bool = False
    ) -> tuple[mx.array, mx.array, mx.array, RNNStates]:
        """SB3's name for the call: actions, values, log-probabilities, new LSTM states."""
        return self(obs, lstm_states, episode_starts, deterministic)

    def act(  # type: ignore[override]
        self, obs: PyTorchObs, lstm_states: RNNStates, episode_starts: mx.array
    ) -> tuple[mx.array, mx.array, mx.array, RNNStates]:
        """
        Compiled ``forward`` for rollout collection (one step of every environment).

        :param obs: a batch of raw observations
        :param lstm_states: the LSTM states before this step
        :param episode_starts: 1 where an observation starts an episode
        :return: actions, values (flattened), log-probabilities, new LSTM states
        """
        states = (*lstm_states.pi, *lstm_states.vf)
        actions, values, log_prob, new_states = self._compile_inference(self._act_step)(obs, states, episode_starts)
        return actions, values, log_prob, RNNStates(tuple(new_states[:2]), tuple(new_states[2:]))

    def _act_step(self, obs: PyTorchObs, states: tuple, episode_starts: mx.array) -> tuple:
        actions, values, log_prob, new_states = self(obs, RNNStates(states[:2], states[2:]), episode_starts)
        return actions, values.reshape(-1), log_prob, (*new_states.pi, *new_states.vf)

    def get_distribution(  # type: ignore[override]
        self, obs: PyTorchObs, lstm_states: LSTMStates, episode_starts: mx.array
    ) -> tuple[Distribution, LSTMStates]:
        """
        :param obs: a batch of raw observations
        :param lstm_states: the actor's LSTM states
        :param episode_starts: 1 where an observation starts an episode
        :return: the action distribution and the actor's new LSTM states
        """
        features = self.extract_features(obs, self.pi_features_extractor)
        latent_pi, lstm_states = self._process_sequence(features, lstm_states, episode_starts, self.lstm_actor)
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(latent_pi)), lstm_states

    def predict_values(  # type: ignore[override]
        self, obs: PyTorchObs, lstm_states: LSTMStates, episode_starts: mx.array
    ) -> mx.array:
        """
        :param obs: a batch of raw observations
        :param lstm_states: the critic's LSTM states (the actor's with a shared LSTM)
        :param episode_starts: 1 where an observation starts an episode
        :return: the estimated values, ``(batch, 1)``
        """
        return self._compile_inference(self._values_step)(obs, tuple(lstm_states), episode_starts)

    def _values_step(self, obs: PyTorchObs, lstm_states: tuple, episode_starts: mx.array) -> mx.array:
        features = self.extract_features(obs, self.vf_features_extractor)
        latent_vf, _ = self._critic_latent(features, lstm_states, episode_starts)
        return self.value_net(self.mlp_extractor.forward_critic(latent_vf))

    def evaluate_actions(  # type: ignore[override]
        self, obs: PyTorchObs, actions: mx.array, lstm_states: RNNStates, episode_starts: mx.array
    ) -> tuple[mx.array, mx.array, mx.array | None]:
        """
        Values, log-likelihood and entropy of given actions along sequences (used by the update).

        :param obs: sequences of raw observations, flattened sequence by sequence
        :param actions: the actions taken
        :param lstm_states: each sequence's initial LSTM states
        :param episode_starts: 1 where an observation starts an episode
        :return: values, log-probabilities, entropy
        """
        pi_features, vf_features = self._features(obs)
        latent_pi, _ = self._process_sequence(pi_features, lstm_states[0], episode_starts, self.lstm_actor)
        latent_vf, _ = self._critic_latent(vf_features, lstm_states[1], episode_starts, latent_pi)
        distribution = self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(latent_pi))
        values = self.value_net(self.mlp_extractor.forward_critic(latent_vf))
        return values, distribution.log_prob(actions), distribution.entropy()

    def _predict(  # type: ignore[override]
        self, observation: PyTorchObs, lstm_states: LSTMStates, episode_starts: mx.array, deterministic: bool = False
    ) -> tuple[mx.array, LSTMStates]:
        return self._compile_inference(self._predict_step)(observation, tuple(lstm_states), episode_starts, deterministic)

    def _predict_step(self, observation: PyTorchObs, lstm_states: tuple, episode_starts: mx.array, deterministic: bool):
        distribution, states = self.get_distribution(observation, lstm_states, episode_starts)
        return self._to_action_dtype(distribution.get_actions(deterministic=deterministic)), tuple(states)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        The policy's action for an observation (single or one per env), and the actor's next LSTM states.

        :param observation: the observation
        :param state: the actor's ``(h, c)`` LSTM states returned by the previous call, each
            ``(n_lstm_layers, n_envs, lstm_hidden_size)``; None starts from zeros
        :param episode_start: which envs start a new episode (their states are zeroed first); None: none
        :param deterministic: use the most likely action instead of sampling
        :return: the actions and the new ``(h, c)`` states (NumPy)
        """
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.prepare_observation(observation)
        n_envs = next(iter(obs_tensor.values())).shape[0] if isinstance(obs_tensor, dict) else obs_tensor.shape[0]
        n_layers, _, hidden_size = self.lstm_hidden_state_shape
        if state is None:
            zeros = np.zeros((n_layers, n_envs, hidden_size), dtype=np.float32)
            state = (zeros, zeros)
        states = tuple(mx.array(np.asarray(s, dtype=np.float32)) for s in state)
        if len(states) != 2 or any(s.shape != (n_layers, n_envs, hidden_size) for s in states):
            # torch's LSTM refuses such states with a RuntimeError in sb3-contrib: the same type here.
            raise RuntimeError(
                f"The LSTM state must be a (hidden, cell) pair of arrays of shape {(n_layers, n_envs, hidden_size)} "
                f"(n_lstm_layers, n_envs, lstm_hidden_size), got {[tuple(s.shape) for s in states]}: pass the state "
                "returned by the previous predict() call, or None at the start."
            )
        if episode_start is None:
            episode_start = np.zeros(n_envs, dtype=bool)
        starts = mx.array(np.asarray(episode_start, dtype=np.float32).reshape(-1))
        if starts.size != n_envs:
            raise RuntimeError(f"episode_start has {starts.size} values for {n_envs} observations: give one per env.")
        actions, new_states = self._predict(obs_tensor, states, starts, deterministic=deterministic)
        mx.eval(actions, new_states)
        return self.actions_to_env(actions, vectorized_env), (np.array(new_states[0]), np.array(new_states[1]))


class RecurrentActorCriticCnnPolicy(RecurrentActorCriticPolicy):
    """``RecurrentActorCriticPolicy`` with the NatureCNN features extractor (``CnnLstmPolicy``); same parameters."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class RecurrentMultiInputActorCriticPolicy(RecurrentActorCriticPolicy):
    """``RecurrentActorCriticPolicy`` for Dict observations (``MultiInputLstmPolicy``); same parameters."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Space, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
