"""
RMSprop as TensorFlow (and so the original Stable Baselines) computes it, as an ``mlx.optimizers`` optimizer.

It differs from torch's and MLX's RMSprop in two places: epsilon is added to the running average *inside* the square
root, and the running average of squared gradients starts at ones instead of zeros. With A2C on Atari this makes the
first updates much smaller and learning steadier, which is why the RL Zoo's A2C settings use it.
"""

from typing import Any

import mlx.core as mx
import mlx.optimizers as optim


class RMSpropTFLike(optim.Optimizer):
    r"""
    TensorFlow-style RMSprop, numerically the same as SB3's
    ``stable_baselines3.common.sb2_compat.rmsprop_tf_like.RMSpropTFLike``. With :math:`g` the gradient
    (plus ``weight_decay`` times the parameter) and :math:`v_0 = 1`:

    .. math::

        v &\leftarrow \alpha v + (1 - \alpha) g^2 \\
        \bar g &\leftarrow \alpha \bar g + (1 - \alpha) g \quad \text{(centered only)} \\
        d &= \sqrt{v - \bar g^2 + \epsilon} \quad \text{(centered)}, \qquad d = \sqrt{v + \epsilon} \quad \text{(otherwise)} \\
        b &\leftarrow \mu b + g / d, \quad w \leftarrow w - \eta b \quad \text{(momentum } \mu > 0\text{)},
            \qquad w \leftarrow w - \eta g / d \quad \text{(otherwise)}

    Use it as SB3 users do: ``policy_kwargs=dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5))``.
    Its state is saved under torch's names (``square_avg``, ``momentum_buffer``, ``grad_avg``), so a zip moves between
    SB3 and mlx_baselines3 and training continues on either side.

    :param learning_rate: the learning rate :math:`\eta` (SB3's ``lr``), a float or a schedule
    :param alpha: smoothing constant :math:`\alpha` of the running averages
    :param eps: added to the running average inside the square root
    :param weight_decay: L2 penalty: ``weight_decay * w`` is added to the gradient
    :param momentum: momentum factor :math:`\mu` (0 disables the momentum buffer)
    :param centered: divide by an estimate of the gradient's variance instead of its second moment
    """

    def __init__(
        self,
        learning_rate: Any = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
    ):
        # The same checks and messages as SB3's torch optimizer.
        if not callable(learning_rate) and not learning_rate >= 0.0:
            raise ValueError(f"Invalid learning rate: {learning_rate}")
        for name, value in (("epsilon", eps), ("momentum", momentum), ("weight_decay", weight_decay), ("alpha", alpha)):
            if not value >= 0.0:
                raise ValueError(f"Invalid {name} value: {value}")
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.alpha = alpha
        self.eps = eps
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.centered = centered

    def init_single(self, parameter: mx.array, state: dict) -> None:
        """
        Create one parameter's state: ``square_avg`` at ones (TensorFlow's start), and ``momentum_buffer`` /
        ``grad_avg`` at zeros when momentum / centering is on.

        :param parameter: the parameter
        :param state: its (empty) state dict, filled in place
        """
        state["square_avg"] = mx.ones_like(parameter)
        if self.momentum > 0:
            state["momentum_buffer"] = mx.zeros_like(parameter)
        if self.centered:
            state["grad_avg"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict) -> mx.array:
        """
        One update of one parameter.

        :param gradient: the parameter's gradient
        :param parameter: the parameter
        :param state: its state, updated in place
        :return: the new parameter
        """
        learning_rate = self.learning_rate.astype(gradient.dtype)
        alpha = self.alpha
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        square_avg = alpha * state["square_avg"] + (1 - alpha) * mx.square(gradient)
        state["square_avg"] = square_avg
        if self.centered:
            grad_avg = alpha * state["grad_avg"] + (1 - alpha) * gradient
            state["grad_avg"] = grad_avg
            denominator = mx.sqrt(square_avg - mx.square(grad_avg) + self.eps)
        else:
            denominator = mx.sqrt(square_avg + self.eps)
        if self.momentum > 0:
            buffer = self.momentum * state["momentum_buffer"] + gradient / denominator
            state["momentum_buffer"] = buffer
            return parameter - learning_rate * buffer
        return parameter - learning_rate * gradient / denominator


__all__ = ["RMSpropTFLike"]
