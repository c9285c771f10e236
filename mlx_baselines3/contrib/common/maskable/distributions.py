"""
Action distributions with invalid-action masking (Huang & Ontañón, 2020, https://arxiv.org/abs/2006.14171).

Masked-out choices get the logit ``-1e8`` before normalization, as in sb3-contrib: their probability is 0 in float32,
their log-probability about ``-1e8`` (finite, so gradients stay finite), and they add nothing to the entropy. A
distribution is masked in place by ``apply_masking(masks)``; ``apply_masking(None)`` restores the unmasked logits.
Everything is MLX array maths, traceable by ``mx.compile``.
"""

from abc import ABC, abstractmethod
from typing import TypeVar

import mlx.core as mx
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.distributions import CategoricalDistribution, Distribution, MultiCategoricalDistribution
from mlx_baselines3.common.exceptions import UsageError

SelfMaskableCategoricalDistribution = TypeVar("SelfMaskableCategoricalDistribution", bound="MaskableCategoricalDistribution")
SelfMaskableMultiCategoricalDistribution = TypeVar(
    "SelfMaskableMultiCategoricalDistribution", bound="MaskableMultiCategoricalDistribution"
)
MaybeMasks = mx.array | np.ndarray | None

# The logit of a masked-out choice (sb3-contrib's value).
HUGE_NEG = -1e8


def _masked_log_softmax(logits: mx.array, masks: mx.array | None) -> mx.array:
    if masks is not None:
        logits = mx.where(masks, logits, mx.array(HUGE_NEG, dtype=logits.dtype))
    return logits - mx.logsumexp(logits, axis=-1, keepdims=True)


def _masked_entropy(log_probs: mx.array, masks: mx.array | None) -> mx.array:
    p_log_p = mx.exp(log_probs) * log_probs
    if masks is not None:
        # exp(-1e8) is 0 but 0 * -1e8 would count: masked choices carry no uncertainty.
        p_log_p = mx.where(masks, p_log_p, 0.0)
    return -p_log_p.sum(axis=-1)


def as_mask_array(masks: mx.array | np.ndarray | list, shape: tuple[int, ...]) -> mx.array:
    """
    Check and convert action masks to a boolean MLX array of ``shape``.

    :param masks: the masks (any array-like of booleans or 0/1 values)
    :param shape: the shape of the logits they apply to, ``(batch, n_choices)``
    :return: the boolean masks
    :raises RuntimeError: when the number of mask values does not match (torch's error type in sb3-contrib)
    """
    if not isinstance(masks, mx.array):
        masks = mx.array(np.asarray(masks))
    if masks.size != int(np.prod(shape)):
        raise RuntimeError(
            f"Action masks of shape {tuple(masks.shape)} ({masks.size} values) do not fit the action distribution's "
            f"logits of shape {shape}: give one flag per choice of each action dimension, for each observation."
        )
    return masks.reshape(shape).astype(mx.bool_)


class MaskableCategorical:
    """
    One categorical distribution with masking (sb3-contrib's torch ``Categorical`` subclass, as MLX arrays): give
    ``logits`` or ``probs``; ``apply_masking`` gives masked-out choices probability 0, ``apply_masking(None)`` restores
    the original logits.

    :param probs: non-negative weights of the choices (normalized along the last axis)
    :param logits: unnormalized log-probabilities
    :param validate_args: unused (torch's argument checking)
    :param masks: True where a choice is allowed, or None
    """

    def __init__(
        self,
        probs: mx.array | None = None,
        logits: mx.array | None = None,
        validate_args: bool | None = None,
        masks: MaybeMasks = None,
    ):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self._original_logits = mx.log(probs) if logits is None else logits
        self.masks: mx.array | None = None
        self.logits = _masked_log_softmax(self._original_logits, None)
        self.apply_masking(masks)

    def apply_masking(self, masks: MaybeMasks) -> None:
        """
        :param masks: True where a choice is allowed (shaped like the logits), or None to remove the masking
        """
        self.masks = None if masks is None else as_mask_array(masks, tuple(self._original_logits.shape))
        # As torch's Categorical, ``logits`` are the normalized log-probabilities.
        self.logits = _masked_log_softmax(self._original_logits, self.masks)

    @property
    def probs(self) -> mx.array:
        return mx.exp(self.logits)

    def log_prob(self, value: mx.array) -> mx.array:
        """
        :param value: choices, shaped like the batch
        :return: their log-probabilities
        """
        return mx.take_along_axis(self.logits, value.astype(mx.int32)[..., None], axis=-1).squeeze(-1)

    def entropy(self) -> mx.array:
        """:return: the entropy of each distribution, masked-out choices counting 0"""
        return _masked_entropy(self.logits, self.masks)

    def sample(self) -> mx.array:
        """:return: one choice per distribution, among the allowed ones"""
        return mx.random.categorical(self.logits, axis=-1)


