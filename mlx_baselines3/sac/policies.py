"""SAC's policies: a squashed Gaussian actor and twin Q-networks with their target, as ``mlx.nn.Module`` trees."""

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from gymnasium import spaces

from mlx_baselines3.common.distributions import SquashedDiagGaussianDistribution, StateDependentNoiseDistribution
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.policies import (
    BasePolicy,
    ContinuousCritic,
    _set_config,
    critic_optimized_parameters,
    make_optimizer,
)
from mlx_baselines3.common.preprocessing import get_action_dim
from mlx_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    as_mlx_module_class,
    create_mlp,
    get_actor_critic_arch,
)
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule

# Bounds of the actor's log standard deviation (as in the original SAC implementation).
LOG_STD_MAX = 2
LOG_STD_MIN = -20


class Actor(BasePolicy):
    """
    SAC's actor: an MLP from the features to the mean and log standard deviation of a Gaussian whose samples are
    squashed by tanh into [-1, 1].

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param net_arch: hidden layer sizes
    :param features_extractor: the features extractor
    :param features_dim: number of features
    :param activation_fn: activation class (MLX's, or torch's by name)
    :param use_sde: use generalized State-Dependent Exploration instead of a state-dependent log std head
    :param log_std_init: gSDE: initial log standard deviation
    :param full_std: gSDE: one std per latent unit and action dimension (else one per latent unit)
    :param use_expln: gSDE: keep the std positive with expln (slower growth) instead of exp
    :param clip_mean: gSDE: clip the mean into [-clip_mean, clip_mean] for numerical stability (0 disables it)
    :param normalize_images: divide image observations by 255
    """

    action_space: spaces.Box

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        full_std: bool = True,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        normalize_images: bool = True,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=True,
        )
        self.use_sde = use_sde
        self.sde_features_extractor = None
        _set_config(self, net_arch=net_arch)
        self.features_dim = features_dim
        self.activation_fn = as_mlx_module_class(activation_fn)
        self.log_std_init = log_std_init
        self.use_expln = use_expln
        self.full_std = full_std
        self.clip_mean = clip_mean

        action_dim = get_action_dim(self.action_space)
        self.latent_pi = nn.Sequential(*create_mlp(features_dim, -1, net_arch, self.activation_fn))
        last_layer_dim = net_arch[-1] if len(net_arch) > 0 else features_dim

        # action_dist and log_std change type with use_sde (gSDE: its distribution and a log_std array; otherwise a
        # squashed Gaussian and a log_std layer), which mypy cannot follow: both are typed Any.
        if self.use_sde:
            self.action_dist: Any = StateDependentNoiseDistribution(
                action_dim, full_std=full_std, use_expln=use_expln, learn_features=True, squash_output=True
            )
            mu, log_std = self.action_dist.proba_distribution_net(
                latent_dim=last_layer_dim, latent_sde_dim=last_layer_dim, log_std_init=log_std_init
            )
            # SB3's state dict lists this parameter before the layers.
            self.log_std: Any = log_std
            # Bounding the mean keeps tanh away from saturation, where gSDE's log-probabilities blow up.
            self.mu = nn.Sequential(mu, _Hardtanh(clip_mean)) if clip_mean > 0.0 else mu
            # The exploration matrices, in the module tree (private key: not a parameter) so that compiled inference
            # reads the ones of the latest reset_noise().
            self._exploration_state = self.action_dist.exploration_state
        else:
            self.action_dist = SquashedDiagGaussianDistribution(action_dim)
            self.mu = nn.Linear(last_layer_dim, action_dim)
            self.log_std = nn.Linear(last_layer_dim, action_dim)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                activation_fn=self.activation_fn,
                use_sde=self.use_sde,
                log_std_init=self.log_std_init,
                full_std=self.full_std,
                use_expln=self.use_expln,
                features_extractor=self.features_extractor,
                clip_mean=self.clip_mean,
            )
        )
        return data

    def get_std(self) -> mx.array:
        """
        The standard deviation of gSDE's exploration weights (``exp(log_std)``, or its expln variant).

        :return: the standard deviation, ``(latent_sde_dim, action_dim)``
        """
        if not self.use_sde:
            raise UsageError("get_std() is only available when using gSDE (use_sde=True)")
        return self.action_dist.get_std(self.log_std)

    def reset_noise(self, batch_size: int = 1) -> None:
        """
        Sample new gSDE exploration weights.

        :param batch_size: number of independent weight matrices (one per environment)
        """
        if not self.use_sde:
            raise UsageError("reset_noise() is only available when using gSDE (use_sde=True)")
        self.action_dist.sample_weights(self.log_std, batch_size=batch_size)

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[mx.array, mx.array, dict[str, mx.array]]:
        """
        Parameters of the action distribution for a batch of observations.

        :param obs: a batch of raw observations
        :return: the means, the log standard deviations and, with gSDE, ``latent_sde`` in a dict
        """
        features = self.extract_features(obs, self.features_extractor)
        latent_pi = self.latent_pi(features)
        mean_actions = self.mu(latent_pi)
        if self.use_sde:
            return mean_actions, self.log_std, dict(latent_sde=latent_pi)
        log_std = mx.clip(self.log_std(latent_pi), LOG_STD_MIN, LOG_STD_MAX)
        return mean_actions, log_std, {}

    def __call__(self, obs: PyTorchObs, deterministic: bool = False) -> mx.array:
        """
        :param obs: a batch of raw observations
        :param deterministic: return tanh of the mean instead of a sample
        :return: actions in [-1, 1]
        """
        mean_actions, log_std, kwargs = self.get_action_dist_params(obs)
        return self.action_dist.actions_from_params(mean_actions, log_std, deterministic=deterministic, **kwargs)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> mx.array:
        """SB3's name for the call: squashed actions."""
        return self(obs, deterministic)

    def action_log_prob(self, obs: PyTorchObs, noise: mx.array | None = None) -> tuple[mx.array, mx.array]:
        """
        Reparameterized actions and their log-likelihood (differentiable with respect to the actor's parameters).

        :param obs: a batch of raw observations
        :param noise: standard normal noise to use instead of drawing it (the compiled updates pass it in, so that they
            are pure functions of their inputs): ``(batch, action_dim)``, or with gSDE ``(latent_sde_dim, action_dim)``
            for a fresh exploration matrix shared by the batch (in place of ``reset_noise()``)
        :return: squashed actions and their log-probabilities ``(batch,)``
        """
        mean_actions, log_std, kwargs = self.get_action_dist_params(obs)
        if noise is None:
            return self.action_dist.log_prob_from_params(mean_actions, log_std, **kwargs)
        distribution = self.action_dist.proba_distribution(mean_actions, log_std, **kwargs)
        if self.use_sde:
            # Reparameterized exploration matrix: the gradient reaches log_std through the noise too.
            exploration_mat = self.action_dist.get_std(log_std) * noise
            actions = mx.tanh(mean_actions + kwargs["latent_sde"] @ exploration_mat)
            return actions, distribution.log_prob(actions)
        gaussian_actions = mean_actions + mx.exp(log_std) * noise
        actions = mx.tanh(gaussian_actions)
        return actions, distribution.log_prob(actions, gaussian_actions)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        return self._compile_inference(self._predict_actions)(observation, deterministic)

    def _predict_actions(self, observation: PyTorchObs, deterministic: bool) -> mx.array:
        return self(observation, deterministic)


