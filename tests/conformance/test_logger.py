"""common.logger: the same files, values and errors as SB3's logger for the same calls."""

import csv
import importlib
import json

import numpy as np
import pytest

from mlx_baselines3.common import logger

sb3_logger = pytest.importorskip("stable_baselines3.common.logger") if importlib.util.find_spec("torch") else None


def _libs():
    return [logger] + ([sb3_logger] if sb3_logger is not None else [])


def _session(module, folder):
    log = module.configure(str(folder), ["csv", "json", "log"])
    for step in range(3):
        log.record("train/loss", 0.5 / (step + 1))
        log.record("time/iterations", step)
        log.record_mean("rollout/ep_rew_mean", float(step))
        log.record_mean("rollout/ep_rew_mean", float(step + 2))
        log.record("text", f"step {step}", exclude=("json",))
        if step == 2:
            log.record("late/key", np.float32(1.5))
        snapshot = (dict(log.name_to_value), dict(log.name_to_count))
        log.dump(step=step)
    log.close()
    return snapshot


def test_same_files_and_state_as_sb3(tmp_path):
    if sb3_logger is None:
        pytest.skip("SB3 not installed")
    ours = _session(logger, tmp_path / "ours")
    theirs = _session(sb3_logger, tmp_path / "sb3")
    assert ours == theirs
    # Same rows; the column order differs: SB3 appends new keys in set order (it varies with PYTHONHASHSEED), ours in
    # sorted order, so files are reproducible.
    rows = {}
    for name in ("ours", "sb3"):
        with open(tmp_path / name / "progress.csv") as file:
            rows[name] = list(csv.DictReader(file))
    assert rows["ours"] == rows["sb3"]
    our_json = [json.loads(line) for line in (tmp_path / "ours" / "progress.json").read_text().splitlines()]
    their_json = [json.loads(line) for line in (tmp_path / "sb3" / "progress.json").read_text().splitlines()]
    assert our_json == their_json
    texts = [(tmp_path / name / "log.txt").read_text().replace(str(tmp_path / name), "<dir>") for name in ("ours", "sb3")]
    assert texts[0] == texts[1]


@pytest.mark.parametrize("module", _libs(), ids=lambda m: m.__name__.split(".")[0])
def test_facts(module, tmp_path):
    assert (module.DEBUG, module.INFO, module.WARN, module.ERROR, module.DISABLED) == (10, 20, 30, 40, 50)
    log = module.configure(str(tmp_path), ["csv"])
    assert log.get_dir() == str(tmp_path)
    assert log.level == module.INFO
    log.record("a", 1)
    log.dump()
    assert log.name_to_value == {} and log.name_to_count == {}  # cleared by dump
    with pytest.raises(Exception, match="`metric_dict` must not be empty"):
        module.HParam({"lr": 1.0}, {})
    with pytest.raises(ValueError, match="Unknown format specified: nope"):
        module.make_output_format("nope", str(tmp_path))
    stdout = module.make_output_format("stdout", str(tmp_path))
    with pytest.raises(module.FormatUnsupportedError, match="The formats stdout, log are not supported for the video value"):
        stdout.write({"v": module.Video(np.zeros((1, 1, 3, 2, 2)), fps=1)}, {"v": None})
    log.close()


def test_module_level_names_as_sb3():
    from mlx_baselines3.common import utils

    if logger.SummaryWriter is None:
        pytest.skip("tensorboardX not installed")
    import tensorboardX

    assert logger.SummaryWriter is tensorboardX.SummaryWriter is utils.SummaryWriter
    assert logger.hparams is tensorboardX.summary.hparams
    from tqdm import tqdm

    assert logger.tqdm is tqdm
