"""The matrix-product Conv2d (common/conv.py): a drop-in mlx.nn.Conv2d with the same parameters and results as
nn.Conv2d and torch, MLX's convolution where it must, and the orthogonal initialization of the policies."""

import math
import subprocess
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gymnasium import spaces
from mlx.utils import tree_flatten

from mlx_baselines3.common import conv as conv_module
from mlx_baselines3.common.conv import Conv2d, conv2d_as_matmul
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, BasePolicy, orthogonal
from mlx_baselines3.common.torch_layers import Conv2d as exported_conv2d
from mlx_baselines3.common.torch_layers import NatureCNN

# (in, out, kernel, stride, padding, dilation, input height, width): NatureCNN's three layers, then every other path
# (a stride that does not divide the kernel, rectangular kernels/strides/padding, dilation, 1x1 at stride 2).
CASES = [
    (4, 32, 8, 4, 0, 1, 84, 84),
    (32, 64, 4, 2, 0, 1, 20, 20),
    (64, 64, 3, 1, 0, 1, 9, 9),
    (3, 8, 3, 2, 1, 1, 17, 18),
    (3, 8, (3, 5), (2, 1), (1, 2), 1, 16, 15),
    (5, 6, 3, 1, 0, 2, 12, 13),
    (2, 4, 1, 2, 0, 1, 9, 9),
    (2, 4, 5, 3, 2, 1, 13, 14),
    (3, 7, (4, 2), (2, 2), 0, 1, 11, 9),
]


def _pair(value):
    return (value, value) if isinstance(value, int) else value


def _twins(case, bias=True):
    """The same layer as nn.Conv2d and as Conv2d, built from the same random state."""
    in_channels, out_channels, kernel, stride, padding, dilation, _, _ = case
    mx.random.seed(3)
    reference = nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, bias=bias)
    mx.random.seed(3)
    ours = Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, bias=bias)
    return reference, ours


def _input(case, batch=3):
    height, width = case[6], case[7]
    return mx.array(np.random.default_rng(0).standard_normal((batch, height, width, case[0])).astype(np.float32))


def _loss_and_grads(layer, x):
    """Loss, parameter gradients and input gradient of a weighted sum of the outputs (weights fixed by a key)."""

    def loss(params, x):
        layer.update(params)
        y = layer(x)
        return (y * mx.random.normal(y.shape, key=mx.random.key(1))).sum()

    value, (grad_params, grad_x) = mx.value_and_grad(loss, argnums=(0, 1))(layer.trainable_parameters(), x)
    return value, dict(tree_flatten(grad_params)), grad_x


@pytest.mark.parametrize("case", CASES)
def test_matches_mlx_conv2d(case):
    reference, ours = _twins(case)
    # Same parameters, same initialization, same layout: a drop-in replacement.
    assert isinstance(ours, nn.Conv2d)
    expected_params, got_params = dict(tree_flatten(reference.parameters())), dict(tree_flatten(ours.parameters()))
    assert expected_params.keys() == got_params.keys() == {"weight", "bias"}
    for name in expected_params:
        np.testing.assert_array_equal(np.array(got_params[name]), np.array(expected_params[name]))
    x = _input(case)
    expected, got = reference(x), ours(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-5, atol=1e-5)

    expected_loss, expected_grads, expected_grad_x = _loss_and_grads(reference, x)
    got_loss, got_grads, got_grad_x = _loss_and_grads(ours, x)
    np.testing.assert_allclose(got_loss.item(), expected_loss.item(), rtol=1e-5)
    for name, grad in expected_grads.items():
        # Sums over up to 10^5 products: compare with the gradient's own scale.
        scale = float(mx.abs(grad).max())
        np.testing.assert_allclose(np.array(got_grads[name]), np.array(grad), rtol=1e-5, atol=1e-5 * scale)
    scale = float(mx.abs(expected_grad_x).max())
    np.testing.assert_allclose(np.array(got_grad_x), np.array(expected_grad_x), rtol=1e-5, atol=1e-5 * scale)


