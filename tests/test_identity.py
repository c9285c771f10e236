"""Learning checks on the identity tasks (the reward is 1 when the action repeats the observation): every action space
reaches SB3's threshold of 90 reward over 100-step episodes, with gSDE too."""

import numpy as np
import pytest

from mlx_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
from mlx_baselines3.common.envs import IdentityEnv, IdentityEnvBox, IdentityEnvMultiBinary, IdentityEnvMultiDiscrete
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.noise import NormalActionNoise
from mlx_baselines3.common.vec_env import DummyVecEnv

DIM = 4
# SB3's threshold: 90 correct actions out of 100 on average over 20 episodes.
REWARD_THRESHOLD = 90


def _check_learned(model, env) -> None:
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=20, reward_threshold=REWARD_THRESHOLD, warn=False)
    assert mean_reward >= REWARD_THRESHOLD


@pytest.mark.parametrize(
    "algo, env_class, total_timesteps, kwargs",
    [
        (A2C, IdentityEnv, 2000, {}),
        (A2C, IdentityEnvMultiDiscrete, 2000, {}),
        (A2C, IdentityEnvMultiBinary, 4000, {}),
        (PPO, IdentityEnv, 2048, {}),
        (PPO, IdentityEnvMultiDiscrete, 2048, dict(n_steps=512)),
        (PPO, IdentityEnvMultiBinary, 4096, {}),
        (DQN, IdentityEnv, 2000, dict(learning_starts=0)),
    ],
)
def test_discrete_identity(algo, env_class, total_timesteps, kwargs):
    env = DummyVecEnv([lambda: env_class(DIM)])
    model = algo("MlpPolicy", env, gamma=0.4, seed=1, **kwargs).learn(total_timesteps)
    _check_learned(model, env)
    obs = env.reset()
    assert np.shape(model.predict(obs)[0]) == np.shape(obs)


@pytest.mark.parametrize(
    "algo, kwargs",
    [
        (A2C, dict(gamma=0.95, policy_kwargs=dict(net_arch=[64, 64], log_std_init=-0.5))),
        (PPO, dict(n_steps=512, n_epochs=5)),
        # gSDE, resampling the exploration matrix every 4 steps.
        (
            PPO,
            dict(
                gamma=0.95,
                n_steps=256,
                n_epochs=5,
                use_sde=True,
                sde_sample_freq=4,
                policy_kwargs=dict(log_std_init=-1.0, net_arch=[64]),
            ),
        ),
    ],
)
def test_continuous_identity(algo, kwargs):
    env = IdentityEnvBox(eps=0.5)
    model = algo("MlpPolicy", env, learning_rate=1e-3, seed=0, **kwargs).learn(2000)
    _check_learned(model, env)


@pytest.mark.parametrize("algo", [SAC, TD3, DDPG])
def test_off_policy_continuous_identity(algo):
    env = IdentityEnvBox(eps=0.5)
    kwargs = dict(policy_kwargs=dict(net_arch=[64, 64]), gamma=0.95)
    if algo is TD3:
        kwargs["action_noise"] = NormalActionNoise(mean=np.zeros(1), sigma=0.1 * np.ones(1))
    # 100 random warm-up steps (learning_starts), then 300 steps of training.
    model = algo("MlpPolicy", env, learning_rate=1e-3, seed=0, **kwargs).learn(400)
    _check_learned(model, env)
