"""Running mean and variance of a stream of arrays."""

import numpy as np


class RunningMeanStd:
    """
    Mean and (population) variance of all the samples seen so far, updated batch by batch with the parallel
    algorithm of Chan et al. (https://en.wikipedia.org/wiki/Algorithms_for_calculating_variance#Parallel_algorithm).
    Statistics are kept in float64.

    :param epsilon: initial sample count; a tiny pseudo-count that keeps the first update well defined
    :param shape: shape of one sample
    """

    def __init__(self, epsilon: float = 1e-4, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon

    def copy(self) -> "RunningMeanStd":
        """
        :return: an independent copy of these statistics
        """
        new_object = RunningMeanStd(shape=self.mean.shape)
        new_object.mean = self.mean.copy()
        new_object.var = self.var.copy()
        new_object.count = float(self.count)
        return new_object

    def combine(self, other: "RunningMeanStd") -> None:
        """
        Merge the statistics of another stream into these, as if its samples had been seen here too.

        :param other: the statistics to merge
        """
        self.update_from_moments(other.mean, other.var, other.count)

    def update(self, arr: np.ndarray) -> None:
        """
        Add a batch of samples.

        :param arr: the samples, stacked along the first axis
        """
        self.update_from_moments(np.mean(arr, axis=0), np.var(arr, axis=0), arr.shape[0])

    def update_from_moments(self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: float) -> None:
        """
        Add a batch of samples given only its mean, population variance and size.

        :param batch_mean: mean of the batch
        :param batch_var: population variance of the batch
        :param batch_count: number of samples in the batch
        """
        delta = batch_mean - self.mean
        total_count = self.count + batch_count
        # Sum of squared deviations of both parts, plus the correction for their means being apart.
        m_2 = self.var * self.count + batch_var * batch_count + np.square(delta) * self.count * batch_count / total_count
        self.mean = self.mean + delta * batch_count / total_count
        self.var = m_2 / total_count
        self.count = batch_count + self.count
