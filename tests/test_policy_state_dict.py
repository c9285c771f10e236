"""Policies' state_dict()/load_state_dict() with SB3's key names, and SB3's "accessing and modifying model parameters"
example (imports swapped, torch operations written with MLX, budgets shrunk)."""

import mlx.core as mx
import numpy as np
import pytest

from mlx_baselines3 import A2C, PPO
from mlx_baselines3.common.evaluation import evaluate_policy


def test_state_dict_has_sb3_keys_and_layouts():
    model = PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [32]})
    state = model.policy.state_dict()
    assert list(state)[:2] == ["mlp_extractor.policy_net.0.weight", "mlp_extractor.policy_net.0.bias"]
    assert state["mlp_extractor.policy_net.0.weight"].shape == (32, 4) and isinstance(state["action_net.weight"], mx.array)
    sb3 = pytest.importorskip("stable_baselines3")
    sb3_model = sb3.PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [32]})
    expected = {key: tuple(value.shape) for key, value in sb3_model.policy.state_dict().items()}
    assert {key: tuple(value.shape) for key, value in state.items()} == expected
    # SB3's tensors (as NumPy) load into ours and give the same actions.
    result = model.policy.load_state_dict({key: value.numpy() for key, value in sb3_model.policy.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    obs = np.array([[0.02, 0.1, -0.03, 0.2]], dtype=np.float32)
    assert model.predict(obs, deterministic=True)[0] == sb3_model.predict(obs, deterministic=True)[0]


def test_load_state_dict_strict_and_partial():
    model = A2C("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]})
    state = model.policy.state_dict()
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \['action_net.bias'"):
        model.policy.load_state_dict({k: v for k, v in state.items() if k != "action_net.bias"})
    with pytest.raises(RuntimeError, match=r"size mismatch for action_net\.weight"):
        model.policy.load_state_dict({**state, "action_net.weight": np.zeros((3, 8))})
    result = model.policy.load_state_dict({"action_net.bias": np.array([1.0, -1.0])}, strict=False)
    assert "action_net.weight" in result.missing_keys and result.unexpected_keys == []
    np.testing.assert_array_equal(model.policy.state_dict()["action_net.bias"], [1.0, -1.0])


def mutate(params: dict[str, mx.array]) -> dict[str, mx.array]:
    """Mutate parameters by adding normal noise to them (SB3's example, th.randn_like -> mx.random.normal)."""
    return {name: param + mx.random.normal(param.shape) for name, param in params.items()}


def test_sb3_accessing_and_modifying_parameters_example():
    mx.random.seed(0)
    model = A2C("MlpPolicy", "CartPole-v1", ent_coef=0.0, policy_kwargs={"net_arch": [32]}, seed=0, learning_rate=0.05)
    model.learn(total_timesteps=500)
    # Only the variables that affect the action, as in SB3's example.
    mean_params = {
        key: value
        for key, value in model.policy.state_dict().items()
        if ("policy" in key or "shared_net" in key or "action" in key)
    }
    assert sorted(mean_params) == [
        "action_net.bias",
        "action_net.weight",
        "mlp_extractor.policy_net.0.bias",
        "mlp_extractor.policy_net.0.weight",
    ]
    pop_size, n_elite = 6, 2
    vec_env = model.get_env()
    fitnesses = []
    for _ in range(2):
        population = []
        for _ in range(pop_size):
            candidate = mutate(mean_params)
            model.policy.load_state_dict(candidate, strict=False)
            np.testing.assert_array_equal(model.policy.state_dict()["action_net.bias"], candidate["action_net.bias"])
            fitness, _ = evaluate_policy(model, vec_env, n_eval_episodes=2)
            population.append((candidate, fitness))
        top_candidates = sorted(population, key=lambda x: x[1], reverse=True)[:n_elite]
        mean_params = {
            name: mx.stack([candidate[0][name] for candidate in top_candidates]).mean(axis=0) for name in mean_params
        }
        fitnesses.append(sum(top_candidate[1] for top_candidate in top_candidates) / n_elite)
    assert all(fitness >= 8 for fitness in fitnesses)  # CartPole returns at least 8 per episode
