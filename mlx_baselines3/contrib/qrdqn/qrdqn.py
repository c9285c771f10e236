import warnings
from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from gymnasium import spaces

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.compiled import compile_update
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule, TrainFreq
from mlx_baselines3.common.utils import LinearSchedule, get_parameters_by_name, polyak_update, update_target_network  # noqa: F401  (sb3-contrib exposes them here)
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.contrib.common.utils import quantile_huber_loss
from mlx_baselines3.contrib.qrdqn.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, QRDQNPolicy, QuantileNetwork
from mlx_baselines3.dqn.dqn import DQN

SelfQRDQN = TypeVar("SelfQRDQN", bound="QRDQN")


class QRDQN(OffPolicyAlgorithm):
    """
    Quantile Regression DQN (Dabney et al., 2017, https://arxiv.org/abs/1710.10044): the network predicts
    ``n_quantiles`` quantiles of the return of each action, trained with the quantile Huber loss against the quantiles
    of the greedy next action under the target network. Defaults are the paper's (tuned for Atari), as in sb3-contrib.

    Each gradient step (target quantiles, loss, gradient, optional clipping, Adam step) is one compiled MLX function,
    built once.

    :param policy: the policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy or a class)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate, constant or a schedule of the remaining progress (from 1 to 0)
    :param buffer_size: size of the replay buffer
    :param learning_starts: number of warm-up steps, with random actions, before training starts
    :param batch_size: minibatch size of each gradient step
    :param tau: soft update coefficient of the target network (1: hard copy)
    :param gamma: discount factor
    :param train_freq: train every ``train_freq`` steps; an int, ``(n, "step")`` or ``(n, "episode")``
    :param gradient_steps: gradient steps after each rollout; -1 does as many as environment steps were collected
    :param replay_buffer_class: replay buffer class (e.g. ``HerReplayBuffer``); None chooses one from the observation
        space and ``n_steps``
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: memory-efficient replay buffer (next observations are not stored separately)
    :param n_steps: n-step returns when greater than 1
    :param target_update_interval: environment steps between target network updates
    :param exploration_fraction: fraction of the training over which epsilon decays
    :param exploration_initial_eps: initial probability of a random action
    :param exploration_final_eps: final probability of a random action
    :param max_grad_norm: maximum norm for gradient clipping (None: no clipping)
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy (e.g. ``n_quantiles``, ``net_arch``); without an
        ``optimizer_class``, Adam with ``eps=0.01 / batch_size`` as in the paper
    :param verbose: 0 silent, 1 info (training statistics), 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    exploration_schedule: Schedule
    quantile_net: QuantileNetwork
    quantile_net_target: QuantileNetwork
    policy: QRDQNPolicy

    def __init__(
        self,
        policy: str | type[QRDQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 5e-5,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] | TrainFreq = 4,
        gradient_steps: int = 1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int = 10000,
        exploration_fraction: float = 0.005,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.01,
        max_grad_norm: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: "mx.Device | str" = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        check_hyperparameters(
            self,
            target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
        )
        if max_grad_norm is not None:
            check_hyperparameters(self, max_grad_norm=max_grad_norm)
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Discrete,),
            support_multi_env=True,
        )
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_fraction = exploration_fraction
        self.target_update_interval = target_update_interval
        # Environment steps (VecEnv.step calls) since the start, for the target updates with several envs.
        self._n_calls = 0
        self.max_grad_norm = max_grad_norm
        # Probability of a random action, following `exploration_schedule`.
        self.exploration_rate = 0.0

        if "optimizer_class" not in self.policy_kwargs:
            self.policy_kwargs["optimizer_class"] = optim.Adam
            # The QR-DQN paper's Adam epsilon, for its batch size of 32.
            self.policy_kwargs["optimizer_kwargs"] = dict(eps=0.01 / batch_size)

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._create_aliases()
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        if self.n_envs > 1 and self.n_envs > self.target_update_interval:
            warnings.warn(
                "The number of environments used is greater than the target network "
                f"update interval ({self.n_envs} > {self.target_update_interval}), "
                "therefore the target network will be updated after each call to env.step() "
                f"which corresponds to {self.n_envs} steps."
            )
        self._train_step = self._make_train_step()

    def _create_aliases(self) -> None:
        self.quantile_net = self.policy.quantile_net
        self.quantile_net_target = self.policy.quantile_net_target
        self.n_quantiles = self.policy.n_quantiles

    def _make_train_step(self):
        """
        Build the compiled gradient step: the target quantiles (those of the greedy next action under the target
        network, discounted), the quantile Huber loss of the quantiles of the actions taken (summed over the quantiles),
        its gradient (``quantile_net`` only), optional gradient-norm clipping and the optimizer step. The discount
        enters as an array (``gamma``, or ``gamma ** k`` per sample for n-step returns), so it is traced once.
        """
        policy = self.policy
        optimizer = policy.optimizer
        max_grad_norm = self.max_grad_norm
        n_quantiles = self.n_quantiles

        def loss_fn(observations, actions, target_quantiles):
            quantiles = policy.quantile_net(observations)
            # The quantiles of the actions taken: (batch, n_quantiles).
            index = mx.broadcast_to(actions.astype(mx.int32)[:, None, :], (actions.shape[0], n_quantiles, 1))
            current_quantiles = mx.take_along_axis(quantiles, index, axis=2).squeeze(2)
            return quantile_huber_loss(current_quantiles, target_quantiles, sum_over_quantiles=True)

        loss_and_grad = nn.value_and_grad(policy, loss_fn)

        def step(observations, actions, next_observations, dones, rewards, discounts):
            next_quantiles = policy.quantile_net_target(next_observations)
            # Greedy next action on the mean of the quantiles (the Q-value), then its quantiles.
            greedy = mx.argmax(next_quantiles.mean(axis=1), axis=1)
            index = mx.broadcast_to(greedy[:, None, None], (greedy.shape[0], n_quantiles, 1))
            next_quantiles = mx.take_along_axis(next_quantiles, index, axis=2).squeeze(2)
            target_quantiles = mx.stop_gradient(rewards + (1 - dones) * discounts * next_quantiles)
            loss, grads = loss_and_grad(observations, actions, target_quantiles)
            if max_grad_norm is not None:
                grads, _ = optim.clip_grad_norm(grads, max_grad_norm)
            optimizer.update(policy, grads)
            return {"loss": loss}

        return compile_update(step, [policy.state, optimizer.state])

    def _update_target(self) -> None:
        """Polyak update of the target network (batch-norm running statistics are copied)."""
        update_target_network(self.quantile_net, self.quantile_net_target, self.tau)
        if self.tau != 1.0:
            # Keep the lazy graph from growing over many updates without a training step.
            mx.eval(self.quantile_net_target.parameters())

    # Epsilon-greedy acting, the target/exploration updates after each environment step and the train() loop around
    # the compiled step (same arguments) are DQN's.
    _on_step = DQN._on_step
    predict = DQN.predict
    train = DQN.train

    def learn(
        self: SelfQRDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "QRDQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfQRDQN:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "quantile_net", "quantile_net_target", "_train_step"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []
