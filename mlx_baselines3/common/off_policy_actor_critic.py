"""
The scaffold shared by the off-policy actor-critic algorithms (SAC, TD3, DDPG; TQC and CrossQ are built the same way).

What is common lives here: the aliases of the policy's networks, building and compiling the update steps once, the
``train()`` loop (sampling every minibatch of the call at once, one compiled call per gradient step, statistics read
once at the end and logged as ``train/<name>``), and saving. An algorithm states its maths in ``_make_train_step``
(a pure function of the batch, the per-step noise and the scalars, returning named statistics) and the small
hooks below; ``sac/sac.py`` and ``td3/td3.py`` are the examples to copy.
"""

from collections.abc import Callable, Hashable
from typing import Any

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

from mlx_baselines3.common.compiled import CompiledFunction, compile_update
from mlx_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

#: The batch a step receives: observations, actions, next observations, dones, rewards, discounts.
Batch = tuple[Any, mx.array, Any, mx.array, mx.array, mx.array]


class OffPolicyActorCritic(OffPolicyAlgorithm):
    """
    Base of off-policy algorithms with an actor, a critic and target networks in their policy (``policy.actor``,
    ``policy.critic``, ``policy.critic_target`` and optionally ``policy.actor_target``), each network with its own
    optimizer. It takes ``OffPolicyAlgorithm``'s parameters.

    A subclass implements:

    - ``_make_train_step(variant)``: the pure update step ``step(batch, noise, scalars) -> dict of statistics``,
      built from local variables only (the networks, their optimizers, constant flags), for each name in
      ``_step_variants`` (variants are separate compiled functions, e.g. with and without the delayed actor update);
    - ``_step_variant(gradient_step)``: which variant runs at this gradient step of the ``train()`` call;
    - ``_step_scalars()``: the scalars of the step as arrays (``gamma`` included), so that changing them never
      traces again;
    - ``_step_noise(gradient_steps, batch_size)``: the random inputs of all the call's steps, drawn at once;

    and, when it learns more than the actor and the critic, extends ``_optimizers()`` (their learning rates follow
    the schedule) and ``_train_state()`` (what the compiled step reads and writes).
    """

    #: Names of the compiled variants of the update step.
    _step_variants: tuple[Hashable, ...] = (True,)

    def _setup_model(self) -> None:
        super()._setup_model()
        self._create_aliases()
        self._setup_learned_parameters()
        state = self._train_state()
        self._train_steps: dict[Hashable, CompiledFunction] = {
            variant: compile_update(self._make_train_step(variant), state) for variant in self._step_variants
        }

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target
        if "actor_target" in self.policy:
            self.actor_target = self.policy.actor_target

    def _setup_learned_parameters(self) -> None:
        """Create what the algorithm learns besides the policy's networks (e.g. SAC's entropy coefficient)."""

    def _optimizers(self) -> list[optim.Optimizer]:
        """:return: the optimizers, whose learning rate follows the schedule"""
        return [self.actor.optimizer, self.critic.optimizer]

    def _train_state(self) -> list[Any]:
        """:return: the trees the compiled step reads and writes (``mx.random.state`` is added to them)"""
        return [self.policy.state, *(optimizer.state for optimizer in self._optimizers())]

    def _make_train_step(self, variant: Hashable) -> Callable[..., dict[str, mx.array]]:
        """
        :param variant: one of ``_step_variants``
        :return: the pure step function ``step(batch, noise, scalars) -> statistics`` (compiled by the caller)
        """
        raise NotImplementedError

    def _step_variant(self, gradient_step: int) -> Hashable:
        """
        :param gradient_step: index of the gradient step in this ``train()`` call (``_n_updates`` already counts it)
        :return: the variant of the step to run
        """
        return self._step_variants[0]

    def _step_scalars(self) -> dict[str, mx.array]:
        """:return: the step's scalars, as float32 arrays (``gamma``: the discount when the buffer gives none)"""
        return {"gamma": mx.array(self.gamma, dtype=mx.float32), "tau": mx.array(self.tau, dtype=mx.float32)}

    def _step_noise(self, gradient_steps: int, batch_size: int) -> mx.array:
        """
        :param gradient_steps: number of steps of the ``train()`` call
        :param batch_size: minibatch size
        :return: the random inputs of every step, indexed by step
        """
        raise NotImplementedError

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """
        Run ``gradient_steps`` updates on minibatches sampled from the replay buffer.

        :param gradient_steps: number of gradient steps
        :param batch_size: minibatch size
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        self._update_learning_rate(self._optimizers())
        scalars = self._step_scalars()
        noise = self._step_noise(gradient_steps, batch_size)

        stats: list[dict[str, mx.array]] = []
        for gradient_step, replay_data in enumerate(self._replay_batches(gradient_steps, batch_size)):
            self._n_updates += 1
            # For n-step replay, discount factor is gamma**n_steps (when no early termination)
            batch = self._step_batch(replay_data, scalars["gamma"])
            train_step = self._train_steps[self._step_variant(gradient_step)]
            step_stats = train_step(batch, noise[gradient_step], scalars)
            # One evaluation per gradient step, asynchronous so that the next minibatch is prepared meanwhile.
            mx.async_eval(step_stats, train_step.state)
            stats.append(step_stats)

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        # A statistic is averaged over the steps that computed it (TD3's actor loss: the steps that updated the actor).
        names = dict.fromkeys(name for step_stats in stats for name in step_stats)
        for name in names:
            values = np.array(mx.stack([step_stats[name] for step_stats in stats if name in step_stats]))
            self.logger.record(f"train/{name}", float(np.mean(values)))

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "actor_target", "critic_target", "_train_steps"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "actor.optimizer", "critic.optimizer"], []


__all__ = ["Batch", "OffPolicyActorCritic"]
