"""
Feature extractors and MLP builders (the module keeps SB3's name so that imports carry over).

All layers are ``mlx.nn`` modules. Activation classes may be given as MLX classes (``mlx.nn.ReLU``) or, for code
written for SB3, as torch classes (``torch.nn.ReLU``), which are mapped to the MLX class of the same name.
"""

from collections.abc import Callable, Sequence
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from gymnasium import spaces
from mlx.utils import tree_flatten

from mlx_baselines3.common.conv import Conv2d
from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from mlx_baselines3.common.type_aliases import TensorDict
from mlx_baselines3.common.utils import get_device as get_device  # SB3 exposes it here
from mlx_baselines3.common.utils import torch_class_to_mlx


def _mlx_layer_named(name: str) -> type[nn.Module] | None:
    # MLX capitalizes some names differently (torch's Hardtanh is MLX's HardTanh).
    layers = {key: value for key, value in vars(nn).items() if isinstance(value, type) and issubclass(value, nn.Module)}
    matches = [value for key, value in layers.items() if key.lower() == name.lower()]
    return layers.get(name) or (matches[0] if len(matches) == 1 else None)


def as_mlx_module_class(module_class: type) -> type[nn.Module]:
    """
    Map an activation (or other layer) class to its MLX equivalent: MLX classes pass through, torch classes
    (``torch.nn.Tanh``, ``torch.nn.Hardtanh``, ``torch.nn.LayerNorm``) are looked up in ``utils.TORCH_TO_MLX_CLASSES``,
    then by name in ``mlx.nn``.

    :param module_class: the class
    :return: the MLX class
    """
    if isinstance(module_class, type) and issubclass(module_class, nn.Module):
        return module_class
    name, module = getattr(module_class, "__name__", repr(module_class)), getattr(module_class, "__module__", "")
    if (layer := torch_class_to_mlx(module, name)) is not None:
        return layer
    if module.startswith("torch") and (layer := _mlx_layer_named(name)) is not None:
        return layer
    raise TypeError(
        f"{module_class!r} is not an mlx.nn.Module class. Pass an MLX layer class such as mlx.nn.ReLU "
        "(torch.nn classes are accepted when MLX has a layer of the same name)."
    )


class BaseFeaturesExtractor(nn.Module):
    """
    Base class of the modules that turn observations into a flat feature vector. Subclass it with ``mlx.nn`` layers
    and implement ``__call__(observations) -> features`` (MLX's convention) or ``forward(observations)`` (torch's, as
    in extractors written for SB3): either one makes the other work.

    :param observation_space: the observation space
    :param features_dim: number of features produced
    """

    def __init__(self, observation_space: spaces.Space, features_dim: int = 0) -> None:
        super().__init__()
        if features_dim <= 0:
            raise UsageError(f"features_dim must be > 0, got {features_dim}")
        self._observation_space = observation_space
        self._features_dim = features_dim

    @property
    def features_dim(self) -> int:
        """The number of features the extractor outputs."""
        return self._features_dim

    def __call__(self, observations: Any) -> mx.array:
        if type(self).forward is BaseFeaturesExtractor.forward:
            raise NotImplementedError(f"{type(self).__name__} must implement __call__(observations) or forward(observations)")
        return self.forward(observations)

    def forward(self, observations: Any) -> mx.array:
        """
        SB3's name for the call.

        :param observations: preprocessed observations
        :return: features
        """
        return self(observations)


class FlattenExtractor(BaseFeaturesExtractor):
    """
    Flatten each observation into a vector (the default for vector observations).

    :param observation_space: the observation space
    """

    def __init__(self, observation_space: spaces.Space) -> None:
        super().__init__(observation_space, get_flattened_obs_dim(observation_space))

    def __call__(self, observations: mx.array) -> mx.array:
        return observations.reshape(observations.shape[0], -1)


