"""Logger: the console table matches SB3's, each file format writes what a reader gets back, TensorBoard stays optional."""

import io
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from mlx_baselines3.common import logger as mlx_logger
from mlx_baselines3.common.logger import (
    DEBUG,
    DISABLED,
    ERROR,
    INFO,
    WARN,
    CSVOutputFormat,
    Figure,
    FormatUnsupportedError,
    HParam,
    HumanOutputFormat,
    Image,
    JSONOutputFormat,
    Logger,
    TensorBoardOutputFormat,
    Video,
    configure,
    filter_excluded_keys,
    make_output_format,
    read_csv,
    read_json,
)

# Several dumps' worth of records that exercise the table's corner cases: groups, keys without a group after a
# grouped key, Python/NumPy floats (only Python floats get the 3-significant-digit format), ints, strings,
# long keys and values (truncated), and excluded keys.
TABLE_CASES = [
    {"train/loss": 0.123456789, "train/n_updates": 10, "rollout/ep_rew_mean": np.float32(21.5), "time/fps": 1234},
    {"a": 1, "b/c": 2.0, "d": "text", "b/e": np.float64(1e-7), "z/y": -3.25e12},
    {"eval/" + "k" * 50: 1.0, "eval/short": "v" * 60, "time/total_timesteps": 2048},
    {"x/y": 1, "x/z": True, "no_group": None, "nan/value": float("nan"), "inf/value": float("-inf")},
    {"train/loss": 1.5, "train/hidden": 2.0, "time/skip_stdout": 3},
]
TABLE_EXCLUDES = {"train/hidden": ("stdout", "log"), "time/skip_stdout": "stdout"}


def _record_and_dump(logger_module, output_format, records, step: int = 0) -> None:
    """Record ``records`` on a fresh Logger of ``logger_module`` writing to ``output_format`` and dump once."""
    logger = logger_module.Logger(folder=None, output_formats=[output_format])
    for key, value in records.items():
        logger.record(key, value, exclude=TABLE_EXCLUDES.get(key))
    logger.dump(step)


@pytest.mark.parametrize("max_length", [36, 12])
def test_table_matches_sb3(max_length):
    sb3_logger = pytest.importorskip("stable_baselines3.common.logger")
    for records in TABLE_CASES:
        if max_length == 12 and "eval/short" in records:
            continue  # two keys collide once cut to 12 characters: checked in test_truncation_collision
        ours, theirs = io.StringIO(), io.StringIO()
        _record_and_dump(mlx_logger, HumanOutputFormat(ours, max_length=max_length), records)
        _record_and_dump(sb3_logger, sb3_logger.HumanOutputFormat(theirs, max_length=max_length), records)
        assert ours.getvalue() == theirs.getvalue()
        assert ours.getvalue().count("\n") >= 3


def test_stdout_table_matches_sb3(tmp_path, capsys):
    sb3_logger = pytest.importorskip("stable_baselines3.common.logger")
    records = TABLE_CASES[0]
    _record_and_dump(mlx_logger, make_output_format("stdout", str(tmp_path)), records)
    ours = capsys.readouterr().out
    _record_and_dump(sb3_logger, sb3_logger.make_output_format("stdout", str(tmp_path)), records)
    assert ours == capsys.readouterr().out


def test_table_layout_exact():
    stream = io.StringIO()
    _record_and_dump(mlx_logger, HumanOutputFormat(stream), {"train/loss": 0.5, "time/fps": 7, "train/lr": 0.0003})
    assert stream.getvalue() == (
        "----------------------\n"
        "| time/   |          |\n"
        "|    fps  | 7        |\n"
        "| train/  |          |\n"
        "|    loss | 0.5      |\n"
        "|    lr   | 0.0003   |\n"
        "----------------------\n"
    )


def test_truncation():
    stream = io.StringIO()
    _record_and_dump(mlx_logger, HumanOutputFormat(stream, max_length=10), {"group/abcdefghijklmnop": "0123456789abc"})
    lines = stream.getvalue().splitlines()
    # The indented key (3 spaces + 16 chars) and the value are cut to 10 characters ending in "...".
    assert lines[2] == "|    abcd... | 0123456... |"
    assert all(len(line) <= 2 * 10 + 7 for line in lines)


