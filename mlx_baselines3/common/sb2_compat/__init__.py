"""Compatibility with the original Stable Baselines (TensorFlow): optimizers that reproduce its numerics."""
