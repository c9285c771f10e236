"""
Hindsight Experience Replay with DQN on bit flipping: flip one of 8 bits per step to match a goal pattern, with a -1
reward until it matches. Random exploration almost never sees a success; HER relabels failed episodes with the
patterns they did reach, so the agent learns anyway.
"""

import numpy as np

from mlx_baselines3 import DQN, HerReplayBuffer
from mlx_baselines3.common.envs import BitFlippingEnv

N_BITS = 8
env = BitFlippingEnv(n_bits=N_BITS, continuous=False, max_steps=N_BITS)
model = DQN(
    "MultiInputPolicy",
    env,
    replay_buffer_class=HerReplayBuffer,
    # Four virtual transitions (goals achieved later in the same episode) per real one.
    replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
    learning_rate=1e-3,
    batch_size=128,
    learning_starts=20 * N_BITS,
    gamma=0.95,
    train_freq=1,
    target_update_interval=200,
    exploration_fraction=0.1,
    exploration_final_eps=0.02,
    policy_kwargs=dict(net_arch=[128, 128]),
    verbose=1,
    seed=0,
)
model.learn(total_timesteps=15_000, log_interval=200)

# The replay buffer can be saved and loaded with the model; the env is attached again on load.
model.save("dqn_her_bit_flipping")
model.save_replay_buffer("dqn_her_bit_flipping_replay_buffer")
model = DQN.load("dqn_her_bit_flipping", env=env)
model.load_replay_buffer("dqn_her_bit_flipping_replay_buffer")

successes = []
for episode in range(100):
    obs, _ = env.reset(seed=episode)
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    successes.append(info["is_success"])
print(f"success rate over 100 episodes: {np.mean(successes):.2f}")
