"""Critics as one stacked ensemble: the same numbers as separate networks, SB3's names on save and load."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from mlx_baselines3 import SAC, TD3
from mlx_baselines3.common.save_util import (
    load_module_state_dict,
    load_optimizer_state_dict,
    module_state_dict,
    optimizer_state_dict,
)
from mlx_baselines3.common.torch_layers import EnsembleMLP, create_mlp


def test_ensemble_computes_what_its_members_compute():
    mx.random.seed(0)
    networks = [nn.Sequential(*create_mlp(5, 2, [8, 4], nn.Tanh)) for _ in range(3)]
    reference = [[np.array(layer.weight) for layer in net.layers if isinstance(layer, nn.Linear)] for net in networks]
    ensemble = EnsembleMLP(networks, torch_prefix="qf")
    x = mx.random.normal((7, 5))
    outputs = ensemble(x)
    assert outputs.shape == (3, 7, 2)
    for index, network in enumerate(networks):
        np.testing.assert_allclose(np.array(outputs[index]), np.array(network(x)), atol=1e-6)
        np.testing.assert_allclose(np.array(ensemble.member(x, index)), np.array(network(x)), atol=1e-6)
        # torch's names and layouts: member i's layer j is "qf{i}.{position}.weight", [out, in].
        state = module_state_dict(ensemble_holder(ensemble))
        np.testing.assert_array_equal(np.array(state[f"qf{index}.0.weight"]), reference[index][0])
        np.testing.assert_array_equal(np.array(state[f"qf{index}.4.weight"]), reference[index][2])
    assert list(state) == [f"qf{i}.{p}.{k}" for i in range(3) for p in (0, 2, 4) for k in ("weight", "bias")]


def ensemble_holder(ensemble: EnsembleMLP) -> nn.Module:
    holder = nn.Module()
    holder.qf = ensemble
    return holder


def test_ensemble_rejects_layers_with_parameters():
    networks = [nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.Linear(3, 1)) for _ in range(2)]
    with pytest.raises(ValueError, match="LayerNorm"):
        EnsembleMLP(networks, torch_prefix="qf")


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_critic_state_dicts_round_trip_through_sb3_names(algo):
    kwargs = dict(learning_starts=0, batch_size=8, train_freq=4, policy_kwargs=dict(net_arch=[16], n_critics=3), seed=0)
    model = algo("MlpPolicy", "Pendulum-v1", **kwargs).learn(16)
    fresh = algo("MlpPolicy", "Pendulum-v1", **{**kwargs, "seed": 1})
    params = module_state_dict(model.critic)
    assert {key.split(".")[0] for key in params} == {"qf0", "qf1", "qf2"}
    assert params["qf2.0.weight"].shape == (16, 4)
    load_module_state_dict(fresh.critic, params)
    optimizer_state = optimizer_state_dict(model.critic.optimizer, model.critic)
    assert len(optimizer_state["param_groups"][0]["params"]) == 3 * 4
    load_optimizer_state_dict(fresh.critic.optimizer, optimizer_state, fresh.critic)
    for name in ("weight", "bias"):
        np.testing.assert_array_equal(np.array(fresh.critic.qf.layers[0][name]), np.array(model.critic.qf.layers[0][name]))
        for moment in ("m", "v"):
            saved = model.critic.optimizer.state["qf"]["layers"][0][name][moment]
            loaded = fresh.critic.optimizer.state["qf"]["layers"][0][name][moment]
            np.testing.assert_array_equal(np.array(loaded), np.array(saved))
    # Loading one member's slice leaves the others and the target (which started from the same arrays) alone.
    target_before = np.array(fresh.critic_target.qf.layers[0]["weight"])
    single = {key: (value * 0 if key.startswith("qf1.") else value) for key, value in params.items()}
    load_module_state_dict(fresh.critic, single)
    weights = np.array(fresh.critic.qf.layers[0]["weight"])
    assert not weights[1].any() and np.array_equal(weights[0], np.array(model.critic.qf.layers[0]["weight"])[0])
    np.testing.assert_array_equal(np.array(fresh.critic_target.qf.layers[0]["weight"]), target_before)
