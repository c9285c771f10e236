"""Actor-critic policies whose action distribution can be masked (MaskablePPO's ``MlpPolicy``, ``CnnPolicy``...)."""

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.policies import ActorCriticPolicy
from mlx_baselines3.common.policies import BasePolicy as BasePolicy  # sb3-contrib's module namespace
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor, NatureCNN
from mlx_baselines3.common.torch_layers import MlpExtractor as MlpExtractor
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule
from mlx_baselines3.contrib.common.maskable.buffers import mask_dims
from mlx_baselines3.contrib.common.maskable.distributions import (
    MaskableDistribution,
    as_mask_array,
    make_masked_proba_distribution,
)

# gSDE and Gaussian settings of ActorCriticPolicy that masked policies do not have (nor save).
_UNMASKABLE_SETTINGS = ("use_sde", "log_std_init", "squash_output", "full_std", "use_expln")


class MaskableActorCriticPolicy(ActorCriticPolicy):
    """
    Actor-critic policy (A2C/PPO's, same networks and parameter names) with a masked action distribution: every call
    that samples or scores actions takes optional ``action_masks`` (True where an action is allowed, one flag per
    choice; see ``MaskableRolloutBuffer.mask_dims``).

    :param observation_space: the observation space
    :param action_space: the action space (Discrete, MultiDiscrete or MultiBinary)
    :param lr_schedule: the learning rate schedule
    :param net_arch: hidden layers of the policy and value networks (list, or ``dict(pi=[...], vf=[...])``)
    :param activation_fn: activation class
    :param ortho_init: orthogonal initialization with SB3's gains
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param share_features_extractor: one extractor for the policy and the value function
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (Adam by default, with eps=1e-5 when no kwargs are given)
    :param optimizer_kwargs: keyword arguments for the optimizer
    :param use_sde: must be False (accepted because the on-policy algorithms pass it to every policy)
    """

    action_dist: MaskableDistribution

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        ortho_init: bool = True,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        use_sde: bool = False,
    ):
        if use_sde:
            raise UsageError("use_sde=True: gSDE is for continuous actions; masked policies have discrete ones.")
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            ortho_init=ortho_init,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            share_features_extractor=share_features_extractor,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        # The masked distribution replaces the plain one before the action head is built from it.
        self.action_dist = make_masked_proba_distribution(self.action_space)
        super()._build(lr_schedule)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        for name in _UNMASKABLE_SETTINGS:
            data.pop(name, None)
        return data

    @property
    def mask_dims(self) -> int:
        """Number of mask flags per observation."""
        return mask_dims(self.action_space)

    def _to_action_dtype(self, actions: mx.array) -> mx.array:
        # MultiBinary actions are sampled as two-way categoricals here: integers, as sb3-contrib returns them.
        return actions.astype(mx.int64)

    def _masks(self, action_masks: Any, batch_size: int) -> mx.array:
        return as_mask_array(action_masks, (batch_size, self.mask_dims))

    def __call__(  # type: ignore[override]
        self, obs: PyTorchObs, deterministic: bool = False, action_masks: mx.array | None = None
    ) -> tuple[mx.array, mx.array, mx.array]:
        """
        Run the whole policy: actions (chosen among the allowed ones), state values and the actions' log-probabilities.

        :param obs: a batch of raw observations
        :param deterministic: use the most likely allowed actions instead of sampling
        :param action_masks: the masks, or None for no masking
        :return: actions, values, log-probabilities
        """
        latent_pi, latent_vf = self._latents(obs)
        values = self.value_net(latent_vf)
        distribution = self._get_action_dist_from_latent(latent_pi)
        if action_masks is not None:
            distribution.apply_masking(action_masks)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        actions = self._to_action_dtype(actions.reshape((-1, *self.action_space.shape)))
        return actions, values, log_prob

    def forward(  # type: ignore[override]
        self, obs: PyTorchObs, deterministic: bool = False, action_masks: mx.array | None = None
    ) -> tuple[mx.array, mx.array, mx.array]:
        """SB3's name for the call: actions, values, log-probabilities."""
        return self(obs, deterministic, action_masks)

    def act(self, obs: PyTorchObs, action_masks: Any = None) -> tuple[mx.array, mx.array, mx.array]:  # type: ignore[override]
        """
        Compiled ``forward`` for rollout collection.

        :param obs: a batch of raw observations
        :param action_masks: the masks of the batch, or None
        :return: actions, values (flattened), log-probabilities
        """
        if action_masks is None:
            return super().act(obs)
        batch_size = next(iter(obs.values())).shape[0] if isinstance(obs, dict) else obs.shape[0]
        return self._compile_inference(self._act_masked)(obs, self._masks(action_masks, batch_size))

    def _act_masked(self, obs: PyTorchObs, action_masks: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        actions, values, log_prob = self(obs, action_masks=action_masks)
        return actions, values.reshape(-1), log_prob

    def evaluate_actions(  # type: ignore[override]
        self, obs: PyTorchObs, actions: mx.array, action_masks: mx.array | None = None
    ) -> tuple[mx.array, mx.array, mx.array]:
        """
        Values, log-likelihood and entropy of given actions under the (masked) policy.

        :param obs: a batch of raw observations
        :param actions: the actions taken
        :param action_masks: the masks they were chosen under, or None
        :return: values, log-probabilities, entropy
        """
        latent_pi, latent_vf = self._latents(obs)
        distribution = self._get_action_dist_from_latent(latent_pi)
        if action_masks is not None:
            distribution.apply_masking(action_masks)
        return self.value_net(latent_vf), distribution.log_prob(actions), distribution.entropy()

    def get_distribution(self, obs: PyTorchObs, action_masks: Any = None) -> MaskableDistribution:  # type: ignore[override]
        """
        :param obs: a batch of raw observations
        :param action_masks: masks to apply, or None
        :return: the action distribution for them
        """
        distribution = super().get_distribution(obs)
        if action_masks is not None:
            distribution.apply_masking(action_masks)
        return distribution  # type: ignore[return-value]

    def _predict(  # type: ignore[override]
        self, observation: PyTorchObs, deterministic: bool = False, action_masks: Any = None
    ) -> mx.array:
        if action_masks is None:
            return super()._predict(observation, deterministic)
        batch_size = next(iter(observation.values())).shape[0] if isinstance(observation, dict) else observation.shape[0]
        masks = self._masks(action_masks, batch_size)
        return self._compile_inference(self._predict_masked)(observation, masks, deterministic)

    def _predict_masked(self, observation: PyTorchObs, action_masks: mx.array, deterministic: bool) -> mx.array:
        distribution = self.get_distribution(observation, action_masks)
        return self._to_action_dtype(distribution.get_actions(deterministic=deterministic))

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        The policy's action for an observation (single or one per env), chosen among the allowed actions.

        :param observation: the observation
        :param state: unused (recurrent policies only; returned unchanged)
        :param episode_start: unused (recurrent policies only)
        :param deterministic: use the most likely allowed action instead of sampling
        :param action_masks: True where an action is allowed (one row per observation), or None for no masking
        :return: the actions and ``state``
        """
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.prepare_observation(observation)
        actions = self._predict(obs_tensor, deterministic=deterministic, action_masks=action_masks)
        return self.actions_to_env(actions, vectorized_env), state


class MaskableActorCriticCnnPolicy(MaskableActorCriticPolicy):
    """``MaskableActorCriticPolicy`` with the NatureCNN features extractor (``CnnPolicy``); same parameters."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MaskableMultiInputActorCriticPolicy(MaskableActorCriticPolicy):
    """``MaskableActorCriticPolicy`` for Dict observations with the CombinedExtractor (``MultiInputPolicy``)."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Space, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