class NatureCNN(BaseFeaturesExtractor):
    """
    The CNN of "Human-level control through deep reinforcement learning" (Mnih et al., 2015).

    Observations arrive channels-first, as in SB3 (``VecTransposeImage``), and are moved to MLX's channels-last
    layout inside; the convolution weights are therefore OHWI (torch's OIHW, transposed). The convolutions are
    :class:`~mlx_baselines3.common.conv.Conv2d`: matrix products on the CPU, MLX's convolution on GPUs.

    :param observation_space: a channels-first image space
    :param features_dim: number of units of the last (linear) layer
    :param normalized_image: the images are already scaled to [0, 1], skip the image checks
    """

    def __init__(self, observation_space: spaces.Space, features_dim: int = 512, normalized_image: bool = False) -> None:
        if not isinstance(observation_space, spaces.Box):
            raise UsageError(f"NatureCNN must be used with a gym.spaces.Box observation space, not {observation_space}")
        super().__init__(observation_space, features_dim)
        if not is_image_space(observation_space, check_channels=False, normalized_image=normalized_image):
            raise UsageError(
                "You should use NatureCNN only with images not with "
                f"{observation_space}\n(you are probably using `CnnPolicy` instead of `MlpPolicy` or `MultiInputPolicy`)\n"
                "If you are using a custom environment,\nplease check it using our env checker:\n"
                "https://stable-baselines3.readthedocs.io/en/master/common/env_checker.html.\n"
                "If you are using `VecNormalize` or already normalized channel-first images "
                "you should pass `normalize_images=False`: \n"
                "https://stable-baselines3.readthedocs.io/en/master/guide/custom_env.html"
            )
        n_channels, height, width = observation_space.shape
        self.cnn = nn.Sequential(
            Conv2d(n_channels, 32, kernel_size=8, stride=4, padding=0),
            nn.ReLU(),
            Conv2d(32, 64, kernel_size=4, stride=2, padding=0),
            nn.ReLU(),
            Conv2d(64, 64, kernel_size=3, stride=1, padding=0),
            nn.ReLU(),
        )
        for kernel, stride in ((8, 4), (4, 2), (3, 1)):
            height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
        if height < 1 or width < 1:
            image_size = "x".join(str(size) for size in observation_space.shape[1:])
            raise ValueError(
                f"NatureCNN needs images of at least 36x36 pixels, got {image_size} (observation space {observation_space}): "
                "use larger images or a smaller custom features extractor. NatureCNN reads (channels, height, width): "
                "channels-last images that are not uint8 are not transposed automatically (as in SB3), wrap the env in "
                "VecTransposeImage for those."
            )
        n_flatten = 64 * height * width
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    def __call__(self, observations: mx.array) -> mx.array:
        features = self.cnn(observations.transpose(0, 2, 3, 1))
        # Flatten in torch's (C, H, W) order so that the linear layer's weights are interchangeable with SB3's.
        return self.linear(features.transpose(0, 3, 1, 2).reshape(features.shape[0], -1))


def create_mlp(
    input_dim: int,
    output_dim: int,
    net_arch: list[int],
    activation_fn: type[nn.Module] = nn.ReLU,
    squash_output: bool = False,
    with_bias: bool = True,
    pre_linear_modules: list[type[nn.Module]] | None = None,
    post_linear_modules: list[type[nn.Module]] | None = None,
) -> list[nn.Module]:
    """
    Layers of a multi-layer perceptron: ``Linear, activation`` per hidden layer, then a final ``Linear`` (when
    ``output_dim > 0``), and ``Tanh`` when ``squash_output``.

    :param input_dim: input size
    :param output_dim: output size; 0 or less for no output layer
    :param net_arch: hidden layer sizes
    :param activation_fn: activation class after each hidden layer
    :param squash_output: end with a Tanh
    :param with_bias: give the linear layers a bias
    :param pre_linear_modules: layer classes placed before each linear layer, built with the layer's input size
        (e.g. ``nn.LayerNorm``)
    :param post_linear_modules: layer classes placed after each linear layer, built with its output size
    :return: the list of layers (wrap it in ``nn.Sequential``)
    """
    activation_fn = as_mlx_module_class(activation_fn)
    # Built with the layer size as their one argument (Module.__init__ itself takes none, hence the Callable type).
    pre_linear: list[Callable[[int], nn.Module]] = [as_mlx_module_class(m) for m in pre_linear_modules or []]
    post_linear: list[Callable[[int], nn.Module]] = [as_mlx_module_class(m) for m in post_linear_modules or []]
    modules: list[nn.Module] = []
    last_dim = input_dim
    for layer_dim in net_arch:
        modules.extend(module(last_dim) for module in pre_linear)
        modules.append(nn.Linear(last_dim, layer_dim, bias=with_bias))
        modules.extend(module(layer_dim) for module in post_linear)
        modules.append(activation_fn())
        last_dim = layer_dim
    if output_dim > 0:
        modules.extend(module(last_dim) for module in pre_linear)
        modules.append(nn.Linear(last_dim, output_dim, bias=with_bias))
    if squash_output:
        modules.append(nn.Tanh())
    return modules