class _Hardtanh(nn.Module):
    """torch's ``Hardtanh(-bound, bound)``, which ``mlx.nn.HardTanh`` (fixed to [-1, 1]) cannot express."""

    def __init__(self, bound: float):
        super().__init__()
        self.bound = bound

    def __call__(self, x: mx.array) -> mx.array:
        return mx.clip(x, -self.bound, self.bound)


class SACPolicy(BasePolicy):
    """
    SAC's policy: the actor, the critic (``n_critics`` Q-networks) and the critic's target, each with its own
    optimizer (``actor.optimizer``, ``critic.optimizer``).

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param lr_schedule: the learning rate schedule (its value at progress 1 sets the optimizers' initial rate)
    :param net_arch: hidden layers, shared by the actor and the critic (list) or ``dict(pi=[...], qf=[...])``;
        default ``[256, 256]``
    :param activation_fn: activation class
    :param use_sde: use generalized State-Dependent Exploration
    :param log_std_init: gSDE: initial log standard deviation
    :param use_expln: gSDE: keep the std positive with expln instead of exp
    :param clip_mean: gSDE: clip the mean of the Gaussian into [-clip_mean, clip_mean]
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (MLX, or torch's by name)
    :param optimizer_kwargs: keyword arguments for the optimizers (torch names accepted)
    :param n_critics: number of Q-networks
    :param share_features_extractor: the critic uses the actor's features extractor, which then learns from the
        actor's loss only
    """

    actor: Actor
    critic: ContinuousCritic
    critic_target: ContinuousCritic
    _eval_only_networks = ("critic_target",)

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=True,
            normalize_images=normalize_images,
        )
        if net_arch is None:
            net_arch = [256, 256]
        actor_arch, critic_arch = get_actor_critic_arch(net_arch)
        self.activation_fn = as_mlx_module_class(activation_fn)
        net_args = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "net_arch": actor_arch,
            "activation_fn": self.activation_fn,
            "normalize_images": normalize_images,
        }
        actor_kwargs = net_args | {
            "use_sde": use_sde,
            "log_std_init": log_std_init,
            "use_expln": use_expln,
            "clip_mean": clip_mean,
        }
        critic_kwargs = net_args | {
            "n_critics": n_critics,
            "net_arch": critic_arch,
            "share_features_extractor": share_features_extractor,
        }
        _set_config(self, net_arch=net_arch, net_args=net_args, actor_kwargs=actor_kwargs, critic_kwargs=critic_kwargs)
        self.share_features_extractor = share_features_extractor
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        """
        Create the actor, the critic and its target (a copy of the critic), and their optimizers.

        :param lr_schedule: the learning rate schedule
        """
        self.actor = self.make_actor()
        self.actor.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.actor.optimizer.init(self.actor.trainable_parameters())

        # A shared extractor learns from the actor's loss only, so the critic's optimizer leaves it out.
        shared_extractor = self.actor.features_extractor if self.share_features_extractor else None
        self.critic = self.make_critic(features_extractor=shared_extractor)
        self.critic.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.critic.optimizer.init(critic_optimized_parameters(self.critic))

        # The target never shares an extractor: it holds a slowly moving copy of all the critic's parameters.
        self.critic_target = self.make_critic(features_extractor=None)
        self.critic_target.update(self.critic.parameters())
        # Target networks always run in evaluation mode.
        self.critic_target.eval()

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.net_args["activation_fn"],
                use_sde=self.actor_kwargs["use_sde"],
                log_std_init=self.actor_kwargs["log_std_init"],
                use_expln=self.actor_kwargs["use_expln"],
                clip_mean=self.actor_kwargs["clip_mean"],
                n_critics=self.critic_kwargs["n_critics"],
                lr_schedule=self._dummy_schedule,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
            )
        )
        return data

    def reset_noise(self, batch_size: int = 1) -> None:
        """
        Sample new gSDE exploration weights.

        :param batch_size: number of independent weight matrices (one per environment)
        """
        self.actor.reset_noise(batch_size=batch_size)

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Actor:
        """
        :param features_extractor: an extractor to use, or None to build a new one
        :return: a new actor
        """
        return Actor(**self._update_features_extractor(self.actor_kwargs, features_extractor))

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        """
        :param features_extractor: an extractor to use (e.g. the actor's), or None to build a new one
        :return: a new critic
        """
        return ContinuousCritic(**self._update_features_extractor(self.critic_kwargs, features_extractor))

    def __call__(self, obs: PyTorchObs, deterministic: bool = False) -> mx.array:
        """
        :param obs: a batch of raw observations
        :param deterministic: use the mean action instead of sampling
        :return: actions in [-1, 1]
        """
        return self.actor(obs, deterministic)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> mx.array:
        """SB3's name for the call: squashed actions."""
        return self(obs, deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        # Compiled on the actor alone: the critics' parameters are not inputs of inference.
        return self.actor._predict(observation, deterministic)


MlpPolicy = SACPolicy


class CnnPolicy(SACPolicy):
    """``SACPolicy`` with the NatureCNN features extractor (image observations); same parameters."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MultiInputPolicy(SACPolicy):
    """``SACPolicy`` for Dict observations, with the CombinedExtractor; same parameters."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Box, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