def test_truncation_collision():
    output = HumanOutputFormat(io.StringIO(), max_length=10)
    with pytest.raises(ValueError, match=re.escape("truncated to '   abcd...' that already exists")):
        _record_and_dump(mlx_logger, output, {"g/abcdefgh1": 1, "g/abcdefgh2": 2})


def test_empty_dump_warns():
    stream = io.StringIO()
    with pytest.warns(UserWarning, match="Tried to write empty key-value dict"):
        _record_and_dump(mlx_logger, HumanOutputFormat(stream), {"train/hidden": 1.0})
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("value", "description"),
    [
        (Video(np.zeros((1, 2, 3, 4, 4)), fps=5), "video"),
        (Figure(None, close=False), "figure"),
        (Image(np.zeros((4, 4, 3)), "HWC"), "image"),
        (HParam({"lr": 0.1}, {"m": 0.0}), "hparam"),
    ],
)
@pytest.mark.parametrize("format_name", ["stdout", "log", "csv", "json"])
def test_rich_values_refused_by_text_formats(tmp_path, value, description, format_name):
    output = make_output_format(format_name, str(tmp_path))
    logger = Logger(folder=str(tmp_path), output_formats=[output])
    logger.record("media/value", value)
    expected = "formats stdout, log are" if format_name in ("stdout", "log") else f"format {format_name} is"
    with pytest.raises(FormatUnsupportedError, match=f"The {expected} not supported for the {description} value logged"):
        logger.dump()
    # Excluding the format makes the same value acceptable.
    logger.record("media/value", value, exclude=("stdout", "log", "csv", "json"))
    logger.record("media/number", 1)
    logger.dump()
    output.close()


def test_hparam_needs_metrics():
    with pytest.raises(Exception, match="`metric_dict` must not be empty"):
        HParam({"lr": 0.1}, {})


def test_csv_new_columns_and_quoting(tmp_path):
    path = tmp_path / "progress.csv"
    logger = Logger(folder=str(tmp_path), output_formats=[CSVOutputFormat(str(path))])
    logger.record("a", 1)
    logger.record("b", 0.5)
    logger.dump()
    logger.record("a", 2)
    logger.record("c", 'say "hi", then go')
    logger.record("d", 4, exclude="csv")
    logger.dump()
    logger.record("b", 1.5)
    logger.dump()
    logger.close()

    text = path.read_text().splitlines()
    assert text == ["a,b,c", "1,0.5,", '2,,"say ""hi"", then go"', ",1.5,"]
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["a", "b", "c"]
    np.testing.assert_array_equal(frame["a"].to_numpy(), [1, 2, np.nan])
    np.testing.assert_array_equal(frame["b"].to_numpy(), [0.5, np.nan, 1.5])
    assert frame["c"][1] == 'say "hi", then go'
    pd.testing.assert_frame_equal(read_csv(str(path)), frame)


def test_csv_matches_sb3(tmp_path):
    sb3_logger = pytest.importorskip("stable_baselines3.common.logger")
    frames = []
    for module, folder in ((mlx_logger, tmp_path / "ours"), (sb3_logger, tmp_path / "sb3")):
        logger = module.configure(str(folder), ["csv"])
        for step in range(4):
            logger.record("time/step", step)
            logger.record("train/loss", 1.0 / (step + 1))
            if step >= 2:
                logger.record("eval/text", f"a,b {step}")
            logger.dump(step)
        logger.close()
        frame = pd.read_csv(folder / "progress.csv")
        # SB3 orders new columns by set iteration (random across runs); compare column by column.
        frames.append(frame[sorted(frame.columns)])
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_json_lines(tmp_path):
    import mlx.core as mx

    path = tmp_path / "progress.json"
    logger = Logger(folder=str(tmp_path), output_formats=[JSONOutputFormat(str(path))])
    logger.record("scalar", np.float32(0.25))
    logger.record("one", np.array([3.0]))
    logger.record("many", np.arange(4).reshape(2, 2))
    logger.record("mlx_scalar", mx.array(1.5))
    logger.record("mlx_many", mx.array([1, 2, 3]))
    logger.record("text", "hello")
    logger.record("hidden", 1, exclude="json")
    logger.dump()
    logger.record("scalar", 1.0)
    logger.dump()
    logger.close()

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "scalar": 0.25,
        "one": 3.0,
        "many": [[0, 1], [2, 3]],
        "mlx_scalar": 1.5,
        "mlx_many": [1, 2, 3],
        "text": "hello",
    }
    assert lines[1] == {"scalar": 1.0}
    frame = read_json(str(path))
    assert frame.shape == (2, 6)
    np.testing.assert_array_equal(frame["scalar"].to_numpy(), [0.25, 1.0])


