"""Losses and solvers shared by the contrib algorithms: the quantile Huber loss (QR-DQN, TQC) and the conjugate
gradient solver with flat-vector helpers (TRPO)."""

from collections.abc import Callable

import mlx.core as mx


def quantile_huber_loss(
    current_quantiles: mx.array,
    target_quantiles: mx.array,
    cum_prob: mx.array | None = None,
    sum_over_quantiles: bool = True,
) -> mx.array:
    """
    The quantile regression loss of QR-DQN and TQC: a Huber loss (threshold 1) of every pair (current quantile, target
    quantile), weighted asymmetrically by ``|tau - 1{delta < 0}|``.

    :param current_quantiles: the quantiles being learned, ``(batch, n_quantiles)`` (QR-DQN) or
        ``(batch, n_critics, n_quantiles)`` (TQC)
    :param target_quantiles: their targets, ``(batch, n_target_quantiles)``, ``(batch, 1, n_target_quantiles)`` or
        ``(batch, n_critics, n_target_quantiles)``
    :param cum_prob: the quantile fractions tau of ``current_quantiles``, broadcastable to them with a trailing axis;
        None uses the midpoints ``(i + 0.5) / n_quantiles``
    :param sum_over_quantiles: sum over the current quantiles before averaging (as the QR-DQN paper), else average
        over everything
    :return: the scalar loss
    """
    if current_quantiles.ndim != target_quantiles.ndim:
        raise ValueError(
            f"Error: The dimension of curremt_quantile ({current_quantiles.ndim}) needs to match "
            f"the dimension of target_quantiles ({target_quantiles.ndim})."
        )
    if current_quantiles.shape[0] != target_quantiles.shape[0]:
        raise ValueError(
            f"Error: The batch size of curremt_quantile ({current_quantiles.shape[0]}) needs to match "
            f"the batch size of target_quantiles ({target_quantiles.shape[0]})."
        )
    if current_quantiles.ndim not in (2, 3):
        raise ValueError(f"Error: The dimension of current_quantiles ({current_quantiles.ndim}) needs to be either 2 or 3.")

    if cum_prob is None:
        n_quantiles = current_quantiles.shape[-1]
        cum_prob = (mx.arange(n_quantiles, dtype=mx.float32) + 0.5) / n_quantiles
        # One tau per current quantile, broadcast over the batch (and critics) and the target quantiles.
        cum_prob = cum_prob.reshape((1,) * (current_quantiles.ndim - 1) + (-1, 1))

    # (..., n_quantiles, n_target_quantiles): every current quantile against every target quantile.
    pairwise_delta = mx.expand_dims(target_quantiles, -2) - mx.expand_dims(current_quantiles, -1)
    abs_pairwise_delta = mx.abs(pairwise_delta)
    huber_loss = mx.where(abs_pairwise_delta > 1, abs_pairwise_delta - 0.5, pairwise_delta**2 * 0.5)
    below = mx.stop_gradient(pairwise_delta < 0).astype(huber_loss.dtype)
    loss = mx.abs(cum_prob - below) * huber_loss
    if sum_over_quantiles:
        return loss.sum(axis=-2).mean()
    return loss.mean()


def _initial_guess(b: mx.array) -> mx.array:
    # Not zero: CG is unstable when the gradient becomes small, so sb3-contrib starts from a little Gaussian noise.
    return 1e-4 * mx.random.normal(b.shape, dtype=b.dtype)


def conjugate_gradient_solver(
    matrix_vector_dot_fn: Callable[[mx.array], mx.array],
    b: mx.array,
    max_iter: int = 10,
    residual_tol: float = 1e-10,
) -> mx.array:
    """
    Approximate solution of ``A x = b`` for a symmetric positive-definite ``A`` known only through products ``A v``
    (Shewchuk, "An Introduction to the Conjugate Gradient Method Without the Agonizing Pain").

    The iterations are unrolled with a fixed count and an ``active`` flag instead of Python ``break``s, so the solver runs
    inside a compiled function without any host synchronization: once the squared residual falls below
    ``residual_tol``, ``x`` stops changing, which is what stopping early returns.

    :param matrix_vector_dot_fn: the product ``v -> A v``
    :param b: the right-hand side, a vector
    :param max_iter: the number of iterations (products with ``A`` after the first)
    :param residual_tol: the squared residual norm under which the solution is final
    :return: the approximate solution ``x``
    """
    x = _initial_guess(b)
    residual = b - matrix_vector_dot_fn(x)
    residual_squared_norm = residual @ residual
    active = residual_squared_norm >= residual_tol
    p = residual
    for i in range(max_iter):
        a_dot_p = matrix_vector_dot_fn(p)
        alpha = residual_squared_norm / (p @ a_dot_p)
        x = mx.where(active, x + alpha * p, x)
        if i == max_iter - 1:
            break
        residual = residual - alpha * a_dot_p
        new_residual_squared_norm = residual @ residual
        active = mx.logical_and(active, new_residual_squared_norm >= residual_tol)
        p = residual + (new_residual_squared_norm / residual_squared_norm) * p
        residual_squared_norm = new_residual_squared_norm
    return x


def flatten_arrays(arrays: list[mx.array]) -> mx.array:
    """
    :param arrays: arrays of any shapes
    :return: their elements in one vector, in order (torch's ``parameters_to_vector``)
    """
    return mx.concatenate([array.reshape(-1) for array in arrays])


def unflatten_vector(vector: mx.array, like: list[mx.array]) -> list[mx.array]:
    """
    :param vector: a vector as ``flatten_arrays`` makes it
    :param like: arrays with the shapes to cut it into
    :return: the pieces, shaped like ``like``
    """
    pieces, start = [], 0
    for array in like:
        pieces.append(vector[start : start + array.size].reshape(array.shape))
        start += array.size
    return pieces


def flat_grad(fn: Callable[[list[mx.array]], mx.array], parameters: list[mx.array]) -> mx.array:
    """
    The gradient of a scalar function with respect to a list of arrays, as one vector (sb3-contrib's ``flat_grad``;
    MLX differentiates functions rather than recorded outputs, so it takes the function). Arrays the function does not
    depend on contribute zeros.

    :param fn: a function of the list of arrays returning a scalar
    :param parameters: the point at which to differentiate
    :return: the flattened gradient, in the order of ``parameters``
    """
    return flatten_arrays(mx.grad(fn)(parameters))