def test_without_bias():
    case = CASES[1]
    reference, ours = _twins(case, bias=False)
    assert "bias" not in ours.parameters()
    x = _input(case)
    np.testing.assert_allclose(np.array(ours(x)), np.array(reference(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES[:5])
def test_matches_torch(case):
    th = pytest.importorskip("torch")
    _, ours = _twins(case)
    in_channels, out_channels, kernel, stride, padding, dilation, _, _ = case
    theirs = th.nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation)
    with th.no_grad():
        # torch's OIHW weight is MLX's OHWI, transposed.
        theirs.weight.copy_(th.as_tensor(np.array(ours.weight).transpose(0, 3, 1, 2)))
        theirs.bias.copy_(th.as_tensor(np.array(ours.bias)))
    x = _input(case)
    x_torch = th.as_tensor(np.array(x).transpose(0, 3, 1, 2))
    expected = theirs(x_torch)
    got = ours(x)
    np.testing.assert_allclose(np.array(got), expected.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    # Weight gradient of the plain sum.
    expected.sum().backward()
    grads = nn.value_and_grad(ours, lambda x: ours(x).sum())(x)[1]
    torch_grad = theirs.weight.grad.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.array(grads["weight"]), torch_grad, rtol=1e-5, atol=1e-5 * np.abs(torch_grad).max())


def test_cpu_uses_matrix_products_and_groups_use_mlx_conv(monkeypatch):
    calls = []
    original = conv_module.conv2d_as_matmul
    monkeypatch.setattr(conv_module, "conv2d_as_matmul", lambda *args: calls.append(args) or original(*args))
    layer = Conv2d(4, 8, 3, stride=2)
    with mx.stream(mx.cpu):
        layer(mx.zeros((1, 9, 9, 4)))
    assert len(calls) == 1
    grouped = Conv2d(4, 8, 3, groups=2)
    reference = nn.Conv2d(4, 8, 3, groups=2)
    reference.update(grouped.parameters())
    x = _input((4, 8, 3, 1, 0, 1, 7, 7))
    np.testing.assert_array_equal(np.array(grouped(x)), np.array(reference(x)))
    assert len(calls) == 1


@pytest.mark.skipif(not mx.is_available(mx.gpu), reason="needs an MLX GPU backend")
def test_gpu_uses_mlx_conv(monkeypatch):
    monkeypatch.setattr(conv_module, "conv2d_as_matmul", lambda *args: pytest.fail("matrix products on the GPU"))
    case = CASES[0]
    reference, ours = _twins(case)
    with mx.stream(mx.gpu):
        np.testing.assert_allclose(np.array(ours(_input(case))), np.array(reference(_input(case))), rtol=1e-5, atol=1e-5)


def test_compiled_gradient_matches_eager():
    case = CASES[0]
    _, layer = _twins(case)
    x = _input(case, batch=2)
    step = nn.value_and_grad(layer, lambda x: (layer(x) ** 2).mean())
    eager = step(x)
    compiled = mx.compile(step)(x)
    np.testing.assert_allclose(compiled[0].item(), eager[0].item(), rtol=1e-6)
    np.testing.assert_allclose(np.array(compiled[1]["weight"]), np.array(eager[1]["weight"]), rtol=1e-5, atol=1e-7)


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 4, 4, 3\).*\(5, 3, 3, 2\)"):
        conv2d_as_matmul(mx.zeros((2, 4, 4, 3)), mx.zeros((5, 3, 3, 2)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv2d_as_matmul(mx.zeros((1, 2, 2, 3)), mx.zeros((5, 3, 3, 3)))


def test_nature_cnn_and_exports_use_it():
    assert exported_conv2d is Conv2d
    cnn = NatureCNN(spaces.Box(0, 255, (4, 84, 84), np.uint8))
    convs = [layer for layer in cnn.cnn.layers if isinstance(layer, nn.Conv2d)]
    assert len(convs) == 3 and all(type(layer) is Conv2d for layer in convs)
    # The parameter tree (hence the save layout and SB3's keys) is that of nn.Conv2d.
    assert [name for name, _ in tree_flatten(cnn.cnn.parameters())] == [
        f"layers.{index}.{name}" for index in (0, 2, 4) for name in ("weight", "bias")
    ]


# --- orthogonal initialization ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 3136), (512, 64), (32, 8, 8, 4), (6, 6), (1, 5), (7, 1)])
def test_orthogonal_is_orthogonal(shape):
    gain = math.sqrt(2)
    weight = np.array(orthogonal(shape, gain), dtype=np.float64)
    assert weight.shape == shape
    flat = weight.reshape(shape[0], -1)
    # The smaller side's vectors are orthonormal (times the gain).
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-5)


def test_orthogonal_is_reproducible_and_haar_distributed():
    mx.random.seed(7)
    first = np.array(orthogonal((4, 6)))
    mx.random.seed(7)
    np.testing.assert_array_equal(np.array(orthogonal((4, 6))), first)
    assert not np.array_equal(np.array(orthogonal((4, 6))), first)
    # Rows uniformly distributed on the unit sphere of R^6: each entry has mean 0 and variance 1/6, and a 2x2 matrix
    # is a rotation or a reflection with equal probability (the sign fix by R's diagonal makes Q uniform).
    draws = np.stack([np.array(orthogonal((4, 6))) for _ in range(400)])
    assert abs(draws.mean()) < 0.02
    assert abs(draws.var() - 1 / 6) < 0.01
    determinants = np.linalg.det(np.stack([np.array(orthogonal((2, 2))) for _ in range(400)]))
    np.testing.assert_allclose(np.abs(determinants), 1.0, atol=1e-5)
    assert 0.4 < (determinants > 0).mean() < 0.6


def test_init_weights_of_nature_cnn_is_fast():
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    policy = ActorCriticCnnPolicy(space, spaces.Discrete(6), lambda _: 1e-3, ortho_init=False)
    mx.eval(policy.parameters())
    start = time.process_time()
    BasePolicy.init_weights(policy.features_extractor, math.sqrt(2))
    mx.eval(policy.parameters())
    seconds = time.process_time() - start
    # Measured 0.12 s of CPU time (torch: 0.08 s); MLX's square factorization took 2.1 s.
    assert seconds < 1.0, f"orthogonal init of NatureCNN took {seconds:.2f} s of CPU time"
    linear = np.array(policy.features_extractor.linear.layers[0].weight, dtype=np.float64)
    np.testing.assert_allclose(linear @ linear.T, 2 * np.eye(512), atol=1e-4)


# --- MLX's buffer cache ----------------------------------------------------------------------------------------

CACHE_PROBE = "import mlx_baselines3, mlx.core as mx; print(mx.set_cache_limit(0))"


@pytest.mark.parametrize("value, expected", [(None, 1024 * 2**20), ("2048", 2048 * 2**20)])
def test_cache_limit_is_raised(monkeypatch, value, expected):
    monkeypatch.delenv("MLX_BASELINES3_CACHE_LIMIT_MB", raising=False)
    if value is not None:
        monkeypatch.setenv("MLX_BASELINES3_CACHE_LIMIT_MB", value)
    output = subprocess.run([sys.executable, "-c", CACHE_PROBE], capture_output=True, text=True, check=True).stdout
    assert int(output) >= expected


def test_cache_limit_opt_out(monkeypatch):
    monkeypatch.setenv("MLX_BASELINES3_CACHE_LIMIT_MB", "0")
    ours = subprocess.run([sys.executable, "-c", CACHE_PROBE], capture_output=True, text=True, check=True).stdout
    mlx_own = "import mlx.core as mx; print(mx.set_cache_limit(0))"
    assert ours == subprocess.run([sys.executable, "-c", mlx_own], capture_output=True, text=True, check=True).stdout


def test_cache_limit_bad_value_warns(monkeypatch):
    monkeypatch.setenv("MLX_BASELINES3_CACHE_LIMIT_MB", "lots")
    result = subprocess.run([sys.executable, "-c", CACHE_PROBE], capture_output=True, text=True, check=True)
    assert int(result.stdout) >= 1024 * 2**20
    assert "MLX_BASELINES3_CACHE_LIMIT_MB must be a whole number of MiB" in result.stderr and "'lots'" in result.stderr