class EnsembleLinear(nn.Module):
    """
    The same linear layer of ``n`` networks as one: weights stacked ``[n, in, out]`` (and biases ``[n, out]``), applied
    with one batched matrix product.

    :param linears: the layers to stack (same shapes), e.g. freshly built ``nn.Linear``s, whose values are taken
    """

    def __init__(self, linears: Sequence[nn.Linear]):
        super().__init__()
        self.weight = mx.stack([linear.weight.T for linear in linears])
        if "bias" in linears[0]:
            self.bias = mx.stack([linear.bias for linear in linears])

    def __call__(self, x: mx.array) -> mx.array:
        """
        :param x: ``[batch, in]`` (the same input for every member) or ``[n, batch, in]``
        :return: ``[n, batch, out]``
        """
        y = x @ self.weight
        return y + self.bias[:, None, :] if "bias" in self else y

    def member(self, x: mx.array, index: int) -> mx.array:
        """
        :param x: ``[batch, in]``
        :param index: which member
        :return: that member's output ``[batch, out]``
        """
        y = x @ self.weight[index]
        return y + self.bias[index] if "bias" in self else y


class EnsembleMLP(nn.Module):
    """
    ``n`` MLPs of the same architecture evaluated as one product: each linear layer is an ``EnsembleLinear`` (weights
    ``[n, in, out]``, one batched matrix product for all members), each parameterless layer (activation) is applied
    once to the stacked activations. Twin critics then cost one kernel chain instead of ``n``.

    Saved and loaded under the members' own names, as if they were separate ``nn.Sequential``s called
    ``<torch_prefix>0``, ``<torch_prefix>1``... (SB3's ``qf0.0.weight``): see ``torch_parameter_views``.

    :param networks: the members, built as ``nn.Sequential``s of the same layers (their initial values are taken, so
        the ensemble starts exactly where the separate networks would)
    :param torch_prefix: the name of the members in torch state dicts (``"qf"``)
    """

    def __init__(self, networks: Sequence[nn.Sequential], torch_prefix: str):
        super().__init__()
        layers: list[nn.Module] = []
        for position in zip(*(network.layers for network in networks), strict=True):
            first = position[0]
            if isinstance(first, nn.Linear):
                layers.append(EnsembleLinear(position))
            elif not tree_flatten(first.parameters()):
                layers.append(first)
            else:
                raise ValueError(
                    f"EnsembleMLP stacks linear layers and parameterless ones (activations), not {type(first).__name__}: "
                    "build such networks as separate modules."
                )
        self.layers = layers
        self.n_members = len(networks)
        self.torch_prefix = torch_prefix

    def __call__(self, x: mx.array) -> mx.array:
        """
        :param x: ``[batch, in]``, the input of every member
        :return: the outputs of all members, ``[n, batch, out]``
        """
        for layer in self.layers:
            x = layer(x)
        return x

    def member(self, x: mx.array, index: int) -> mx.array:
        """
        :param x: ``[batch, in]``
        :param index: which member
        :return: that member's output, ``[batch, out]``
        """
        for layer in self.layers:
            x = layer.member(x, index) if isinstance(layer, EnsembleLinear) else layer(x)
        return x

    def torch_parameter_views(self) -> list[tuple[str, tuple, int, bool]]:
        """
        How the stacked arrays appear in a torch state dict: one entry per member and array, in torch's order (all of
        member 0's parameters, then member 1's...). The save/load code (``save_util``) reads and writes through it.

        :return: ``(key relative to the parent module, path of the stacked array in this module, member index,
            whether torch's layout is the transpose)`` for each entry
        """
        views = []
        for index in range(self.n_members):
            for position, layer in enumerate(self.layers):
                if isinstance(layer, EnsembleLinear):
                    for name in ("weight", "bias"):
                        if name in layer:
                            key = f"{self.torch_prefix}{index}.{position}.{name}"
                            views.append((key, ("layers", position, name), index, name == "weight"))
        return views



