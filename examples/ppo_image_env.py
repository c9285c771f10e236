"""
Train PPO's ``CnnPolicy`` on pixels.

By default on a small image task shipped here (seconds to learn on a laptop CPU): each frame shows a white square in
the left, middle or right third of a dark 36x36 image, and the agent is paid 1 for naming that third. The frames are
channel-last (H, W, C) like most image envs; the algorithm wraps them in ``VecTransposeImage`` for the CNN, as SB3
does.

With ``--atari``, the same code trains on an Atari game with SB3's recipe (``make_atari_env`` preprocessing, four
stacked frames, Zoo hyperparameters). It needs ``ale-py`` (``pip install ale-py``) and, to learn Breakout, a few
million steps.

Run: ``python examples/ppo_image_env.py`` or ``python examples/ppo_image_env.py --atari --timesteps 100000``.
"""

import argparse

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_atari_env, make_vec_env
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.utils import LinearSchedule
from mlx_baselines3.common.vec_env import VecFrameStack


class SquareThirdEnv(gym.Env):
    """
    Pixel task: name the third (left, middle, right) of the image holding a white square.

    :param size: image height and width (36 is about the smallest image NatureCNN accepts)
    :param square: side of the square, in pixels
    :param episode_length: steps per episode
    """

    def __init__(self, size: int = 36, square: int = 8, episode_length: int = 10) -> None:
        super().__init__()
        self.size, self.square, self.episode_length = size, square, episode_length
        self.observation_space = spaces.Box(0, 255, (size, size, 1), dtype=np.uint8)
        self.action_space = spaces.Discrete(3)
        self._third = 0
        self._steps = 0

    def _draw(self) -> np.ndarray:
        self._third = int(self.np_random.integers(3))
        width = self.size // 3
        x = self._third * width + int(self.np_random.integers(0, width - self.square + 1))
        y = int(self.np_random.integers(0, self.size - self.square + 1))
        # Dim noise everywhere, so that the CNN has to find the square rather than any bright pixel.
        frame = self.np_random.integers(0, 60, size=(self.size, self.size, 1), dtype=np.uint8)
        frame[y : y + self.square, x : x + self.square] = 255
        return frame

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._steps = 0
        return self._draw(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = float(int(action) == self._third)
        self._steps += 1
        return self._draw(), reward, False, self._steps >= self.episode_length, {}


def train_on_squares(timesteps: int, seed: int) -> None:
    env = make_vec_env(SquareThirdEnv, n_envs=4, seed=seed)
    # Each decision is independent of the next, so no discounting is needed (gamma=0): a contextual bandit on pixels.
    model = PPO(
        "CnnPolicy",
        env,
        n_steps=64,
        batch_size=64,
        n_epochs=4,
        gamma=0.0,
        learning_rate=1e-3,
        policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=64)),
        seed=seed,
        verbose=1,
    )
    print(f"env frames {env.observation_space.shape} -> policy input {model.observation_space.shape}")
    eval_env = make_vec_env(SquareThirdEnv, n_envs=1, seed=seed + 1000)
    before, _ = evaluate_policy(model, eval_env, n_eval_episodes=20)
    model.learn(timesteps)
    after, _ = evaluate_policy(model, eval_env, n_eval_episodes=20)
    print(
        f"mean return over 20 episodes (10 = always right, ~3.3 = guessing): {before:.2f} before, {after:.2f} after training"
    )


def train_on_atari(env_id: str, timesteps: int, seed: int) -> None:
    # SB3's Atari preprocessing: noop/fire resets, frame skip, 84x84 grayscale, clipped rewards, end of life = end.
    env = VecFrameStack(make_atari_env(env_id, n_envs=8, seed=seed), n_stack=4)
    # RL Zoo's PPO hyperparameters for Atari.
    model = PPO(
        "CnnPolicy",
        env,
        n_steps=128,
        n_epochs=4,
        batch_size=256,
        learning_rate=LinearSchedule(2.5e-4, 0.0, 1.0),
        clip_range=LinearSchedule(0.1, 0.0, 1.0),
        vf_coef=0.5,
        ent_coef=0.01,
        seed=seed,
        verbose=1,
    )
    model.learn(timesteps)
    model.save(f"ppo_{env_id}")
    mean_reward, std_reward = evaluate_policy(model, model.get_env(), n_eval_episodes=5)
    print(f"{env_id}: mean game score {mean_reward:.1f} +/- {std_reward:.1f} (the model is saved as ppo_{env_id}.zip)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atari", action="store_true", help="train on an Atari game (needs ale-py)")
    parser.add_argument("--env-id", default="BreakoutNoFrameskip-v4", help="the Atari game, with --atari")
    parser.add_argument("--timesteps", type=int, default=None, help="default: 3000, or 10M with --atari")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.atari:
        train_on_atari(args.env_id, args.timesteps or 10_000_000, args.seed)
    else:
        train_on_squares(args.timesteps or 3000, args.seed)


if __name__ == "__main__":
    main()