def test_record_mean_and_record():
    stream = io.StringIO()
    logger = Logger(folder=None, output_formats=[HumanOutputFormat(stream)])
    for value in (1.0, 2.0, 6.0, None):
        logger.record_mean("train/mean", value)
    assert logger.name_to_value["train/mean"] == pytest.approx(3.0)
    assert logger.name_to_count["train/mean"] == 3
    logger.record("train/last", 1)
    logger.record("train/last", 2)
    assert logger.name_to_value["train/last"] == 2
    assert logger.name_to_excluded["train/last"] == ("",)
    logger.dump()
    assert "|    mean | 3        |" in stream.getvalue()
    assert logger.name_to_value == {} and logger.name_to_count == {} and logger.name_to_excluded == {}


def test_exclude_helpers():
    assert Logger.to_tuple(None) == ("",)
    assert Logger.to_tuple("csv") == ("csv",)
    assert Logger.to_tuple(("csv", "json")) == ("csv", "json")
    values = {"a": 1, "b": 2, "c": 3}
    excluded = {"a": ("csv",), "b": ("json", "stdout"), "c": ("",)}
    assert filter_excluded_keys(values, excluded, "csv") == {"b": 2, "c": 3}
    assert filter_excluded_keys(values, excluded, "json") == {"a": 1, "c": 3}


def test_levels_and_text_log(tmp_path):
    stream = io.StringIO()
    logger = Logger(folder=str(tmp_path), output_formats=[HumanOutputFormat(stream)])
    assert logger.level == INFO
    assert (DEBUG, INFO, WARN, ERROR, DISABLED) == (10, 20, 30, 40, 50)
    logger.debug("hidden")
    logger.info("shown", 1, 2.5)
    logger.set_level(WARN)
    logger.info("hidden")
    logger.warn("warned")
    logger.error("failed")
    logger.log("custom", level=ERROR)
    assert stream.getvalue() == "shown 1 2.5\nwarned\nfailed\ncustom\n"
    assert logger.get_dir() == str(tmp_path)

    logger.set_level(DISABLED)
    logger.record("a", 1)
    logger.dump()
    logger.error("hidden")
    assert stream.getvalue() == "shown 1 2.5\nwarned\nfailed\ncustom\n"
    # Values stay recorded while disabled, as in SB3.
    assert logger.name_to_value["a"] == 1


def test_configure_files_and_message(tmp_path, capsys):
    folder = tmp_path / "run"
    logger = configure(str(folder), ["stdout", "log", "csv", "json", ""])
    assert capsys.readouterr().out == f"Logging to {folder}\n"
    logger.record("x", 1)
    logger.dump()
    logger.close()
    assert sorted(os.listdir(folder)) == ["log.txt", "progress.csv", "progress.json"]
    log_text = (folder / "log.txt").read_text()
    assert log_text.startswith(f"Logging to {folder}\n")
    assert "| x | 1 |" in log_text
    assert capsys.readouterr().out == "---------\n| x | 1 |\n---------\n"

    configure(str(tmp_path / "quiet"), ["stdout"]).close()
    assert capsys.readouterr().out == ""


