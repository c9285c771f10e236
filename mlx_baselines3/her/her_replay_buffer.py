"""Hindsight Experience Replay (Andrychowicz et al., 2017, https://arxiv.org/abs/1707.01495) as a replay buffer."""

import copy
import warnings
from typing import Any

import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.buffers import DictReplayBuffer
from mlx_baselines3.common.type_aliases import DictReplayBufferSamples
from mlx_baselines3.common.vec_env import VecEnv, VecNormalize
from mlx_baselines3.her.goal_selection_strategy import KEY_TO_GOAL_STRATEGY, GoalSelectionStrategy


class HerReplayBuffer(DictReplayBuffer):
    """
    Replay buffer for goal-conditioned environments (Dict observations with ``observation``, ``achieved_goal`` and
    ``desired_goal``) that relabels transitions with goals that were actually achieved: a failed episode still
    teaches how to reach the states it reached.

    Whole episodes are stored; a sampled minibatch holds a fraction ``her_ratio = 1 - 1 / (n_sampled_goal + 1)`` of
    virtual transitions, whose desired goal is replaced by an achieved goal of the same episode and whose reward is
    recomputed with the environment's ``compute_reward`` (called once per minibatch, on the whole batch). Only
    finished episodes are sampled. With the ``future`` strategy the transition's own achieved goal may be chosen.

    :param buffer_size: maximum number of transitions, over all environments
    :param observation_space: the Dict observation space
    :param action_space: the action space
    :param env: the (vectorized) environment, whose ``compute_reward`` relabels rewards
    :param device: kept for SB3 compatibility
    :param n_envs: number of parallel environments
    :param optimize_memory_usage: not supported (must be False)
    :param handle_timeout_termination: do not treat time-limit episode ends as terminal
    :param n_sampled_goal: number of virtual transitions per real one
    :param goal_selection_strategy: ``"future"``, ``"final"``, ``"episode"`` or a ``GoalSelectionStrategy``
    :param copy_info_dict: store the infos and pass them to ``compute_reward`` (for rewards that need them; slower)
    """

    env: VecEnv | None

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        env: VecEnv,
        device: Any = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        n_sampled_goal: int = 4,
        goal_selection_strategy: GoalSelectionStrategy | str = "future",
        copy_info_dict: bool = False,
    ):
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=optimize_memory_usage,
            handle_timeout_termination=handle_timeout_termination,
        )
        missing = {"achieved_goal", "desired_goal"} - set(observation_space.spaces)
        if missing:
            raise ValueError(
                f"HerReplayBuffer needs a goal-conditioned Dict observation space with the keys 'observation', "
                f"'achieved_goal' and 'desired_goal'; {sorted(missing)} missing in {observation_space}"
            )
        self.env = env
        self.copy_info_dict = copy_info_dict

        if isinstance(goal_selection_strategy, str):
            if goal_selection_strategy.lower() not in KEY_TO_GOAL_STRATEGY:
                raise ValueError(
                    f"Invalid goal selection strategy '{goal_selection_strategy}', "
                    f"please use one of {list(KEY_TO_GOAL_STRATEGY)}"
                )
            goal_selection_strategy = KEY_TO_GOAL_STRATEGY[goal_selection_strategy.lower()]
        if not isinstance(goal_selection_strategy, GoalSelectionStrategy):
            raise ValueError(
                f"Invalid goal selection strategy {goal_selection_strategy!r}, please use one of {list(GoalSelectionStrategy)}"
            )
        self.goal_selection_strategy = goal_selection_strategy
        self.n_sampled_goal = n_sampled_goal
        self.her_ratio = 1 - (1.0 / (self.n_sampled_goal + 1))

        # Infos are kept only when compute_reward needs them.
        self.infos = np.empty((self.buffer_size, self.n_envs), dtype=object)
        if copy_info_dict:
            for idx in np.ndindex(self.infos.shape):
                self.infos[idx] = {}
        # Per stored transition: the slot where its episode starts and the episode's length (0 while the episode is
        # not finished, or once it is being overwritten, so that it is not sampled).
        self.ep_start = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self.ep_length = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self._current_ep_start = np.zeros(self.n_envs, dtype=np.int64)

    def __getstate__(self) -> dict[str, Any]:
        """:return: the state to pickle, without the environment (often not picklable)"""
        state = super().__getstate__()
        del state["env"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """
        Restore a pickled state; ``set_env()`` must be called before sampling.

        :param state: the unpickled state
        """
        self.__dict__.update(state)
        if "env" in state:
            raise AssertionError("a pickled HerReplayBuffer must not contain its environment")
        self.env = None

    def set_env(self, env: VecEnv) -> None:
        """
        Attach the environment after loading.

        :param env: the environment
        """
        if self.env is not None:
            raise ValueError("Trying to set env of already initialized environment.")
        self.env = env

    def add(  # type: ignore[override]
        self,
        obs: dict[str, np.ndarray],
        next_obs: dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """
        Store one transition of every environment; an episode becomes samplable when it ends.

        :param obs: observations
        :param next_obs: next observations
        :param action: actions
        :param reward: rewards
        :param done: episode ends
        :param infos: infos of the step
        """
        # Overwriting the oldest episode of an env: drop all of it, not only this slot, so that no partial episode
        # is sampled.
        for env_idx in range(self.n_envs):
            old_length = self.ep_length[self.pos, env_idx]
            if old_length > 0:
                old_start = self.ep_start[self.pos, env_idx]
                self.ep_length[np.arange(old_start, old_start + old_length) % self.buffer_size, env_idx] = 0

        self.ep_start[self.pos] = self._current_ep_start
        if self.copy_info_dict:
            self.infos[self.pos] = infos
        super().add(obs, next_obs, action, reward, done, infos)  # type: ignore[arg-type]

        for ended_env in np.flatnonzero(done):
            self._compute_episode_length(int(ended_env))

    def _compute_episode_length(self, env_idx: int) -> None:
        """
        Close the current episode of an environment (it ends just before ``pos``): record its length on all its slots.

        :param env_idx: the environment
        """
        episode_start = self._current_ep_start[env_idx]
        episode_end = self.pos
        if episode_end < episode_start:
            # The episode wrapped around the end of the ring.
            episode_end += self.buffer_size
        self.ep_length[np.arange(episode_start, episode_end) % self.buffer_size, env_idx] = episode_end - episode_start
        self._current_ep_start[env_idx] = self.pos

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> DictReplayBufferSamples:  # type: ignore[override]
        """
        Sample a minibatch of real and virtual transitions from finished episodes.

        :param batch_size: number of transitions
        :param env: a VecNormalize wrapper to normalize the observations and rewards with
        :return: the samples, as MLX arrays
        """
        return self.sample_batches(batch_size, 1, env)

    def sample_batches(  # type: ignore[override]
        self, batch_size: int, n_batches: int, env: VecNormalize | None = None
    ) -> DictReplayBufferSamples:
        """
        Sample several minibatches at once; each one, rows ``[i * batch_size, (i + 1) * batch_size)``, holds its
        real transitions first, then ``int(her_ratio * batch_size)`` virtual ones.

        :param batch_size: minibatch size
        :param n_batches: number of minibatches
        :param env: a VecNormalize wrapper to normalize the observations and rewards with
        :return: the samples, as MLX arrays
        """
        is_valid = self.ep_length > 0
        if not np.any(is_valid):
            raise RuntimeError(
                "Unable to sample before the end of the first episode. We recommend choosing a value "
                "for learning_starts that is greater than the maximum number of timesteps in the environment."
            )
        # Flat indices of the samplable (step, env) slots, turned back into both indices.
        sampled = np.random.choice(np.flatnonzero(is_valid), size=batch_size * n_batches, replace=True)
        batch_inds, env_indices = np.unravel_index(sampled, is_valid.shape)

        n_virtual = int(self.her_ratio * batch_size)
        # Per minibatch: real transitions first, then the virtual ones.
        virtual = (np.arange(batch_size) >= batch_size - n_virtual)[None, :].repeat(n_batches, axis=0).reshape(-1)

        obs = {key: values[batch_inds, env_indices] for key, values in self.observations.items()}
        next_obs = {key: values[batch_inds, env_indices] for key, values in self.next_observations.items()}
        rewards = self.rewards[batch_inds, env_indices].copy()
        if virtual.any():
            new_goals = self._sample_goals(batch_inds[virtual], env_indices[virtual])
            obs["desired_goal"][virtual] = new_goals
            # The goal does not change within a transition.
            next_obs["desired_goal"][virtual] = new_goals
            rewards[virtual] = self._relabel_rewards(
                next_obs["achieved_goal"][virtual], new_goals, batch_inds[virtual], env_indices[virtual]
            )

        return self._to_dict_samples(
            self._normalize_obs(obs, env),
            self.actions[batch_inds, env_indices],
            self._normalize_obs(next_obs, env),
            self._terminal_dones(batch_inds, env_indices),
            self._normalize_reward(rewards.reshape(-1, 1), env),
        )

    def _relabel_rewards(
        self, achieved_goals: np.ndarray, desired_goals: np.ndarray, batch_inds: np.ndarray, env_indices: np.ndarray
    ) -> np.ndarray:
        """
        :param achieved_goals: the goals achieved by the transitions (those of their next observations)
        :param desired_goals: the new desired goals
        :param batch_inds: step indices of the transitions
        :param env_indices: environment indices of the transitions
        :return: the rewards for the new goals
        """
        if self.env is None:
            raise ValueError(
                "You must initialize HerReplayBuffer with a VecEnv so it can compute rewards for virtual transitions"
            )
        if self.copy_info_dict:
            infos = copy.deepcopy(self.infos[batch_inds, env_indices])
        else:
            infos = [{} for _ in range(len(batch_inds))]
        # r_t depends on s_{t+1}, hence the achieved goal of the next observation. All envs are assumed identical:
        # the first one computes the rewards of the whole batch.
        rewards = self.env.env_method("compute_reward", achieved_goals, desired_goals, infos, indices=[0])[0]
        return np.asarray(rewards, dtype=np.float32).reshape(-1)

    def _sample_goals(self, batch_inds: np.ndarray, env_indices: np.ndarray) -> np.ndarray:
        """
        :param batch_inds: step indices of the transitions
        :param env_indices: environment indices of the transitions
        :return: an achieved goal of each transition's episode, chosen by the goal selection strategy
        """
        episode_starts = self.ep_start[batch_inds, env_indices]
        episode_lengths = self.ep_length[batch_inds, env_indices]
        if self.goal_selection_strategy == GoalSelectionStrategy.FINAL:
            goal_steps = episode_lengths - 1
        elif self.goal_selection_strategy == GoalSelectionStrategy.FUTURE:
            # From the transition itself (inclusive) to the end of its episode.
            current_steps = (batch_inds - episode_starts) % self.buffer_size
            goal_steps = np.random.randint(current_steps, episode_lengths)
        elif self.goal_selection_strategy == GoalSelectionStrategy.EPISODE:
            goal_steps = np.random.randint(0, episode_lengths)
        else:
            raise ValueError(f"Strategy {self.goal_selection_strategy} for sampling goals not supported!")
        goal_inds = (episode_starts + goal_steps) % self.buffer_size
        return self.next_observations["achieved_goal"][goal_inds, env_indices]

    def truncate_last_trajectory(self) -> None:
        """
        Close the unfinished episodes at the end of the buffer (after loading a buffer, when training does not resume
        the same episodes): they are marked done and become samplable, with timeout handling bootstrapping them as
        time-limit ends rather than true terminations.
        """
        unfinished = np.flatnonzero(self._current_ep_start != self.pos)
        if len(unfinished) == 0:
            return
        warnings.warn(
            "The last trajectory in the replay buffer will be truncated.\n"
            "If you are in the same episode as when the replay buffer was saved,\n"
            "you should use `truncate_last_trajectory=False` to avoid that issue."
        )
        last = (self.pos - 1) % self.buffer_size
        for env_idx in unfinished:
            self.dones[last, env_idx] = True
            self._compute_episode_length(int(env_idx))
            if self.handle_timeout_termination:
                # Not a real timeout, but it keeps bootstrapping from the next state.
                self.timeouts[last, env_idx] = True
