"""HerReplayBuffer: episode bookkeeping, goal relabelling per strategy, recomputed rewards, overwriting, truncation,
save/load through the algorithm, several envs, and DQN solving bit flipping."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3 import DQN, HerReplayBuffer
from mlx_baselines3.common.envs import BitFlippingEnv
from mlx_baselines3.common.vec_env import DummyVecEnv
from mlx_baselines3.her import GoalSelectionStrategy


class StepGoalEnv(gym.Env):
    """Goal env whose achieved goal encodes (episode, step) as 100 * episode + step; the desired goal is never reached."""

    def __init__(self):
        box = spaces.Box(-1e4, 1e4, shape=(1,), dtype=np.float32)
        self.observation_space = spaces.Dict({"achieved_goal": box, "desired_goal": box, "observation": box})
        self.action_space = spaces.Discrete(2)
        self.infos_seen: list = []

    def compute_reward(self, achieved_goal, desired_goal, info):
        self.infos_seen.append(info)
        return -(np.abs(achieved_goal - desired_goal).sum(axis=-1) > 0).astype(np.float32)

    def reset(self, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), -1.0, False, False, {}


def make_buffer(buffer_size=100, n_envs=1, **kwargs) -> HerReplayBuffer:
    env = DummyVecEnv([StepGoalEnv] * n_envs)
    return HerReplayBuffer(buffer_size, env.observation_space, env.action_space, env, n_envs=n_envs, **kwargs)


def add_episodes(buffer: HerReplayBuffer, lengths, episode_offset=0, finish_last=True) -> None:
    """Episodes of the given lengths (one env), transitions t -> t + 1 with achieved goals 100 * episode + t."""
    for episode, length in enumerate(lengths, start=episode_offset):
        for t in range(length):
            achieved = 100.0 * episode + t

            def obs(goal):
                return {
                    key: np.array([[value]], dtype=np.float32)
                    for key, value in [("achieved_goal", goal), ("desired_goal", -1.0), ("observation", goal)]
                }

            done = t == length - 1 and (finish_last or episode < episode_offset + len(lengths) - 1)
            buffer.add(obs(achieved), obs(achieved + 1), np.array([0]), np.array([-1.0]), np.array([done]), [{"t": t}])


def virtual_rows(batch_size: int, n_sampled_goal: int) -> slice:
    n_virtual = int((1 - 1 / (n_sampled_goal + 1)) * batch_size)
    return slice(batch_size - n_virtual, batch_size)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid goal selection strategy 'futur'"):
        make_buffer(goal_selection_strategy="futur")
    with pytest.raises(ValueError, match="Invalid goal selection strategy 3"):
        make_buffer(goal_selection_strategy=3)
    space = spaces.Dict({"observation": spaces.Box(-1, 1, (2,)), "goal": spaces.Box(-1, 1, (2,))})
    with pytest.raises(ValueError, match=r"\['achieved_goal', 'desired_goal'\] missing"):
        HerReplayBuffer(10, space, spaces.Discrete(2), env=None)
    with pytest.raises(ValueError, match="optimize_memory_usage"):
        make_buffer(optimize_memory_usage=True, handle_timeout_termination=False)


@pytest.mark.parametrize("strategy", ["future", "FINAL", GoalSelectionStrategy.EPISODE])
def test_strategy_names(strategy):
    expected = strategy if isinstance(strategy, GoalSelectionStrategy) else GoalSelectionStrategy[strategy.upper()]
    buffer = make_buffer(goal_selection_strategy=strategy, n_sampled_goal=3)
    assert buffer.goal_selection_strategy == expected and buffer.her_ratio == 0.75


def test_only_finished_episodes_are_sampled():
    buffer = make_buffer()
    add_episodes(buffer, [3], finish_last=False)
    with pytest.raises(RuntimeError, match="Unable to sample before the end of the first episode"):
        buffer.sample(4)
    add_episodes(buffer, [2], episode_offset=1)
    # Episode 0 never ended (no done): its 3 steps merged with episode 1's into one episode of 5 steps.
    np.testing.assert_array_equal(buffer.ep_length[:5, 0], [5] * 5)
    add_episodes(buffer, [4], episode_offset=2, finish_last=False)
    np.testing.assert_array_equal(buffer.ep_length[5:9, 0], [0] * 4)
    samples = buffer.sample(200)
    assert np.array(samples.observations["observation"]).max() < 200


@pytest.mark.parametrize("strategy", ["future", "final", "episode"])
def test_relabelled_goals_and_rewards(strategy):
    buffer = make_buffer(goal_selection_strategy=strategy, n_sampled_goal=4)
    lengths = [3, 5, 2, 6]
    add_episodes(buffer, lengths)
    samples = buffer.sample_batches(batch_size=20, n_batches=10)
    achieved = np.array(samples.observations["achieved_goal"])[:, 0].reshape(10, 20)
    desired = np.array(samples.observations["desired_goal"])[:, 0].reshape(10, 20)
    next_desired = np.array(samples.next_observations["desired_goal"])[:, 0].reshape(10, 20)
    rewards = np.array(samples.rewards)[:, 0].reshape(10, 20)
    virtual = virtual_rows(20, 4)
    # Real transitions first in each minibatch, with their own goal and reward.
    assert np.all(desired[:, : virtual.start] == -1) and np.all(rewards[:, : virtual.start] == -1)
    goals, current = desired[:, virtual], achieved[:, virtual]
    np.testing.assert_array_equal(next_desired[:, virtual], goals)
    episode, step = current // 100, current % 100
    goal_episode, goal_step = goals // 100, goals % 100
    # Goals are achieved goals (those of next observations: step + 1) of the same episode.
    np.testing.assert_array_equal(goal_episode, episode)
    final_step = np.array(lengths)[episode.astype(int)]
    assert np.all(goal_step >= 1) and np.all(goal_step <= final_step)
    if strategy == "final":
        np.testing.assert_array_equal(goal_step, final_step)
    elif strategy == "future":
        # Inclusive: the transition's own achieved goal can be chosen.
        assert np.all(goal_step >= step + 1) and np.any(goal_step == step + 1)
    else:
        assert np.any(goal_step < step + 1)
    # Rewards recomputed by the env: 0 when the goal is the transition's next achieved goal.
    np.testing.assert_array_equal(rewards[:, virtual], np.where(goal_step == step + 1, 0.0, -1.0))


def test_overwritten_episode_is_dropped():
    buffer = make_buffer(buffer_size=10)
    add_episodes(buffer, [4, 4, 4])
    # The third episode overwrote slots 0 and 1 of the first one: none of the first episode is left to sample.
    assert buffer.pos == 2
    np.testing.assert_array_equal(buffer.ep_length[:, 0], [4, 4, 0, 0, 4, 4, 4, 4, 4, 4])
    np.testing.assert_array_equal(buffer.ep_start[:, 0], [8, 8, 0, 0, 4, 4, 4, 4, 8, 8])
    observed = np.array(buffer.sample(300).observations["observation"])[:, 0]
    assert set(observed // 100) == {1.0, 2.0}


def test_truncate_last_trajectory():
    buffer = make_buffer()
    add_episodes(buffer, [3, 4], finish_last=False)
    assert buffer.ep_length[3:7, 0].sum() == 0
    with pytest.warns(UserWarning, match="last trajectory in the replay buffer will be truncated"):
        buffer.truncate_last_trajectory()
    np.testing.assert_array_equal(buffer.ep_length[3:7, 0], [4] * 4)
    assert buffer.dones[6, 0] == 1 and buffer.timeouts[6, 0] == 1 and buffer._current_ep_start[0] == 7
    # Nothing left to truncate: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        buffer.truncate_last_trajectory()


def test_copy_info_dict():
    buffer = make_buffer(copy_info_dict=True)
    add_episodes(buffer, [3])
    env = buffer.env.envs[0]
    buffer.sample(10)
    assert sorted({info["t"] for info in env.infos_seen[-1]}) <= [0, 1, 2] and len(env.infos_seen[-1]) == 8
    buffer = make_buffer()
    add_episodes(buffer, [3])
    buffer.sample(10)
    assert buffer.env.envs[0].infos_seen[-1] == [{}] * 8


def test_several_envs():
    buffer = make_buffer(buffer_size=40, n_envs=2)
    for t in range(6):
        obs = {key: np.array([[t], [50 + t]], dtype=np.float32) for key in ("achieved_goal", "observation")}
        obs["desired_goal"] = np.full((2, 1), -1.0, dtype=np.float32)
        next_obs = {key: value + (key != "desired_goal") for key, value in obs.items()}
        # Env 0: episodes of 3 steps; env 1: one episode of 6.
        done = np.array([t % 3 == 2, t == 5])
        buffer.add(obs, next_obs, np.array([0, 1]), np.array([-1.0, -1.0]), done, [{}, {}])
    np.testing.assert_array_equal(buffer.ep_length[:6].T, [[3] * 6, [6] * 6])
    np.testing.assert_array_equal(buffer.ep_start[:6].T, [[0, 0, 0, 3, 3, 3], [0] * 6])
    samples = buffer.sample(400)
    observation = np.array(samples.observations["observation"])[:, 0]
    goals = np.array(samples.observations["desired_goal"])[:, 0]
    virtual = slice(400 - int(0.8 * 400), 400)
    # Goals come from the same env and episode, at or after the transition.
    same_env = (observation[virtual] >= 50) == (goals[virtual] >= 50)
    assert same_env.all() and np.all(goals[virtual] >= observation[virtual] + 1)


def test_save_load_with_algorithm(tmp_path):
    env = BitFlippingEnv(n_bits=4, continuous=False, max_steps=4)
    kwargs = dict(
        replay_buffer_class=HerReplayBuffer,
        learning_starts=20,
        buffer_size=200,
        train_freq=1,
        policy_kwargs=dict(net_arch=[16]),
    )
    model = DQN("MultiInputPolicy", env, **kwargs)
    model.learn(42)
    model.save_replay_buffer(tmp_path / "her")
    original = model.replay_buffer
    # A fresh episode is under way at 42 steps unless the last one just ended: keep it going.
    loaded = DQN("MultiInputPolicy", env, **kwargs)
    loaded.load_replay_buffer(tmp_path / "her", truncate_last_traj=False)
    buffer = loaded.replay_buffer
    assert isinstance(buffer, HerReplayBuffer) and buffer.env is loaded.env and buffer is not original
    for name in ("actions", "rewards", "dones", "timeouts", "ep_start", "ep_length", "_current_ep_start"):
        np.testing.assert_array_equal(getattr(buffer, name), getattr(original, name), err_msg=name)
    for key in original.observations:
        np.testing.assert_array_equal(buffer.observations[key], original.observations[key])
        np.testing.assert_array_equal(buffer.next_observations[key], original.next_observations[key])
    assert (buffer.pos, buffer.n_sampled_goal, buffer.goal_selection_strategy) == (42, 4, GoalSelectionStrategy.FUTURE)
    # With truncation, the unfinished episode (if any) becomes samplable.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The last trajectory in the replay buffer will be truncated")
        loaded.load_replay_buffer(tmp_path / "her")
    assert loaded.replay_buffer._current_ep_start[0] == 42
    loaded.learn(30)
    assert loaded.replay_buffer.pos == 72
    # The env is not pickled, and an unpickled buffer refuses a second env.
    assert "env" not in original.__getstate__()
    with pytest.raises(ValueError, match="already initialized"):
        loaded.replay_buffer.set_env(loaded.env)


def test_dqn_solves_bit_flipping_with_several_envs():
    n_bits = 4
    env = DummyVecEnv([lambda: BitFlippingEnv(n_bits=n_bits, continuous=False, max_steps=n_bits)] * 2)
    model = DQN(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
        learning_rate=1e-3,
        learning_starts=100,
        exploration_fraction=0.1,
        exploration_final_eps=0.02,
        target_update_interval=100,
        batch_size=64,
        gamma=0.95,
        policy_kwargs=dict(net_arch=[64]),
        seed=0,
    )
    model.learn(3000)
    eval_env = BitFlippingEnv(n_bits=n_bits, continuous=False, max_steps=n_bits)
    successes = []
    for episode in range(20):
        obs, _ = eval_env.reset(seed=episode)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = eval_env.step(action)
            done = terminated or truncated
        successes.append(info["is_success"])
    assert np.mean(successes) >= 0.9


def test_her_class_points_to_the_buffer():
    import mlx_baselines3

    with pytest.raises(ImportError, match="`HER` is now a replay buffer class `HerReplayBuffer`"):
        mlx_baselines3.HER("MlpPolicy", "CartPole-v1")


@pytest.mark.parametrize("algo", ["SAC", "TD3", "DDPG"])
def test_continuous_actions_algorithms(algo):
    import mlx_baselines3

    env = BitFlippingEnv(n_bits=4, continuous=True, max_steps=4)
    model = getattr(mlx_baselines3, algo)(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=2, goal_selection_strategy="final"),
        learning_starts=20,
        batch_size=16,
        buffer_size=500,
        policy_kwargs=dict(net_arch=[16]),
        seed=0,
    )
    model.learn(60)
    assert isinstance(model.replay_buffer, HerReplayBuffer) and model.replay_buffer.env is model.env
    assert model.replay_buffer.actions.dtype == np.float32 and model.replay_buffer.actions.shape[-1] == 4
    samples = model.replay_buffer.sample(16)
    # The last int(2/3 * 16) = 10 rows are relabelled with goals that were achieved.
    buffer = model.replay_buffer
    achieved = {tuple(goal) for goal in buffer.next_observations["achieved_goal"][: buffer.pos, 0]}
    assert all(tuple(goal) in achieved for goal in np.array(samples.observations["desired_goal"])[6:])


def test_sb3_her_buffer_loads(tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.envs import BitFlippingEnv as SB3BitFlippingEnv

    kwargs = dict(learning_starts=20, buffer_size=200, train_freq=1, policy_kwargs=dict(net_arch=[8]))
    theirs = sb3.DQN(
        "MultiInputPolicy", SB3BitFlippingEnv(n_bits=4, max_steps=4), replay_buffer_class=sb3.HerReplayBuffer, **kwargs
    )
    theirs.learn(30)
    theirs.save_replay_buffer(tmp_path / "sb3_her")
    ours = DQN("MultiInputPolicy", BitFlippingEnv(n_bits=4, max_steps=4), replay_buffer_class=HerReplayBuffer, **kwargs)
    ours.load_replay_buffer(tmp_path / "sb3_her", truncate_last_traj=False)
    buffer = ours.replay_buffer
    assert type(buffer) is HerReplayBuffer and buffer.env is ours.env and buffer.pos == 30
    for name in ("ep_start", "ep_length", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(getattr(buffer, name), getattr(theirs.replay_buffer, name), err_msg=name)
    ours.learn(30)
    assert buffer.pos == 60 and ours._n_updates > 0