def test_configure_defaults_from_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path / "env_dir"))
    monkeypatch.setenv("SB3_LOG_FORMAT", "json,csv")
    logger = configure()
    assert logger.get_dir() == str(tmp_path / "env_dir")
    assert [type(output) for output in logger.output_formats] == [JSONOutputFormat, CSVOutputFormat]
    logger.close()

    monkeypatch.delenv("SB3_LOGDIR")
    monkeypatch.delenv("SB3_LOG_FORMAT")
    monkeypatch.setattr(mlx_logger.tempfile, "gettempdir", lambda: str(tmp_path))
    logger = configure()
    assert os.path.basename(logger.get_dir()).startswith("SB3-")
    assert os.path.dirname(logger.get_dir()) == str(tmp_path)
    assert sorted(os.listdir(logger.get_dir())) == ["log.txt", "progress.csv"]
    logger.close()
    capsys.readouterr()


def test_make_output_format(tmp_path):
    assert make_output_format("stdout", str(tmp_path)).file is sys.stdout
    for name, file_name in (("log", "log_1.txt"), ("json", "progress_1.json"), ("csv", "progress_1.csv")):
        output = make_output_format(name, str(tmp_path / "sub"), log_suffix="_1")
        output.close()
        assert (tmp_path / "sub" / file_name).exists()
    with pytest.raises(ValueError, match="Unknown format specified: xml"):
        make_output_format("xml", str(tmp_path))


def test_human_output_format_targets(tmp_path):
    stream = io.StringIO()
    HumanOutputFormat(stream).close()
    assert not stream.closed  # streams passed in belong to the caller
    with pytest.raises(ValueError, match="Expected file or str, got 3"):
        HumanOutputFormat(3)  # type: ignore[arg-type]


def _read_events(folder):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={kind: 0 for kind in ("scalars", "histograms", "images", "tensors")}
    )
    accumulator.Reload()
    return accumulator


def test_tensorboard_values_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlx.core as mx

    logger = configure(str(tmp_path), ["tensorboard"])
    for step in range(3):
        logger.record("train/loss", 0.5 * step)
        logger.record("time/iterations", step)
        logger.record("hidden", 1.0, exclude="tensorboard")
        logger.dump(step=step * 10)

    figure, axis = plt.subplots(figsize=(2, 1), dpi=50)
    axis.plot([0, 1], [1, 0])
    logger.record("data/hist", np.array([0.0, 1.0, 1.0, 2.0, 4.0]))
    logger.record("data/mlx_hist", mx.arange(10, dtype=mx.float32))
    logger.record("data/text", "hello tensorboard")
    logger.record("media/image", Image(np.full((6, 8, 3), 255, dtype=np.uint8), "HWC"))
    logger.record("media/chw", Image(np.ones((1, 5, 7), dtype=np.float32), "CHW"))
    logger.record("media/figure", Figure(figure, close=True))
    logger.record("media/video", Video(np.zeros((2, 3, 3, 4, 5), dtype=np.float32), fps=10))
    logger.record("hparams", HParam({"lr": 3e-4, "algo": "PPO", "use_sde": False, "skip": None}, {"train/loss": 0.0}))
    logger.dump(step=30)
    logger.close()
    assert not plt.fignum_exists(figure.number)

    events = _read_events(tmp_path)
    tags = events.Tags()
    assert set(tags["scalars"]) == {"train/loss", "time/iterations"}
    loss = events.Scalars("train/loss")
    assert [event.step for event in loss] == [0, 10, 20]
    assert [event.value for event in loss] == pytest.approx([0.0, 0.5, 1.0])

    histogram = events.Histograms("data/hist")[0]
    assert histogram.step == 30
    assert histogram.histogram_value.num == 5
    assert histogram.histogram_value.sum == pytest.approx(8.0)
    assert histogram.histogram_value.sum_squares == pytest.approx(22.0)
    assert (histogram.histogram_value.min, histogram.histogram_value.max) == (0.0, 4.0)
    assert sum(histogram.histogram_value.bucket) == 5
    assert events.Histograms("data/mlx_hist")[0].histogram_value.num == 10

    text_event = events.Tensors("data/text/text_summary")[0]
    assert text_event.tensor_proto.string_val == [b"hello tensorboard"]

    image = events.Images("media/image")[0]
    assert (image.height, image.width) == (6, 8)
    assert image.encoded_image_string.startswith(b"\x89PNG")
    chw = events.Images("media/chw")[0]
    assert (chw.height, chw.width) == (5, 7)
    figure_image = events.Images("media/figure")[0]
    assert (figure_image.height, figure_image.width) == (50, 100)
    video = events.Images("media/video")[0]
    # Two 4x5 videos tiled side by side, encoded as an animated GIF.
    assert (video.height, video.width) == (4, 10)
    assert video.encoded_image_string.startswith(b"GIF8")

    from tensorboard.plugins.hparams import metadata

    hparams_content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    assert set(hparams_content) == {metadata.EXPERIMENT_TAG, metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG}
    session_start = metadata.parse_session_start_info_plugin_data(hparams_content[metadata.SESSION_START_INFO_TAG])
    assert session_start.hparams["lr"].number_value == pytest.approx(3e-4)
    assert session_start.hparams["algo"].string_value == "PPO"
    assert session_start.hparams["use_sde"].bool_value is False
    assert "skip" not in session_start.hparams
    experiment = metadata.parse_experiment_plugin_data(hparams_content[metadata.EXPERIMENT_TAG])
    assert [info.name.tag for info in experiment.metric_infos] == ["train/loss"]


