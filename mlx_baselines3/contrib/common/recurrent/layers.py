"""
The LSTM of the recurrent policies, with torch's parameter layout so that sb3-contrib's state dicts map 1:1.

``mlx.nn.LSTM`` computes the same cell (gates in torch's order i, f, g, o; ``Wx``/``Wh`` are torch's
``weight_ih``/``weight_hh``, checked in the tests) but holds one bias where torch holds two, ``bias_ih`` and
``bias_hh``. The two enter the cell only as a sum, yet they are two parameters to the optimizer: Adam moves each of
them by about the learning rate per step, so their sum moves twice as far as one merged bias would, and a torch
optimizer state has a moment per bias. Folding them into one would change training, not only the file format. This
module keeps both (and several layers, which ``mlx.nn.LSTM`` leaves to the caller), and adds the episode-start
resets the recurrent policies need inside a sequence.
"""

import math

import mlx.core as mx
import mlx.nn as nn

from mlx_baselines3.common.exceptions import UsageError

# torch.nn.LSTM keyword arguments this layer implements; the others (batch_first, bidirectional, proj_size) would
# change the layout sb3-contrib's policies rely on.
_SUPPORTED_KWARGS = ("bias", "dropout")


class LSTM(nn.Module):
    """
    Multi-layer LSTM with torch's parameters (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
    ``bias_hh_l{k}``) and torch's initialization (uniform in ``±1/sqrt(hidden_size)``).

    :param input_size: number of input features
    :param hidden_size: number of hidden units of each layer
    :param num_layers: number of stacked layers
    :param bias: use the bias vectors
    :param dropout: dropout on the outputs of every layer but the last, in training mode
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.dropout = dropout
        bound = 1.0 / math.sqrt(hidden_size)
        # Registration order is torch's parameter order (state dicts and optimizer states follow it).
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size
            setattr(self, f"weight_ih_l{layer}", mx.random.uniform(-bound, bound, (4 * hidden_size, layer_input)))
            setattr(self, f"weight_hh_l{layer}", mx.random.uniform(-bound, bound, (4 * hidden_size, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{layer}", mx.random.uniform(-bound, bound, (4 * hidden_size,)))
                setattr(self, f"bias_hh_l{layer}", mx.random.uniform(-bound, bound, (4 * hidden_size,)))
        self.inter_layer_dropout = nn.Dropout(dropout)

    @classmethod
    def from_kwargs(cls, input_size: int, hidden_size: int, num_layers: int, lstm_kwargs: dict) -> "LSTM":
        """
        Build the layer from ``torch.nn.LSTM``-style keyword arguments (the policies' ``lstm_kwargs``).

        :param input_size: number of input features
        :param hidden_size: number of hidden units
        :param num_layers: number of layers
        :param lstm_kwargs: extra keyword arguments (``bias``, ``dropout``)
        :return: the layer
        """
        unsupported = sorted(set(lstm_kwargs) - set(_SUPPORTED_KWARGS))
        if unsupported:
            raise UsageError(
                f"lstm_kwargs {unsupported} are not supported: the recurrent policies' LSTM takes {list(_SUPPORTED_KWARGS)} "
                "(sequences are laid out as sb3-contrib lays them out, unidirectional and without projections)."
            )
        return cls(input_size, hidden_size, num_layers, **lstm_kwargs)

    def _layer_weights(self, layer: int) -> tuple[mx.array, mx.array, mx.array | None]:
        bias = self[f"bias_ih_l{layer}"] + self[f"bias_hh_l{layer}"] if self.bias else None
        return self[f"weight_ih_l{layer}"], self[f"weight_hh_l{layer}"], bias

    def __call__(
        self, x: mx.array, state: tuple[mx.array, mx.array], episode_starts: mx.array | None = None
    ) -> tuple[mx.array, tuple[mx.array, mx.array]]:
        """
        Run sequences through the layers.

        :param x: inputs, ``(length, batch, input_size)`` (time first, as torch's default)
        :param state: initial hidden and cell states, each ``(num_layers, batch, hidden_size)``
        :param episode_starts: ``(length, batch)``, 1 where a new episode starts: the states are zeroed before that
            step, in every layer (None: no resets)
        :return: the last layer's outputs ``(length, batch, hidden_size)`` and the final ``(h, c)`` states
        """
        length = x.shape[0]
        keep = None if episode_starts is None else mx.split((1.0 - episode_starts)[..., None], length, axis=0)
        final_h, final_c = [], []
        for layer in range(self.num_layers):
            weight_ih, weight_hh, bias = self._layer_weights(layer)
            # The input projection of all steps in one product; the time loop only adds the recurrent term.
            projected = x @ weight_ih.T if bias is None else mx.addmm(bias, x, weight_ih.T)
            # Split, not sliced: the gradient of a split is one concatenation, that of L slices L full-size scatters.
            steps = mx.split(projected, length, axis=0)
            h, c = state[0][layer], state[1][layer]
            outputs = []
            for t in range(length):
                if keep is not None:
                    h, c = keep[t][0] * h, keep[t][0] * c
                gates = steps[t][0] + h @ weight_hh.T
                i, f, g, o = mx.split(gates, 4, axis=-1)
                c = mx.sigmoid(f) * c + mx.sigmoid(i) * mx.tanh(g)
                h = mx.sigmoid(o) * mx.tanh(c)
                outputs.append(h)
            x = mx.stack(outputs, axis=0)
            if self.dropout > 0 and layer < self.num_layers - 1:
                x = self.inter_layer_dropout(x)
            final_h.append(h)
            final_c.append(c)
        return x, (mx.stack(final_h, axis=0), mx.stack(final_c, axis=0))
