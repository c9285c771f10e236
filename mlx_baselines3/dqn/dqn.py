import warnings
from typing import Any, ClassVar, TypeVar

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.compiled import compile_update
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from mlx_baselines3.common.policies import BasePolicy
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule, TrainFreq
from mlx_baselines3.common.utils import LinearSchedule, get_parameters_by_name, polyak_update, update_target_network  # noqa: F401  (SB3 exposes them here)
from mlx_baselines3.common.validation import check_hyperparameters
from mlx_baselines3.dqn.policies import CnnPolicy, DQNPolicy, MlpPolicy, MultiInputPolicy, QNetwork

SelfDQN = TypeVar("SelfDQN", bound="DQN")


class DQN(OffPolicyAlgorithm):
    """
    Deep Q-Network (Mnih et al., 2015, https://www.nature.com/articles/nature14236), as SB3 implements it: a vanilla
    DQN (no double Q-learning) with a Huber loss, gradient-norm clipping, a target network updated every
    ``target_update_interval`` steps and a linearly decaying epsilon-greedy exploration.

    Each gradient step (target, loss, gradient, clipping, Adam step) is one compiled MLX function, built once.

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
    :param max_grad_norm: maximum norm for gradient clipping
    :param stats_window_size: window of episodes for the ``rollout/`` statistics
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy
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
    # Linear schedule will be defined in `_setup_model()`
    exploration_schedule: Schedule
    q_net: QNetwork
    q_net_target: QNetwork
    policy: DQNPolicy

    def __init__(
        self,
        policy: str | type[DQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-4,
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
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float = 10,
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
            max_grad_norm=max_grad_norm,
        )
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

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._create_aliases()
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps,
            self.exploration_final_eps,
            self.exploration_fraction,
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
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target

    def _make_train_step(self):
        """
        Build the compiled gradient step: the one-step TD target from the target network, the Huber loss of the
        Q-values of the actions taken, its gradient (``q_net`` only: the target is frozen), gradient-norm clipping and
        the optimizer step. The discount enters as an array (``gamma``, or ``gamma ** k`` per sample for n-step
        returns), so the function is traced once.
        """
        policy = self.policy
        optimizer = policy.optimizer
        max_grad_norm = self.max_grad_norm

        def loss_fn(observations, actions, target_q_values):
            q_values = policy.q_net(observations)
            # The Q-values of the actions taken.
            current_q_values = mx.take_along_axis(q_values, actions.astype(mx.int32), axis=1)
            return nn.losses.smooth_l1_loss(current_q_values, target_q_values)

        loss_and_grad = nn.value_and_grad(policy, loss_fn)

        def step(observations, actions, next_observations, dones, rewards, discounts):
            # Greedy value of the next state under the target network.
            next_q_values = mx.max(policy.q_net_target(next_observations), axis=1, keepdims=True)
            target_q_values = mx.stop_gradient(rewards + (1 - dones) * discounts * next_q_values)
            loss, grads = loss_and_grad(observations, actions, target_q_values)
            grads, _ = optim.clip_grad_norm(grads, max_grad_norm)
            optimizer.update(policy, grads)
            return {"loss": loss}

        return compile_update(step, [policy.state, optimizer.state])

    def _update_target(self) -> None:
        """Polyak update of the target network (batch-norm running statistics are copied)."""
        update_target_network(self.q_net, self.q_net_target, self.tau)
        if self.tau != 1.0:
            # Keep the lazy graph from growing over many updates without a training step.
            mx.eval(self.q_net_target.parameters())

    def _on_step(self) -> None:
        """Update the target network every ``target_update_interval`` transitions, and the exploration rate."""
        self._n_calls += 1
        # Each call is one step of every env: n_envs transitions.
        if self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0:
            self._update_target()
        self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """
        Gradient steps on minibatches sampled from the replay buffer (sampled at once for the whole call).

        :param gradient_steps: number of gradient steps
        :param batch_size: minibatch size
        """
        self.policy.set_training_mode(True)
        optimizer = self.policy.optimizer
        assert optimizer is not None
        self._update_learning_rate(optimizer)

        gamma = mx.array(self.gamma, dtype=mx.float32)
        losses = []
        for replay_data in self._replay_batches(gradient_steps, batch_size):
            # n-step buffers give each sample its own discount (gamma ** k).
            stats = self._train_step(*self._step_batch(replay_data, gamma))
            # Asynchronous: the next minibatch is sliced while this step runs. The new parameters and optimizer state
            # are outputs of the same compiled computation as the loss, so they are computed with it.
            mx.async_eval(stats)
            losses.append(stats["loss"])

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(np.array(mx.stack(losses)))))

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Epsilon-greedy action: a random action with probability ``exploration_rate`` (unless ``deterministic``),
        else the greedy one.

        :param observation: the observation (single or one per env)
        :param state: the hidden state (unused, returned as is)
        :param episode_start: which envs start a new episode (unused)
        :param deterministic: always take the greedy action
        :return: the action and the hidden state
        """
        if not deterministic and np.random.rand() < self.exploration_rate:
            if self.policy.is_vectorized_observation(observation):
                if isinstance(observation, dict):
                    n_batch = observation[next(iter(observation.keys()))].shape[0]
                else:
                    n_batch = observation.shape[0]
                action = np.array([self.action_space.sample() for _ in range(n_batch)])
            else:
                action = np.array(self.action_space.sample())
        else:
            action, state = self.policy.predict(observation, state, episode_start, deterministic)
        return action, state

    def learn(
        self: SelfDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "DQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDQN:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "_train_step"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []

    def _upgrade_saved_parameters(self, params: dict[str, Any]) -> None:
        # DQN files of SB3 < 2.4 list the target network's parameters in the optimizer too (SB3 PR #1963): keep the
        # online network's, which come first.
        try:
            saved_ids = params["policy.optimizer"]["param_groups"][0]["params"]
            current_ids = self.get_parameters()["policy.optimizer"]["param_groups"][0]["params"]
        except (KeyError, IndexError, TypeError):
            return
        if isinstance(saved_ids, list) and len(saved_ids) == 2 * len(current_ids):
            params["policy.optimizer"]["param_groups"][0]["params"] = saved_ids[: len(current_ids)]
            warnings.warn("You are probably loading a DQN model saved with SB3 < 2.4.0; save it again.")