class MlpExtractor(nn.Module):
    """
    The separate policy and value networks that follow the features extractor.

    ``net_arch`` is either a list of layer sizes, used for both networks, or a dict ``dict(pi=[...], vf=[...])``;
    a missing key means no hidden layer for that network.

    :param feature_dim: size of the features
    :param net_arch: the architecture
    :param activation_fn: activation class
    :param device: unused (MLX arrays live in unified memory); kept for SB3 compatibility
    """

    def __init__(
        self,
        feature_dim: int,
        net_arch: list[int] | dict[str, list[int]],
        activation_fn: type[nn.Module],
        device: str = "auto",
    ) -> None:
        super().__init__()
        activation_fn = as_mlx_module_class(activation_fn)
        if isinstance(net_arch, dict):
            pi_layers_dims, vf_layers_dims = net_arch.get("pi", []), net_arch.get("vf", [])
        else:
            pi_layers_dims = vf_layers_dims = net_arch
        self.policy_net = nn.Sequential(*create_mlp(feature_dim, -1, pi_layers_dims, activation_fn))
        self.value_net = nn.Sequential(*create_mlp(feature_dim, -1, vf_layers_dims, activation_fn))
        self.latent_dim_pi = pi_layers_dims[-1] if pi_layers_dims else feature_dim
        self.latent_dim_vf = vf_layers_dims[-1] if vf_layers_dims else feature_dim

    def __call__(self, features: mx.array) -> tuple[mx.array, mx.array]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward(self, features: mx.array) -> tuple[mx.array, mx.array]:
        """
        :param features: extracted features
        :return: the latent vectors of the policy and of the value network
        """
        return self(features)

    def forward_actor(self, features: mx.array) -> mx.array:
        return self.policy_net(features)

    def forward_critic(self, features: mx.array) -> mx.array:
        return self.value_net(features)


class CombinedExtractor(BaseFeaturesExtractor):
    """
    Features extractor for Dict observations: a NatureCNN for each image key, a flatten for the others, all
    concatenated in the order of the space's keys.

    :param observation_space: a Dict space
    :param cnn_output_dim: number of features of each NatureCNN
    :param normalized_image: the images are already scaled to [0, 1], skip the image checks
    """

    def __init__(self, observation_space: spaces.Dict, cnn_output_dim: int = 256, normalized_image: bool = False) -> None:
        extractors: dict[str, nn.Module] = {}
        total_concat_size = 0
        for key, subspace in observation_space.spaces.items():
            if is_image_space(subspace, normalized_image=normalized_image):
                extractors[key] = NatureCNN(subspace, features_dim=cnn_output_dim, normalized_image=normalized_image)
                total_concat_size += cnn_output_dim
            else:
                extractors[key] = FlattenExtractor(subspace)
                total_concat_size += get_flattened_obs_dim(subspace)
        super().__init__(observation_space, features_dim=total_concat_size)
        self.extractors = extractors

    def __call__(self, observations: TensorDict) -> mx.array:
        return mx.concatenate([extractor(observations[key]) for key, extractor in self.extractors.items()], axis=1)


def get_actor_critic_arch(net_arch: list[int] | dict[str, list[int]]) -> tuple[list[int], list[int]]:
    """
    Split an off-policy ``net_arch`` into the actor's and the critic's: a list is used for both, a dict gives them
    with the keys ``pi`` and ``qf``.

    :param net_arch: the architecture
    :return: the actor's and the critic's layer sizes
    """
    if isinstance(net_arch, list):
        return net_arch, net_arch
    if not isinstance(net_arch, dict):
        raise UsageError(f"Error: the net_arch can only contain be a list of ints or a dict, got {net_arch!r}")
    for key, network in (("pi", "actor"), ("qf", "critic")):
        if key not in net_arch:
            raise UsageError(
                f"Error: no key '{key}' was provided in net_arch for the {network} network. A dict net_arch needs the keys "
                f"'pi' (actor) and 'qf' (critic), got {list(net_arch)}."
            )
    return net_arch["pi"], net_arch["qf"]
