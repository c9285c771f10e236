"""Deep Deterministic Policy Gradient (DDPG), as TD3 without its three tricks."""

from typing import Any, TypeVar

import mlx.core as mx

from mlx_baselines3.common.buffers import ReplayBuffer
from mlx_baselines3.common.noise import ActionNoise
from mlx_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from mlx_baselines3.td3.policies import TD3Policy
from mlx_baselines3.td3.td3 import TD3

SelfDDPG = TypeVar("SelfDDPG", bound="DDPG")


class DDPG(TD3):
    """
    Deep Deterministic Policy Gradient (Lillicrap et al., 2015, https://arxiv.org/abs/1509.02971), built as TD3 with
    one critic (unless ``policy_kwargs`` sets ``n_critics``), an actor update at every step (``policy_delay=1``) and
    no target policy smoothing (``target_noise_clip=0``).

    :param policy: the policy class or alias (``"MlpPolicy"``, ``"CnnPolicy"``, ``"MultiInputPolicy"``)
    :param env: the environment to learn from (a registered id, a gymnasium env or a VecEnv)
    :param learning_rate: learning rate of the optimizers, constant or a schedule of the remaining progress
    :param buffer_size: replay buffer capacity
    :param learning_starts: number of steps with random actions before learning starts
    :param batch_size: minibatch size of each gradient step
    :param tau: soft update coefficient of the target networks, in [0, 1]
    :param gamma: discount factor
    :param train_freq: update every ``train_freq`` steps, or a tuple such as ``(5, "step")`` or ``(2, "episode")``
    :param gradient_steps: gradient steps after each rollout (-1: as many as environment steps collected)
    :param action_noise: exploration noise added to the actor's actions (e.g. ``NormalActionNoise``)
    :param replay_buffer_class: replay buffer class (None: chosen from the observation space)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: store each observation once in the replay buffer
    :param n_steps: n-step returns (> 1 uses the NStepReplayBuffer when ``replay_buffer_class`` is None)
    :param tensorboard_log: folder for tensorboard logs, or None
    :param policy_kwargs: keyword arguments for the policy
    :param verbose: 0 silent, 1 info (training statistics), 2 debug
    :param seed: seed of the random generators
    :param device: ``"auto"``, ``"cpu"``, ``"gpu"``, ``"mps"`` or ``"cuda"``
    :param _init_setup_model: build the networks at creation
    """

    def __init__(
        self,
        policy: str | type[TD3Policy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: "mx.Device | str" = "auto",
        _init_setup_model: bool = True,
    ):
        super().__init__(
            policy=policy,
            env=env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            # TD3 without its tricks; the noise scale stays positive but the clip of 0 removes the noise.
            policy_delay=1,
            target_noise_clip=0.0,
            target_policy_noise=0.1,
            _init_setup_model=False,
        )
        # Use only one critic
        if "n_critics" not in self.policy_kwargs:
            self.policy_kwargs["n_critics"] = 1
        if _init_setup_model:
            self._setup_model()

    def learn(
        self: SelfDDPG,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "DDPG",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDDPG:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