class MaskableDistribution(Distribution, ABC):
    """Base of the distributions that support invalid-action masking."""

    @abstractmethod
    def apply_masking(self, masks: MaybeMasks) -> None:
        """
        Give the masked-out choices probability 0, in place.

        :param masks: True where a choice is allowed, one flag per choice (batched like the logits); None removes any
            masking and restores the original logits
        """


class MaskableCategoricalDistribution(CategoricalDistribution, MaskableDistribution):
    """
    Categorical distribution over ``action_dim`` discrete actions, with masking.

    :param action_dim: number of actions
    """

    def __init__(self, action_dim: int):
        super().__init__(action_dim)
        self._original_logits: mx.array | None = None
        self.masks: mx.array | None = None

    def proba_distribution(self, action_logits: mx.array) -> "MaskableCategoricalDistribution":
        """
        :param action_logits: unnormalized log-probabilities, reshaped to ``(batch, action_dim)``
        :return: the (unmasked) distribution
        """
        logits = action_logits.reshape(-1, self.action_dim)
        return self._with(_original_logits=logits, masks=None, log_probs=_masked_log_softmax(logits, None))

    def apply_masking(self, masks: MaybeMasks) -> None:
        assert self._original_logits is not None, "Must set distribution parameters"
        self.masks = None if masks is None else as_mask_array(masks, tuple(self._original_logits.shape))
        self.log_probs = _masked_log_softmax(self._original_logits, self.masks)

    def entropy(self) -> mx.array:
        return _masked_entropy(self.log_probs, self.masks)


class MaskableMultiCategoricalDistribution(MultiCategoricalDistribution, MaskableDistribution):
    """
    Independent categorical distributions, one per dimension of a MultiDiscrete space, with masking; the masks of all
    dimensions are concatenated (``sum(action_dims)`` flags per observation).

    :param action_dims: number of choices of each dimension
    """

    def __init__(self, action_dims: list[int]):
        super().__init__(action_dims)
        self._original_logits: list[mx.array] = []
        self.masks: list[mx.array | None] = []

    def proba_distribution(self, action_logits: mx.array) -> "MaskableMultiCategoricalDistribution":
        """
        :param action_logits: concatenated logits, reshaped to ``(batch, sum(action_dims))``
        :return: the (unmasked) distribution
        """
        logits = action_logits.reshape(-1, sum(self.action_dims))
        splits = np.cumsum(self.action_dims)[:-1].tolist()
        original = mx.split(logits, splits, axis=1)
        return self._with(
            _original_logits=original,
            masks=[None] * len(original),
            log_probs=[_masked_log_softmax(part, None) for part in original],
        )

    def apply_masking(self, masks: MaybeMasks) -> None:
        assert len(self._original_logits) > 0, "Must set distribution parameters"
        if masks is None:
            self.masks = [None] * len(self._original_logits)
        else:
            batch = self._original_logits[0].shape[0]
            all_masks = as_mask_array(masks, (batch, sum(self.action_dims)))
            self.masks = mx.split(all_masks, np.cumsum(self.action_dims)[:-1].tolist(), axis=1)
        self.log_probs = [
            _masked_log_softmax(logits, mask) for logits, mask in zip(self._original_logits, self.masks, strict=True)
        ]

    def entropy(self) -> mx.array:
        assert len(self.log_probs) > 0, "Must set distribution parameters"
        return mx.stack(
            [_masked_entropy(log_probs, mask) for log_probs, mask in zip(self.log_probs, self.masks, strict=True)], axis=1
        ).sum(axis=1)


class MaskableBernoulliDistribution(MaskableMultiCategoricalDistribution):
    """
    MultiBinary actions as independent two-way categoricals (sb3-contrib's layout: the action head outputs two logits
    per binary action, and the mask has a flag for 0 and one for 1 per action).

    :param action_dim: number of binary actions
    """

    def __init__(self, action_dim: int):
        super().__init__([2] * action_dim)


def make_masked_proba_distribution(action_space: spaces.Space) -> MaskableDistribution:
    """
    :param action_space: the action space (Discrete, MultiDiscrete or 1D MultiBinary)
    :return: the masked distribution for it
    """
    if isinstance(action_space, spaces.Discrete):
        return MaskableCategoricalDistribution(int(action_space.n))
    if isinstance(action_space, spaces.MultiDiscrete):
        return MaskableMultiCategoricalDistribution(list(action_space.nvec))
    if isinstance(action_space, spaces.MultiBinary):
        if not isinstance(action_space.n, int):
            raise UsageError(
                f"Multi-dimensional MultiBinary({action_space.n}) action space is not supported. You can flatten it instead."
            )
        return MaskableBernoulliDistribution(action_space.n)
    raise NotImplementedError(
        "Error: probability distribution, not implemented for action space"
        f"of type {type(action_space)}."
        " Must be of type Gym Spaces: Discrete, MultiDiscrete."
    )
