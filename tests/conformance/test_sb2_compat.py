"""common.sb2_compat.rmsprop_tf_like: SB3's TensorFlow-style RMSprop, numerically and in saved files."""

import gymnasium as gym
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest

from mlx_baselines3 import A2C
from mlx_baselines3.common.save_util import load_optimizer_state_dict, optimizer_state_dict
from mlx_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

CONFIGS = [
    {},
    {"alpha": 0.9, "eps": 1e-5},
    {"centered": True},
    {"momentum": 0.9},
    {"weight_decay": 0.01},
    {"alpha": 0.95, "eps": 1e-3, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
]


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 4)))


def _loss(weight, bias, inputs, targets):
    return ((inputs @ weight.T + bias - targets) ** 2).mean()


def test_defaults_are_sb3s():
    optimizer = RMSpropTFLike()
    assert (optimizer.learning_rate.item(), optimizer.alpha, optimizer.eps) == pytest.approx((1e-2, 0.99, 1e-8))
    assert (optimizer.weight_decay, optimizer.momentum, optimizer.centered) == (0, 0, False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": -1.0}, "Invalid learning rate: -1.0"),
        ({"eps": -1.0}, "Invalid epsilon value: -1.0"),
        ({"momentum": -0.5}, "Invalid momentum value: -0.5"),
        ({"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
        ({"alpha": -0.1}, "Invalid alpha value: -0.1"),
    ],
)
def test_invalid_hyperparameters_raise_sb3s_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RMSpropTFLike(**kwargs)


def test_first_step_uses_eps_inside_the_root_and_ones_as_start():
    # v = 0.99 * 1 + 0.01 * g^2 and the step is lr * g / sqrt(v + eps): SB2's formula, not torch's.
    parameter = {"w": mx.array([1.0, -2.0])}
    gradient = {"w": mx.array([0.5, 3.0])}
    optimizer = RMSpropTFLike(learning_rate=0.1, eps=1e-2)
    new = optimizer.apply_gradients(gradient, parameter)
    g = np.array([0.5, 3.0])
    expected = np.array([1.0, -2.0]) - 0.1 * g / np.sqrt(0.99 + 0.01 * g**2 + 1e-2)
    np.testing.assert_allclose(np.array(new["w"]), expected, rtol=1e-6)


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_matches_sb3_torch_over_several_steps(kwargs):
    th = pytest.importorskip("torch")
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike as TorchRMSpropTFLike

    weight, inputs, targets = _problem()
    bias = np.zeros(4, dtype=np.float32)
    torch_params = [th.nn.Parameter(th.tensor(weight)), th.nn.Parameter(th.tensor(bias))]
    torch_optimizer = TorchRMSpropTFLike(torch_params, lr=0.05, **kwargs)
    params = {"weight": mx.array(weight), "bias": mx.array(bias)}
    optimizer = RMSpropTFLike(learning_rate=0.05, **kwargs)
    grad_fn = mx.grad(lambda p: _loss(p["weight"], p["bias"], mx.array(inputs), mx.array(targets, dtype=mx.float32)))
    for _ in range(6):
        torch_optimizer.zero_grad()
        _loss(*torch_params, th.tensor(inputs), th.tensor(targets, dtype=th.float32)).backward()
        torch_optimizer.step()
        params = optimizer.apply_gradients(grad_fn(params), params)
    np.testing.assert_allclose(np.array(params["weight"]), torch_params[0].detach().numpy(), atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(np.array(params["bias"]), torch_params[1].detach().numpy(), atol=1e-6, rtol=1e-6)
    # Same state, under torch's names, as torch's state_dict.
    ours = optimizer_state_dict(optimizer, {"weight": params["weight"], "bias": params["bias"]})
    theirs = torch_optimizer.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert list(ours["param_groups"][0]) == list(theirs["param_groups"][0])
    for index in (0, 1):
        assert ours["state"][index]["step"] == theirs["state"][index]["step"] == 6
        assert sorted(ours["state"][index]) == sorted(theirs["state"][index])


def test_compiled_update_in_a_module():
    # The way algorithms use it: optimizer.state inside mx.compile.
    model = nn.Linear(3, 2)
    optimizer = RMSpropTFLike(learning_rate=0.01, momentum=0.9, centered=True)
    optimizer.init(model.trainable_parameters())
    x, y = mx.ones((5, 3)), mx.zeros((5, 2))
    loss_and_grad = nn.value_and_grad(model, lambda m: ((m(x) - y) ** 2).mean())
    state = [model.state, optimizer.state]

    @mx.compile
    def step():
        loss, grads = loss_and_grad(model)
        optimizer.update(model, grads)
        return loss

    step = mx.compile(step, inputs=state, outputs=state)
    losses = []
    for _ in range(5):
        losses.append(step().item())
        mx.eval(state)
    assert losses[-1] < losses[0]
    assert optimizer.state["step"].item() == 5


def test_state_round_trip_keeps_ones_for_unstepped_parameters():
    optimizer = RMSpropTFLike(momentum=0.5)
    params = {"w": mx.zeros((2,))}
    saved = optimizer_state_dict(optimizer, params)  # before any step: no per-parameter state, as torch
    assert saved["state"] == {}
    other = RMSpropTFLike()
    load_optimizer_state_dict(other, saved, params)
    assert other.momentum == 0.5
    np.testing.assert_array_equal(np.array(other.state["w"]["square_avg"]), [1.0, 1.0])
    np.testing.assert_array_equal(np.array(other.state["w"]["momentum_buffer"]), [0.0, 0.0])


def _a2c(library_a2c, optimizer_class, seed=0):
    return library_a2c(
        "MlpPolicy",
        "CartPole-v1",
        n_steps=8,
        seed=seed,
        policy_kwargs=dict(optimizer_class=optimizer_class, optimizer_kwargs=dict(eps=1e-5, momentum=0.5)),
    )


def test_a2c_uses_it_and_saves_it_for_sb3(tmp_path):
    pytest.importorskip("torch")
    import stable_baselines3 as sb3
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike as TorchRMSpropTFLike

    model = _a2c(A2C, RMSpropTFLike)
    assert isinstance(model.policy.optimizer, RMSpropTFLike)
    assert model.policy.optimizer.eps == 1e-5 and model.policy.optimizer.momentum == 0.5
    model.learn(32)
    model.save(tmp_path / "ours.zip")
    theirs = sb3.A2C.load(tmp_path / "ours.zip", env=gym.make("CartPole-v1"), device="cpu")
    assert isinstance(theirs.policy.optimizer, TorchRMSpropTFLike)
    torch_state = theirs.policy.optimizer.state_dict()
    assert torch_state["param_groups"][0]["momentum"] == 0.5 and torch_state["param_groups"][0]["eps"] == 1e-5
    assert all(state["step"] == 4 for state in torch_state["state"].values())
    theirs.learn(16)  # training continues in SB3

    # And back: an SB3 zip with RMSpropTFLike loads here with its optimizer state.
    theirs.save(tmp_path / "theirs.zip")
    ours = A2C.load(tmp_path / "theirs.zip", env=gym.make("CartPole-v1"))
    assert isinstance(ours.policy.optimizer, RMSpropTFLike)
    assert ours.policy.optimizer.state["step"].item() == 6
    saved, loaded = theirs.policy.optimizer.state_dict(), optimizer_state_dict(ours.policy.optimizer, ours.policy)
    assert sorted(saved["state"]) == sorted(loaded["state"])
    for index, state in saved["state"].items():
        for name in ("square_avg", "momentum_buffer"):
            np.testing.assert_array_equal(np.array(loaded["state"][index][name]), state[name].numpy())
    ours.learn(16)
    assert ours.policy.optimizer.state["step"].item() == 8


def test_mlx_rmsprop_is_not_tf_like():
    # A reminder of why the class exists: MLX's own RMSprop starts from zeros and adds eps outside the root.
    parameter, gradient = {"w": mx.array([5.0])}, {"w": mx.array([0.5])}
    tf_like = RMSpropTFLike(learning_rate=0.1).apply_gradients(gradient, parameter)["w"].item()
    plain = optim.RMSprop(learning_rate=0.1).apply_gradients(gradient, parameter)["w"].item()
    assert tf_like == pytest.approx(5 - 0.05 / np.sqrt(0.99 + 0.0025 + 1e-8), rel=1e-6)
    assert plain == pytest.approx(4.0, rel=1e-6)
