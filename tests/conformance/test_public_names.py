"""Every public name of SB3's (and sb3-contrib's) modules exists at the same path here, except the listed ones."""

import importlib
import inspect
import pkgutil
import sys
import warnings

import pytest

# Names that SB3 modules hold but that are torch's own objects, with no meaning without torch. Each is listed with
# why it is left out; anything else SB3 exposes must exist here.
TORCH_ONLY = {
    ("common.distributions", "Bernoulli"): "torch.distributions class; our distributions compute with mx arrays",
    ("common.distributions", "Categorical"): "torch.distributions class",
    ("common.distributions", "Normal"): "torch.distributions class",
    ("common.distributions", "TorchDistribution"): "torch.distributions.Distribution, the base of the three above",
    ("common.sb2_compat.rmsprop_tf_like", "Optimizer"): "torch.optim.Optimizer; our RMSpropTFLike is an mlx one",
    # sb3-contrib
    ("common.maskable.distributions", "Categorical"): "torch.distributions class; MaskableCategorical is our own",
}
# torch objects that we do provide, as their torch-free counterparts.
PROVIDED_FOR_TORCH = {
    ("common.logger", "SummaryWriter"),  # tensorboardX's, torch's API
    ("common.logger", "hparams"),
    ("common.utils", "SummaryWriter"),
}


def _is_stdlib_helper(value) -> bool:
    # typing.Optional, copy.deepcopy, functools.partial...: imported by SB3's modules for their own use.
    module = getattr(value, "__module__", None) or ""
    return module.split(".")[0] in sys.stdlib_module_names


def _is_torch(value) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module.split(".")[0] == "torch"


def _missing_names(their_package, our_prefix: str):
    missing, missing_modules = [], []
    for info in pkgutil.walk_packages(their_package.__path__, their_package.__name__ + "."):
        relative = info.name[len(their_package.__name__) + 1 :]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = importlib.import_module(info.name)
        try:
            ours = importlib.import_module(f"{our_prefix}.{relative}")
        except ModuleNotFoundError:
            missing_modules.append(relative)
            continue
        for name in dir(theirs):
            value = getattr(theirs, name)
            if name.startswith("_") or inspect.ismodule(value) or hasattr(ours, name):
                continue
            if (relative, name) in TORCH_ONLY or _is_stdlib_helper(value):
                continue
            if _is_torch(value) and (relative, name) not in PROVIDED_FOR_TORCH:
                missing.append(f"{relative}.{name} (a torch object: list it in TORCH_ONLY with the reason)")
                continue
            missing.append(f"{relative}.{name}")
    return missing, missing_modules


def test_every_sb3_public_name_exists_here():
    stable_baselines3 = pytest.importorskip("stable_baselines3")
    missing, missing_modules = _missing_names(stable_baselines3, "mlx_baselines3")
    assert missing_modules == []
    assert missing == []


def test_every_sb3_contrib_public_name_exists_in_contrib_modules_built_so_far():
    sb3_contrib = pytest.importorskip("sb3_contrib")
    pytest.importorskip("mlx_baselines3.contrib")
    # The contrib algorithms are being ported one by one: a module that does not exist yet is reported by the
    # contrib tests; every module that exists must have all of sb3-contrib's names.
    missing, _ = _missing_names(sb3_contrib, "mlx_baselines3.contrib")
    assert missing == []


def test_torch_only_names_are_torch_objects_in_sb3():
    # The exclusion list stays honest: each entry is still a torch object in SB3.
    pytest.importorskip("stable_baselines3")
    for relative, name in TORCH_ONLY:
        package = "sb3_contrib" if relative.startswith(("common.maskable", "common.recurrent")) else "stable_baselines3"
        value = getattr(importlib.import_module(f"{package}.{relative}"), name)
        assert _is_torch(value), (relative, name, value)


@pytest.mark.parametrize(
    "path, name",
    [
        ("a2c.policies", "ActorCriticPolicy"),
        ("a2c.policies", "ActorCriticCnnPolicy"),
        ("a2c.policies", "MultiInputActorCriticPolicy"),
        ("common.base_class", "ActionNoise"),
        ("common.base_class", "get_system_info"),
        ("common.policies", "StateDependentNoiseDistribution"),
        ("common.torch_layers", "get_device"),
        ("common.buffers", "get_device"),
        ("common.vec_env.util", "check_for_nested_spaces"),
        ("dqn.dqn", "polyak_update"),
    ],
)
def test_reexports_are_the_same_objects(path, name):
    # A re-export is the object itself, not a copy: isinstance and identity checks work across paths.
    ours = getattr(importlib.import_module(f"mlx_baselines3.{path}"), name)
    canonical = {
        "ActorCriticPolicy": "common.policies",
        "ActorCriticCnnPolicy": "common.policies",
        "MultiInputActorCriticPolicy": "common.policies",
        "ActionNoise": "common.noise",
        "get_system_info": "common.utils",
        "StateDependentNoiseDistribution": "common.distributions",
        "get_device": "common.utils",
        "check_for_nested_spaces": "common.preprocessing",
        "polyak_update": "common.utils",
    }[name]
    assert ours is getattr(importlib.import_module(f"mlx_baselines3.{canonical}"), name)


def test_self_distribution_type_variables():
    from mlx_baselines3.common import distributions

    names = ("Bernoulli", "Categorical", "DiagGaussian", "MultiCategorical", "SquashedDiagGaussian", "StateDependentNoise")
    for name in names:
        type_var = getattr(distributions, f"Self{name}Distribution")
        assert type_var.__bound__.__forward_arg__ == f"{name}Distribution"
