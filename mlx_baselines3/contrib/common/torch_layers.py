"""Layers of the contrib algorithms: Batch Renormalization (CrossQ). The module name is sb3-contrib's."""

import mlx.core as mx
import mlx.nn as nn

__all__ = ["BatchRenorm", "BatchRenorm1d"]


class BatchRenorm(nn.Module):
    """
    Batch Renormalization (Ioffe, 2017, https://arxiv.org/abs/1702.03275), as sb3-contrib (and SBX) implement it.

    In training mode the layer normalizes with the batch statistics for the first ``warmup_steps`` calls (exactly a
    batch norm), then with the running statistics, corrected towards the batch's by the clipped factors
    ``r = clip(batch_std / running_std, 1/3, 3)`` and ``d = clip((batch_mean - running_mean) / running_std, -5, 5)``
    (held constant for gradients); it updates the running mean and variance (the unbiased batch variance, as torch's
    ``var``) and its step counter. In evaluation mode it normalizes with the running statistics and updates nothing.
    The warm-up switch is an array selection, so a compiled update is traced once for both phases.

    Parameters and buffers carry sb3-contrib's names: ``scale``, ``bias`` (learned), ``ra_mean``, ``ra_var``,
    ``steps`` (frozen, saved in the state dict).

    :param num_features: the number of features (last axis)
    :param eps: added to the variance for numerical stability
    :param momentum: the rate of the running averages
    :param affine: learn a scale and a bias
    :param warmup_steps: training calls that use the plain batch statistics
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 0.001,
        momentum: float = 0.01,
        affine: bool = True,
        warmup_steps: int = 100_000,
    ):
        super().__init__()
        # torch's parameter order (scale, bias), then its buffers.
        self.scale = mx.ones((num_features,))
        self.bias = mx.zeros((num_features,))
        self.ra_mean = mx.zeros((num_features,))
        self.ra_var = mx.ones((num_features,))
        self.steps = mx.array(0, dtype=mx.int64)
        self.freeze(keys=["ra_mean", "ra_var", "steps"], recurse=False)
        self.affine = affine
        self.eps = eps
        self.momentum = momentum
        self.num_features = num_features
        # Bounds of the correction factors r and d.
        self.rmax = 3.0
        self.dmax = 5.0
        self.warmup_steps = warmup_steps

    def _check_input_dim(self, x: mx.array) -> None:
        raise NotImplementedError()

    def __call__(self, x: mx.array) -> mx.array:
        """
        :param x: a batch of features, ``(batch, num_features)``
        :return: the normalized features
        """
        self._check_input_dim(x)
        if self.training:
            batch_mean = x.mean(axis=0)
            batch_var = mx.var(x, axis=0, ddof=1)
            batch_std = mx.sqrt(batch_var + self.eps)
            running_std = mx.sqrt(self.ra_var + self.eps)
            r = mx.stop_gradient(mx.clip(batch_std / running_std, 1 / self.rmax, self.rmax))
            d = mx.stop_gradient(mx.clip((batch_mean - self.ra_mean) / running_std, -self.dmax, self.dmax))
            # After the warm-up, the running statistics corrected by r and d; before, the batch statistics.
            renormalize = self.steps > self.warmup_steps
            # sqrt with a zero derivative at a zero variance (a constant feature, e.g. a dead ReLU unit), where the
            # true one is infinite. torch gets inf/NaN there too, but its ReLU's backward *selects* the gradient of
            # active units, which drops them; MLX's multiplies by zero, which would spread NaN to every weight.
            positive = batch_var > 0
            batch_var_sqrt = mx.where(positive, mx.sqrt(mx.where(positive, batch_var, 1.0)), 0.0)
            custom_mean = mx.where(renormalize, batch_mean - d * batch_var_sqrt / r, batch_mean)
            custom_var = mx.where(renormalize, batch_var / (r**2), batch_var)
            self.ra_mean = self.ra_mean + self.momentum * (mx.stop_gradient(batch_mean) - self.ra_mean)
            self.ra_var = self.ra_var + self.momentum * (mx.stop_gradient(batch_var) - self.ra_var)
            self.steps = self.steps + 1
        else:
            custom_mean, custom_var = self.ra_mean, self.ra_var
        x = (x - custom_mean) / mx.sqrt(custom_var + self.eps)
        if self.affine:
            x = self.scale * x + self.bias
        return x


class BatchRenorm1d(BatchRenorm):
    """``BatchRenorm`` for batches of feature vectors (``(batch, features)`` or ``(batch, channels, length)``)."""

    def _check_input_dim(self, x: mx.array) -> None:
        if x.ndim == 1:
            raise ValueError(f"Expected 2D or 3D input (got {x.ndim}D input)")
