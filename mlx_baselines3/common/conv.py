"""
A 2-D convolution that runs on the CPU's fast matrix product.

MLX's CPU backend computes convolutions with loops that are far slower than its matrix product (which runs on
OpenBLAS, see ``docs/performance.md``), and the input gradient of a strided convolution slower still: one NatureCNN
update of 256 frames took 3.9 s against 0.18 s in torch. :class:`Conv2d` is ``mlx.nn.Conv2d`` with the same
parameters, the same initialization and the same results, which on the CPU computes the convolution as a sum of
matrix products over shifted views of the input ("im2col" without the big patch matrix):

1. A stride ``s`` that divides the kernel size ``k`` is folded into the channels first ("space to depth": each
   ``s x s`` block of pixels becomes one pixel of ``s * s * C`` channels), which leaves a ``k / s`` kernel at stride 1.
   NatureCNN's 8x8/4 layer becomes a 2x2/1 layer over 256 channels, so each product has 64 inputs instead of 4.
2. For each kernel offset, the shifted window of the input is copied into a contiguous ``(N * H_out * W_out, C)``
   matrix and multiplied by that offset's ``(C, out_channels)`` weight slice; the products accumulate with
   ``mx.addmm`` (one BLAS call each, which adds into its output).

The gradients come from MLX's autodiff: each product's weight gradient is one BLAS call with the saved window, and
the input gradient is a product per offset added back into place. Which path runs is decided at each call from the
default device (``mx.default_device()``, which ``with mx.stream(...)`` and the model's device set), so one model can
move between devices, and :data:`MATMUL_ON` says which device types take the matrix products.
"""

import mlx.core as mx
import mlx.nn as nn

#: Device types on which :class:`Conv2d` computes with matrix products instead of ``mx.conv2d``, chosen by
#: measurement (``benchmarks/conv_bench.py --device cpu|gpu``, results in ``docs/performance.md``): on the CPU the
#: products are ~20x faster than MLX's convolution loops.
MATMUL_ON: set[mx.DeviceType] = {mx.cpu}


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {value!r}")
    return int(value[0]), int(value[1])


def conv2d_as_matmul(
    x: mx.array,
    weight: mx.array,
    bias: mx.array | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> mx.array:
    """
    ``mx.conv2d(x, weight, stride, padding, dilation) + bias`` (one group) computed as matrix products, which on the
    CPU run on BLAS. Same layouts as ``mx.conv2d``: channels-last input, OHWI weight.

    :param x: input ``(N, H, W, C)``
    :param weight: weight ``(out_channels, kH, kW, C)``
    :param bias: bias ``(out_channels,)``, or ``None``
    :param stride: stride, one int or (height, width)
    :param padding: zero padding on both sides, one int or (height, width)
    :param dilation: spacing of the kernel taps, one int or (height, width)
    :return: output ``(N, H_out, W_out, out_channels)``
    """
    if x.ndim != 4 or weight.ndim != 4 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"conv2d_as_matmul expects an (N, H, W, C) input and an (O, kH, kW, C) weight with the same C, "
            f"got input {x.shape} and weight {weight.shape}"
        )
    (stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w) = _pair(stride), _pair(padding), _pair(dilation)
    out_channels, kernel_h, kernel_w, channels = weight.shape
    if pad_h or pad_w:
        x = mx.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)))
    n, height, width, _ = x.shape
    out_h = (height - dil_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width - dil_w * (kernel_w - 1) - 1) // stride_w + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"the input {x.shape[1:3]} (after padding) is smaller than the kernel {weight.shape[1:3]} "
            f"with dilation {(dil_h, dil_w)}"
        )

    if dil_h == dil_w == 1 and kernel_h % stride_h == 0 and kernel_w % stride_w == 0:
        # Space to depth: crop to the pixels the kernel reads, fold each stride_h x stride_w block into the channels
        # (in (row, column, channel) order), and fold the weight the same way: a (kH/sH, kW/sW) kernel at stride 1.
        blocks_h, blocks_w = out_h - 1 + kernel_h // stride_h, out_w - 1 + kernel_w // stride_w
        if stride_h > 1 or stride_w > 1:
            x = x[:, : blocks_h * stride_h, : blocks_w * stride_w, :]
            x = x.reshape(n, blocks_h, stride_h, blocks_w, stride_w * channels).transpose(0, 1, 3, 2, 4)
            x = x.reshape(n, blocks_h, blocks_w, stride_h * stride_w * channels)
        taps_h, taps_w = kernel_h // stride_h, kernel_w // stride_w
        folded = weight.reshape(out_channels, taps_h, stride_h, taps_w, stride_w, channels)
        # (taps_h, taps_w, stride_h * stride_w * C, O): each tap's slice is a contiguous (C', O) matrix.
        taps = folded.transpose(1, 3, 2, 4, 5, 0).reshape(taps_h, taps_w, -1, out_channels)

        def window(i: int, j: int) -> mx.array:
            return x[:, i : i + out_h, j : j + out_w, :]

    else:
        # Any other stride or a dilation: one strided window per kernel tap.
        taps_h, taps_w = kernel_h, kernel_w
        taps = weight.transpose(1, 2, 3, 0)

        def window(i: int, j: int) -> mx.array:
            rows = slice(i * dil_h, i * dil_h + stride_h * (out_h - 1) + 1, stride_h)
            columns = slice(j * dil_w, j * dil_w + stride_w * (out_w - 1) + 1, stride_w)
            return x[:, rows, columns, :]

    y = None
    for i in range(taps_h):
        for j in range(taps_w):
            # mx.contiguous before the reshape: the reshape of a strided view copies element by element, 5-10x
            # slower than the contiguous copy.
            patches = mx.contiguous(window(i, j)).reshape(n * out_h * out_w, -1)
            if y is None:
                y = patches @ taps[i, j] if bias is None else mx.addmm(bias, patches, taps[i, j])
            else:
                y = mx.addmm(y, patches, taps[i, j])
    assert y is not None  # at least one tap
    return y.reshape(n, out_h, out_w, out_channels)


class Conv2d(nn.Conv2d):
    """
    ``mlx.nn.Conv2d`` that computes its convolution as matrix products (:func:`conv2d_as_matmul`) on the device types
    in :data:`MATMUL_ON` (the CPU) and with MLX's convolution elsewhere. Same arguments, parameters (``weight`` in
    OHWI layout, ``bias``), initialization and saved layout as ``mlx.nn.Conv2d``, of which it is a subclass: swap one
    for the other in any model. Grouped convolutions (``groups > 1``) always use MLX's convolution.

    :param in_channels: number of input channels
    :param out_channels: number of output channels
    :param kernel_size: kernel size, one int or (height, width)
    :param stride: stride, one int or (height, width)
    :param padding: zero padding on both sides, one int or (height, width)
    :param dilation: spacing of the kernel taps, one int or (height, width)
    :param groups: number of channel groups
    :param bias: learn an additive bias
    """

    def __call__(self, x: mx.array) -> mx.array:
        if self.groups != 1 or mx.default_device().type not in MATMUL_ON:
            return super().__call__(x)
        bias = self.bias if "bias" in self else None
        return conv2d_as_matmul(x, self.weight, bias, self.stride, self.padding, self.dilation)