def test_tensorboard_writer_direct_access(tmp_path):
    pytest.importorskip("tensorboard")
    output = TensorBoardOutputFormat(str(tmp_path))
    output.writer.add_text("direct_access", "this is a value", 7)
    output.writer.add_scalar("direct/scalar", 2.5, 7)
    output.writer.flush()
    events = _read_events(tmp_path)
    assert events.Scalars("direct/scalar")[0].value == 2.5
    assert events.Tensors("direct_access/text_summary")[0].step == 7
    output.close()
    with pytest.raises(AssertionError, match="SummaryWriter was closed"):
        output.write({"a": 1}, {"a": ("",)}, 0)


def test_image_dataformats_errors_as_sb3(tmp_path):
    # SB3 hands images to torch's writer, which asserts on a shape that does not match dataformats; tensorboardX too.
    pytest.importorskip("tensorboardX")
    output = TensorBoardOutputFormat(str(tmp_path))
    with pytest.raises(AssertionError, match="size of input tensor and input format are different"):
        output.writer.add_image("bad", np.zeros((4, 4)), 0, dataformats="HWC")
    output.close()


def test_import_does_not_load_tensorboard_or_torch(tmp_path):
    code = (
        "import sys\n"
        "import mlx_baselines3.common.logger as L\n"
        "assert 'tensorboardX' not in sys.modules and 'torch' not in sys.modules\n"
        f"L.configure({str(tmp_path)!r}, ['tensorboard', 'csv']).close()\n"
        # tensorboardX imports torch when it can; the logger keeps it from doing so, and torch stays importable.
        "assert 'tensorboardX' in sys.modules and 'torch' not in sys.modules\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('torch') is None or __import__('torch')\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "MLX_BASELINES3_OPENBLAS": "0"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_missing_tensorboard_error(tmp_path, monkeypatch):
    # A None entry in sys.modules makes the import fail, as if tensorboardX were not installed.
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install tensorboardX \(or pip install \"mlx-baselines3\[extra\]\"\)"):
        make_output_format("tensorboard", str(tmp_path))


class DumpClock(Logger):
    """A logger without outputs that notes the time and the values of each dump."""

    def __init__(self):
        super().__init__(folder=None, output_formats=[])
        self.dumps: list[tuple[float, dict]] = []

    def dump(self, step: int = 0) -> None:
        self.dumps.append((time.time(), dict(self.name_to_value)))
        super().dump(step)


def test_logged_fps_matches_wall_clock():
    from mlx_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=256, batch_size=64, n_epochs=2, seed=0)
    clock = DumpClock()
    model.set_logger(clock)
    start = time.time()
    model.learn(1024)
    assert len(clock.dumps) == 4
    # The dump of an iteration follows its rollout, so the steps counted there are all the steps done by then.
    for dump_time, values in clock.dumps[1:]:
        measured_fps = values["time/total_timesteps"] / (dump_time - start)
        assert values["time/fps"] == pytest.approx(measured_fps, rel=0.1)
    assert [values["time/iterations"] for _, values in clock.dumps] == [1, 2, 3, 4]
