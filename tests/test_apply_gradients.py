"""``utils.apply_gradients``: one flat optimizer update gives exactly MLX's per-array results."""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_map

from mlx_baselines3.common.utils import apply_gradients


def make_net() -> nn.Module:
    """A nested module (a list of layers with parameter-free entries) like the policies' networks."""
    mx.random.seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def loss_fn(net, x):
    return mx.mean(mx.square(net(x)))


OPTIMIZERS = {
    "adam": lambda: optim.Adam(learning_rate=1e-2, eps=1e-5),
    "adam-scheduled": lambda: optim.Adam(learning_rate=optim.linear_schedule(1e-2, 1e-3, 10)),
    "adamw": lambda: optim.AdamW(learning_rate=1e-2, weight_decay=0.1),
    "rmsprop": lambda: optim.RMSprop(learning_rate=1e-2, alpha=0.99, eps=1e-5),
    "sgd-momentum": lambda: optim.SGD(learning_rate=1e-2, momentum=0.9, nesterov=True),
    "adafactor (per-array fallback)": lambda: optim.Adafactor(learning_rate=1e-2),
}


@pytest.mark.parametrize("max_grad_norm", [None, 0.05])
@pytest.mark.parametrize("make_optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_flat_update_matches_per_array_update(make_optimizer, max_grad_norm):
    x = mx.random.normal((16, 3), key=mx.random.key(1))
    fused_net, reference_net = make_net(), make_net()
    fused_opt, reference_opt = make_optimizer(), make_optimizer()
    value_and_grad = {id(net): nn.value_and_grad(net, loss_fn) for net in (fused_net, reference_net)}

    def step(net, opt, fused):
        _, grads = value_and_grad[id(net)](net, x)
        if fused:
            net.update(apply_gradients(opt, grads, net, max_grad_norm))
        else:
            if max_grad_norm is not None:
                # torch's clip_grad_norm_ rule: scale by min(max_norm / (norm + 1e-6), 1).
                norm = mx.sqrt(sum(mx.sum(mx.square(g)) for _, g in tree_flatten(grads)))
                grads = tree_map(lambda g: g * mx.minimum(max_grad_norm / (norm + 1e-6), 1.0), grads)
            opt.update(net, grads)

    # Compiled with the state as input and output, as the algorithms use it.
    fused_step = mx.compile(
        lambda: step(fused_net, fused_opt, True),
        inputs=[fused_net.state, fused_opt.state],
        outputs=[fused_net.state, fused_opt.state],
    )
    for _ in range(4):
        fused_step()
        step(reference_net, reference_opt, False)
        mx.eval(fused_net.parameters(), fused_opt.state, reference_net.parameters(), reference_opt.state)

    for (name, fused), (_, reference) in zip(
        tree_flatten(fused_net.parameters()), tree_flatten(reference_net.parameters()), strict=True
    ):
        np.testing.assert_allclose(np.array(fused), np.array(reference), rtol=1e-6, atol=1e-7, err_msg=name)
    # The optimizer state keeps MLX's per-parameter layout (what save/load convert to SB3's format).
    fused_state, reference_state = tree_flatten(fused_opt.state), tree_flatten(reference_opt.state)
    assert [name for name, _ in fused_state] == [name for name, _ in reference_state]
    for (name, fused), (_, reference) in zip(fused_state, reference_state, strict=True):
        assert fused.shape == reference.shape, name
        np.testing.assert_allclose(np.array(fused), np.array(reference), rtol=1e-6, atol=1e-7, err_msg=name)
    assert int(fused_opt.step) == 4


def test_clipping_is_applied_once_on_the_global_norm():
    net, opt = make_net(), optim.SGD(learning_rate=1.0)
    before = {name: np.array(value) for name, value in tree_flatten(net.parameters())}
    grads = tree_map(lambda p: mx.ones_like(p), net.trainable_parameters())
    n_values = sum(value.size for value in before.values())
    net.update(apply_gradients(opt, grads, net, max_grad_norm=1.0))
    for name, value in tree_flatten(net.parameters()):
        # Each gradient entry is 1 / sqrt(n) after clipping to unit norm.
        np.testing.assert_allclose(before[name] - np.array(value), 1 / np.sqrt(n_values), rtol=1e-4, err_msg=name)
