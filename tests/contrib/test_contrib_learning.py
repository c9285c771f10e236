"""
Small but real learning checks (the long runs, with sb3-contrib beside us, are in benchmarks/learning_contrib.py):
MaskablePPO solves an invalid-action identity task without ever taking an invalid action, and RecurrentPPO solves a
task that needs memory, where PPO without memory stays at chance.
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.contrib import MaskablePPO, RecurrentPPO
from mlx_baselines3.contrib.common.envs import InvalidActionEnvDiscrete
from mlx_baselines3.contrib.common.maskable.evaluation import evaluate_policy as evaluate_masked


class CueEnv(gym.Env):
    """The first observation shows a cue (one-hot); after ``delay`` blank steps, the action must repeat it."""

    def __init__(self, delay: int = 2):
        self.observation_space = spaces.Box(0, 1, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.delay = delay

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cue, self.t = int(self.np_random.integers(2)), 0
        return np.eye(2, dtype=np.float32)[self.cue], {}

    def step(self, action):
        self.t += 1
        blank = np.zeros(2, np.float32)
        if self.t <= self.delay:
            return blank, 0.0, False, False, {}
        return blank, float(action == self.cue), True, False, {}


class CountInvalid(gym.Wrapper):
    """Counts the actions the wrapped env's mask forbade."""

    def __init__(self, env):
        super().__init__(env)
        self.invalid = 0
        self.steps = 0

    def step(self, action):
        self.steps += 1
        self.invalid += not self.env.unwrapped.action_masks()[int(action)]
        return self.env.step(action)


def test_maskable_ppo_solves_invalid_action_env_without_invalid_actions():
    env = CountInvalid(InvalidActionEnvDiscrete(dim=10, n_invalid_actions=7))
    model = MaskablePPO("MlpPolicy", env, n_steps=128, batch_size=64, gamma=0.4, learning_rate=3e-3, seed=0)
    model.learn(2048)
    mean_reward, _ = evaluate_masked(model, env, n_eval_episodes=5, warn=False)
    # Chance among the 3 allowed actions is 33 of 100; the optimum is 100.
    assert mean_reward >= 90
    assert env.steps > 2500 and env.invalid == 0


def test_recurrent_ppo_remembers_where_ppo_cannot():
    settings = dict(n_steps=32, batch_size=64, n_epochs=4, learning_rate=3e-3, seed=0)
    recurrent = RecurrentPPO(
        "MlpLstmPolicy",
        make_vec_env(CueEnv, n_envs=4, seed=0),
        policy_kwargs=dict(lstm_hidden_size=16, net_arch=[]),
        **settings,
    )
    recurrent.learn(2048)
    memoryless = PPO("MlpPolicy", make_vec_env(CueEnv, n_envs=4, seed=0), **settings)
    memoryless.learn(2048)
    recurrent_reward, _ = evaluate_policy(recurrent, CueEnv(), n_eval_episodes=50, warn=False)
    memoryless_reward, _ = evaluate_policy(memoryless, CueEnv(), n_eval_episodes=50, warn=False)
    assert recurrent_reward >= 0.95
    # Without memory the cue is gone at decision time: chance (0.5) up to noise.
    assert memoryless_reward <= 0.75
