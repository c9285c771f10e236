"""
Dict observations with ``MultiInputPolicy``: PPO learns SB3's grid world ``SimpleMultiObsEnv``, where each cell is
seen only as ``{"vec": 5 numbers, "img": a 64x64 image}``, so the agent must read both to know where it is.

The policy's ``CombinedExtractor`` gives the image key a NatureCNN and flattens the vector key; the algorithm picks a
``DictRolloutBuffer`` and transposes the channel-last image key to channel-first, as SB3 does.

Run: ``python examples/multi_input_dict_env.py`` (about 5000 steps, under a minute on a laptop CPU).
"""

import argparse
import os
import tempfile

import numpy as np

from mlx_baselines3 import PPO
from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.common.envs import SimpleMultiObsEnv
from mlx_baselines3.common.evaluation import evaluate_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # The cells' vectors and images are drawn from NumPy's global generator when the env is built.
    np.random.seed(args.seed)
    env = make_vec_env(lambda: SimpleMultiObsEnv(random_start=False), n_envs=4, seed=args.seed)
    print("observation space:", env.observation_space)

    model = PPO(
        "MultiInputPolicy",
        env,
        n_steps=128,
        batch_size=128,
        n_epochs=4,
        learning_rate=1e-3,
        policy_kwargs=dict(net_arch=[64], features_extractor_kwargs=dict(cnn_output_dim=64)),
        seed=args.seed,
    )
    extractor = model.policy.features_extractor
    print(f"{type(model.rollout_buffer).__name__}; image key as seen by the policy: {model.observation_space['img'].shape}")
    print(f"features: {', '.join(f'{key} -> {type(net).__name__}' for key, net in extractor.extractors.items())}")
    print(f"{extractor.features_dim} features in total")

    model.learn(args.timesteps)
    # The shortest path from cell 0 to the goal takes 6 moves: 5 x -0.1 + 1 = 0.5.
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=4)
    print(f"after {args.timesteps} steps: mean return {mean_reward:.2f} (best possible 0.50, -10.1 when lost)")

    # Walk one episode and print the moves.
    walker = SimpleMultiObsEnv(random_start=False)
    walker.state_mapping = env.envs[0].unwrapped.state_mapping  # the same cell observations as in training
    obs, _ = walker.reset()
    for _ in range(12):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, _ = walker.step(action)
        walker.render()
        if terminated or truncated:
            break

    # Dict observations save and load like any others.
    with tempfile.TemporaryDirectory() as folder:
        model.save(os.path.join(folder, "ppo_multi_input.zip"))
        loaded = PPO.load(os.path.join(folder, "ppo_multi_input.zip"))
    batch = env.reset()
    assert np.array_equal(loaded.predict(batch, deterministic=True)[0], model.predict(batch, deterministic=True)[0])
    print("saved, reloaded: same actions")


if __name__ == "__main__":
    main()
