"""Policy and algorithm details users touch: extractor aliases that can be deleted, Python's own TypeError texts."""

import importlib
import warnings

import pytest


def _libs():
    names = ["mlx_baselines3"]
    if importlib.util.find_spec("stable_baselines3"):
        names.append("stable_baselines3")
    return names


def _policy(lib, share):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            importlib.import_module(lib)
            .PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(share_features_extractor=share))
            .policy
        )


@pytest.mark.parametrize("lib", _libs())
@pytest.mark.parametrize("share", [True, False])
def test_deleting_extractor_aliases(lib, share):
    policy = _policy(lib, share)
    assert policy.pi_features_extractor is policy.features_extractor
    assert (policy.vf_features_extractor is policy.features_extractor) == share
    del policy.pi_features_extractor
    del policy.vf_features_extractor
    assert not hasattr(policy, "pi_features_extractor") and not hasattr(policy, "vf_features_extractor")
    assert hasattr(policy, "features_extractor")  # only the names go
    with pytest.raises(AttributeError):
        del policy.pi_features_extractor


@pytest.mark.parametrize("lib", _libs())
def test_rollout_buffer_class_with_wrong_kwargs_is_pythons_type_error(lib):
    buffers = importlib.import_module(f"{lib}.common.buffers")
    with pytest.raises(TypeError) as error:
        importlib.import_module(lib).PPO(
            "MlpPolicy", "CartPole-v1", rollout_buffer_class=buffers.RolloutBuffer, rollout_buffer_kwargs=dict(bogus=1)
        )
    assert str(error.value) == "RolloutBuffer.__init__() got an unexpected keyword argument 'bogus'"
