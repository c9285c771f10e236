"""VecEnv API (DummyVecEnv and SubprocVecEnv alike) and the small VecEnv wrappers."""

import csv
import json
import sys
import types
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecCheckNan,
    VecEnvWrapper,
    VecExtractDictObs,
    VecFrameStack,
    VecMonitor,
    VecNormalize,
    VecTransposeImage,
    VecVideoRecorder,
    is_vecenv_wrapped,
    unwrap_vec_normalize,
    unwrap_vec_wrapper,
)
from mlx_baselines3.common.vec_env.base_vec_env import tile_images
from mlx_baselines3.common.vec_env.patch_gym import _convert_space, _patch_env
from mlx_baselines3.common.vec_env.util import copy_obs_dict, dict_to_obs, obs_space_info


class CountEnv(gym.Env):
    """
    Observation ``[steps in episode, random draw at reset]``; reward = action + steps. Ends by termination at
    ``terminate_at`` steps and by truncation at ``truncate_at`` steps. Renders a 2x3 image filled with
    ``10 * env_id + steps``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 7}

    def __init__(self, env_id=0, terminate_at=None, truncate_at=None, render_mode=None):
        self.env_id = env_id
        self.terminate_at = terminate_at
        self.truncate_at = truncate_at
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1000.0, (2,), np.float32)
        self.action_space = spaces.Discrete(3)
        self.count = 0
        self.draw = 0.0

    def _obs(self):
        return np.array([self.count, self.draw], dtype=np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0 if not options else options.get("start", 0)
        self.draw = np.float32(self.np_random.uniform())
        return self._obs(), {"seed": seed, "options": options, "env_id": self.env_id}

    def step(self, action):
        self.count += 1
        terminated = self.count == self.terminate_at
        truncated = self.count == self.truncate_at
        return self._obs(), float(action) + self.count, terminated, truncated, {"count": self.count}

    def render(self):
        return np.full((2, 3, 3), 10 * self.env_id + self.count, dtype=np.uint8)

    def double(self, value, offset=0):
        return 2 * value + offset + self.env_id


class StructEnv(gym.Env):
    """Dict or Tuple observations of deterministic content: an image, a vector and a discrete value."""

    def __init__(self, kind="dict", image_shape=(4, 5, 3), ep_len=3):
        parts = {
            "img": spaces.Box(0, 255, image_shape, np.uint8),
            "vec": spaces.Box(-10.0, 10.0, (3,), np.float32),
            "disc": spaces.Discrete(5),
        }
        self.kind = kind
        self.observation_space = spaces.Dict(parts) if kind == "dict" else spaces.Tuple(tuple(parts.values()))
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.image_shape = image_shape
        self.ep_len = ep_len
        self.t = 0

    def _obs(self):
        img = (np.arange(np.prod(self.image_shape)).reshape(self.image_shape) + self.t) % 256
        parts = {
            "img": img.astype(np.uint8),
            "vec": np.array([self.t, -self.t, 0.5], dtype=np.float32),
            "disc": self.t % 5,
        }
        return parts if self.kind == "dict" else tuple(parts.values())

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, self.t == self.ep_len, False, {}


class NoFrames(VecEnvWrapper):
    """A VecEnv whose render() gives no image."""

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()

    def render(self, mode=None):
        return None


def make_vec(vec_cls, env_fns):
    if vec_cls is SubprocVecEnv:
        return SubprocVecEnv(env_fns, start_method="fork")
    return DummyVecEnv(env_fns)


VEC_CLASSES = [DummyVecEnv, SubprocVecEnv]


@pytest.mark.parametrize("vec_cls", VEC_CLASSES)
def test_auto_reset_terminal_observation_and_truncation(vec_cls):
    venv = make_vec(
        vec_cls,
        [lambda: CountEnv(0, terminate_at=3), lambda: CountEnv(1, truncate_at=2), lambda: CountEnv(2, 2, truncate_at=2)],
    )
    obs = venv.reset()
    assert obs.shape == (3, 2) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[:, 0], [0, 0, 0])

    obs, rewards, dones, infos = venv.step(np.array([1, 2, 0]))
    np.testing.assert_array_equal(obs[:, 0], [1, 1, 1])
    np.testing.assert_array_equal(rewards, [2.0, 3.0, 1.0])
    # As in SB3: DummyVecEnv stores rewards as float32, SubprocVecEnv stacks the envs' Python floats.
    assert rewards.dtype == (np.float32 if vec_cls is DummyVecEnv else np.float64) and dones.dtype == bool
    assert [info["count"] for info in infos] == [1, 1, 1]
    assert all(info["TimeLimit.truncated"] is False and "terminal_observation" not in info for info in infos)

    first_draw = venv.get_attr("draw")
    obs, rewards, dones, infos = venv.step(np.array([0, 0, 0]))
    np.testing.assert_array_equal(dones, [False, True, True])
    # Env 1 was truncated; env 2 terminated and truncated on the same step, which counts as termination.
    assert [info["TimeLimit.truncated"] for info in infos] == [False, True, False]
    assert "terminal_observation" not in infos[0]
    for idx in (1, 2):
        np.testing.assert_array_equal(infos[idx]["terminal_observation"], [2, first_draw[idx]])
        # The returned observation is the first of the next episode.
        np.testing.assert_array_equal(obs[idx], [0, venv.get_attr("draw", idx)[0]])
    np.testing.assert_array_equal(obs[0], [2, first_draw[0]])
    assert venv.reset_infos[1]["env_id"] == 1 and venv.reset_infos[2]["env_id"] == 2

    obs, _, dones, infos = venv.step(np.array([0, 0, 0]))
    np.testing.assert_array_equal(dones, [True, False, False])
    np.testing.assert_array_equal(infos[0]["terminal_observation"], [3, first_draw[0]])
    np.testing.assert_array_equal(obs[:, 0], [0, 1, 1])
    venv.close()


@pytest.mark.parametrize("vec_cls", VEC_CLASSES)
def test_seed_and_options_apply_at_next_reset_only(vec_cls):
    venv = make_vec(vec_cls, [lambda i=i: CountEnv(i) for i in range(3)])
    assert venv.seed(42) == [42, 43, 44]
    obs = venv.reset()
    expected = [np.random.default_rng(seed).uniform() for seed in (42, 43, 44)]
    np.testing.assert_allclose(obs[:, 1], expected, rtol=1e-6)
    assert [info["seed"] for info in venv.reset_infos] == [42, 43, 44]
    assert all(info["options"] is None for info in venv.reset_infos)

    # Seeds are used once: the next reset continues the same random streams.
    obs_again = venv.reset()
    assert [info["seed"] for info in venv.reset_infos] == [None, None, None]
    assert not np.allclose(obs_again[:, 1], expected)

    options = {"start": 7}
    venv.set_options(options)
    options["start"] = 99  # later changes by the caller must not leak in
    np.testing.assert_array_equal(venv.reset()[:, 0], [7, 7, 7])
    np.testing.assert_array_equal(venv.reset()[:, 0], [0, 0, 0])

    venv.set_options([{"start": 1}, {}, {"start": 3}])
    np.testing.assert_array_equal(venv.reset()[:, 0], [1, 0, 3])
    # An empty options dict is not passed at all, as if no options were set.
    assert venv.reset_infos[1]["options"] is None

    random_seeds = venv.seed()
    assert len(random_seeds) == 3 and random_seeds[1] == random_seeds[0] + 1
    venv.close()


@pytest.mark.parametrize("vec_cls", VEC_CLASSES)
def test_attribute_and_method_access_with_indices(vec_cls):
    venv = make_vec(vec_cls, [lambda i=i: Monitor(CountEnv(i)) for i in range(3)])
    # get_attr looks through gymnasium wrappers (Monitor here).
    assert venv.get_attr("env_id") == [0, 1, 2]
    assert venv.get_attr("env_id", indices=1) == [1]
    assert venv.get_attr("env_id", indices=[2, 0]) == [2, 0]
    venv.set_attr("terminate_at", 5, indices=[0, 2])
    assert venv.get_attr("terminate_at") == [5, None, 5]
    assert venv.env_method("double", 10) == [20, 21, 22]
    assert venv.env_method("double", 1, indices=[1], offset=100) == [103]
    assert venv.has_attr("env_id") and not venv.has_attr("no_such_attribute")
    assert venv.env_is_wrapped(Monitor) == [True, True, True]
    assert venv.env_is_wrapped(gym.wrappers.TimeLimit, indices=0) == [False]
    with pytest.raises(AttributeError):
        venv.get_attr("no_such_attribute")
    venv.close()


@pytest.mark.parametrize("vec_cls", VEC_CLASSES)
@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_structured_observations(vec_cls, kind):
    venv = make_vec(vec_cls, [lambda: StructEnv(kind), lambda: StructEnv(kind)])
    obs = venv.reset()
    obs, _, dones, infos = venv.step(np.zeros((2, 2), dtype=np.float32))
    parts = obs if kind == "dict" else dict(zip(["img", "vec", "disc"], obs, strict=True))
    assert isinstance(obs, dict if kind == "dict" else tuple)
    assert parts["img"].shape == (2, 4, 5, 3) and parts["img"].dtype == np.uint8
    assert parts["vec"].shape == (2, 3) and parts["vec"].dtype == np.float32
    np.testing.assert_array_equal(parts["vec"], [[1, -1, 0.5], [1, -1, 0.5]])
    np.testing.assert_array_equal(parts["disc"], [1, 1])
    np.testing.assert_array_equal(parts["img"][0], (np.arange(60).reshape(4, 5, 3) + 1).astype(np.uint8))
    for _ in range(2):
        obs, _, dones, infos = venv.step(np.zeros((2, 2), dtype=np.float32))
    assert dones.all()
    terminal = infos[0]["terminal_observation"]
    terminal_vec = terminal["vec"] if kind == "dict" else terminal[1]
    np.testing.assert_array_equal(terminal_vec, [3, -3, 0.5])
    venv.close()


def test_dummy_vec_env_returns_copies_of_its_buffers():
    venv = DummyVecEnv([lambda: CountEnv(0)])
    first = venv.reset()
    venv.step(np.array([0]))
    assert first[0, 0] == 0


def test_same_env_instance_twice_is_refused():
    env = CountEnv()
    with pytest.raises(ValueError, match="same instance"):
        DummyVecEnv([lambda: env, lambda: env])


def test_tile_images_grid_layout():
    images = [np.full((2, 3, 1), value, dtype=np.uint8) for value in (1, 2, 3)]
    tiled = tile_images(images)
    # 3 images -> 2x2 grid, row-major, the missing cell black.
    assert tiled.shape == (4, 6, 1)
    np.testing.assert_array_equal(tiled[:2, :3, 0], 1)
    np.testing.assert_array_equal(tiled[:2, 3:, 0], 2)
    np.testing.assert_array_equal(tiled[2:, :3, 0], 3)
    np.testing.assert_array_equal(tiled[2:, 3:, 0], 0)
    assert tile_images(images[:1]).shape == (2, 3, 1)


@pytest.mark.parametrize("vec_cls", VEC_CLASSES)
def test_render_rgb_array_tiles_sub_environments(vec_cls):
    venv = make_vec(vec_cls, [lambda i=i: CountEnv(i, render_mode="rgb_array") for i in range(2)])
    assert venv.render_mode == "rgb_array"
    assert venv.metadata["render_modes"] == (["human", "rgb_array"] if vec_cls is SubprocVecEnv else ["rgb_array"])
    venv.reset()
    venv.step(np.array([0, 0]))
    image = venv.render()
    assert image.shape == (4, 3, 3)  # 2 images -> 2 rows, 1 column
    np.testing.assert_array_equal(image[:2], 1)
    np.testing.assert_array_equal(image[2:], 11)
    np.testing.assert_array_equal(venv.render(mode="rgb_array"), image)
    assert len(venv.get_images()) == 2
    venv.close()


def test_render_mode_mismatch_warns_and_returns_none():
    venv = DummyVecEnv([lambda: CountEnv(0)])
    assert venv.render_mode is None and venv.metadata == CountEnv.metadata
    with pytest.warns(UserWarning, match="no `render_mode`"):
        assert venv.render() is None
    with pytest.warns(UserWarning, match="render modes are determined during the initialization"):
        assert venv.render(mode="rgb_array") is None
    with pytest.warns(UserWarning, match="must be 'human' or 'rgb_array'"):
        assert venv.render(mode="human") is None
    with pytest.warns(UserWarning, match="assumes it is `rgb_array`"):
        assert venv.get_images() == [None]


def test_render_modes_must_agree():
    with pytest.raises(AssertionError, match="render_mode"):
        DummyVecEnv([lambda: CountEnv(render_mode="rgb_array"), lambda: CountEnv()])


class ScaleObs(VecEnvWrapper):
    """Multiplies observations by ``factor``; defines ``factor`` and ``label`` to test attribute forwarding."""

    label = "scale"

    def __init__(self, venv, factor):
        super().__init__(venv)
        self.factor = factor

    def reset(self):
        return self.venv.reset() * self.factor

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        return obs * self.factor, rewards, dones, infos


class Labelled(VecEnvWrapper):
    label = "outer"

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()


def test_wrapper_forwards_attributes_and_detects_ambiguity():
    base = DummyVecEnv([lambda: CountEnv(0, terminate_at=2)])
    inner = ScaleObs(base, 3.0)
    outer = Labelled(inner)
    assert outer.factor == 3.0  # found in a wrapped VecEnv
    assert outer.envs is base.envs  # found in the innermost VecEnv
    assert outer.unwrapped is base
    assert outer.num_envs == 1 and outer.observation_space == base.observation_space
    outer.reset()
    obs = outer.step(np.array([0]))[0]
    np.testing.assert_array_equal(obs[0, 0], 3.0)
    # Both wrappers define "label": reading it through the outer one is ambiguous only when it is not its own.
    assert outer.label == "outer"
    with pytest.raises(AttributeError, match="ambiguous"):
        Labelled.__getattr__(outer, "label")
    with pytest.raises(AttributeError):
        outer.does_not_exist  # noqa: B018
    # seed/set_options/get_attr go down to the base VecEnv.
    assert outer.seed(5) == [5]
    outer.set_options({"start": 4})
    assert outer.reset()[0, 0] == 12.0
    assert outer.get_attr("env_id") == [0]
    assert unwrap_vec_wrapper(outer, ScaleObs) is inner
    assert is_vecenv_wrapped(outer, ScaleObs) and not is_vecenv_wrapped(outer, VecNormalize)
    assert unwrap_vec_normalize(outer) is None
    normalized = VecNormalize(outer)
    assert unwrap_vec_normalize(Labelled(normalized)) is normalized


def test_vec_monitor_records_episodes(tmp_path):
    venv = DummyVecEnv([lambda: CountEnv(0, terminate_at=2), lambda: CountEnv(1, terminate_at=3)])
    monitor = VecMonitor(venv, filename=str(tmp_path / "run"), info_keywords=("count",))
    monitor.reset()
    episodes = []
    for _ in range(6):
        _, _, dones, infos = monitor.step(np.array([1, 2]))
        episodes += [(idx, infos[idx]["episode"]) for idx in np.flatnonzero(dones)]
    # Env 0: rewards (1+1)+(1+2)=5 over 2 steps; env 1: (2+1)+(2+2)+(2+3)=12 over 3 steps.
    assert [(idx, float(ep["r"]), int(ep["l"]), ep["count"]) for idx, ep in episodes] == [
        (0, 5.0, 2, 2),
        (1, 12.0, 3, 3),
        (0, 5.0, 2, 2),
        (0, 5.0, 2, 2),
        (1, 12.0, 3, 3),
    ]
    assert monitor.episode_count == 5 and all(ep["t"] >= 0 for _, ep in episodes)
    monitor.close()
    with open(tmp_path / "run.monitor.csv") as file:
        header = json.loads(file.readline()[1:])
        rows = list(csv.DictReader(file))
    assert set(header) == {"t_start", "env_id"}
    assert [(float(row["r"]), int(row["l"]), int(row["count"])) for row in rows] == [
        (5.0, 2, 2),
        (12.0, 3, 3),
        (5.0, 2, 2),
        (5.0, 2, 2),
        (12.0, 3, 3),
    ]


def test_vec_monitor_warns_over_monitor():
    with pytest.warns(UserWarning, match="already wrapped with a `Monitor`"):
        VecMonitor(DummyVecEnv([lambda: Monitor(CountEnv())]))


def test_vec_extract_dict_obs():
    venv = VecExtractDictObs(DummyVecEnv([lambda: StructEnv("dict", ep_len=1)]), "vec")
    assert venv.observation_space == spaces.Box(-10.0, 10.0, (3,), np.float32)
    np.testing.assert_array_equal(venv.reset(), [[0, 0, 0.5]])
    obs, _, dones, infos = venv.step(np.zeros((1, 2), dtype=np.float32))
    assert dones[0]
    np.testing.assert_array_equal(infos[0]["terminal_observation"], [1, -1, 0.5])
    np.testing.assert_array_equal(obs, [[0, 0, 0.5]])
    with pytest.raises(AssertionError, match="Dict obs space"):
        VecExtractDictObs(DummyVecEnv([lambda: CountEnv()]), "vec")
    with pytest.raises(KeyError, match="valid keys"):
        VecExtractDictObs(DummyVecEnv([lambda: StructEnv("dict")]), "nope")


def test_vec_transpose_image_box_and_dict():
    image_env = DummyVecEnv([lambda: StructEnv("dict", image_shape=(4, 5, 3), ep_len=1)])
    venv = VecTransposeImage(VecExtractDictObs(image_env, "img"))
    assert venv.observation_space.shape == (3, 4, 5) and venv.observation_space.dtype == np.uint8
    raw = np.arange(60).reshape(4, 5, 3).astype(np.uint8)
    obs = venv.reset()
    np.testing.assert_array_equal(obs[0], raw.transpose(2, 0, 1))
    _, _, _, infos = venv.step(np.zeros((1, 2), dtype=np.float32))
    np.testing.assert_array_equal(infos[0]["terminal_observation"], (raw + 1).transpose(2, 0, 1))

    dict_venv = VecTransposeImage(DummyVecEnv([lambda: StructEnv("dict")]))
    assert dict_venv.image_space_keys == ["img"]
    assert dict_venv.observation_space["img"].shape == (3, 4, 5)
    assert dict_venv.observation_space["vec"] == spaces.Box(-10.0, 10.0, (3,), np.float32)
    obs = dict_venv.reset()
    assert obs["img"].shape == (1, 3, 4, 5) and obs["vec"].shape == (1, 3)
    # The wrapped VecEnv's space is not modified.
    assert dict_venv.venv.observation_space["img"].shape == (4, 5, 3)

    skipped = VecTransposeImage(VecExtractDictObs(image_env, "img"), skip=True)
    assert skipped.observation_space.shape == (4, 5, 3) and skipped.reset().shape == (1, 4, 5, 3)
    with pytest.raises(AssertionError, match="image or dictionary"):
        VecTransposeImage(DummyVecEnv([lambda: CountEnv()]))
    with pytest.raises(AssertionError, match="channel last"):
        VecTransposeImage(VecExtractDictObs(DummyVecEnv([lambda: StructEnv("dict", image_shape=(3, 8, 8))]), "img"))


class NanEnv(CountEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if self.count == 2:
            obs[0] = np.nan
        if self.count == 3:
            reward = np.inf
        return obs, reward, terminated, truncated, info


def test_vec_check_nan():
    venv = VecCheckNan(DummyVecEnv([lambda: NanEnv()]), raise_exception=True)
    venv.reset()
    venv.step(np.array([0]))
    with pytest.raises(ValueError, match=r"found nan in observations.*\r\nOriginated from the environment"):
        venv.step(np.array([0]))
    with pytest.raises(ValueError, match="found inf in rewards"):
        venv.step(np.array([0]))
    with pytest.raises(ValueError, match=r"found nan in actions.*\r\nOriginated from the RL model"):
        venv.step(np.array([np.nan]))

    no_inf = VecCheckNan(DummyVecEnv([lambda: NanEnv()]), raise_exception=True, check_inf=False)
    no_inf.reset()
    no_inf.step(np.array([0]))
    with pytest.raises(ValueError, match="found nan in observations"):
        no_inf.step(np.array([0]))
    _, rewards, _, _ = no_inf.step(np.array([0]))  # an infinite reward passes unnoticed
    assert rewards[0] == np.inf

    warn_once = VecCheckNan(DummyVecEnv([lambda: NanEnv()]))
    warn_once.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            warn_once.step(np.array([0]))
    messages = [str(w.message) for w in caught if "found" in str(w.message)]
    assert len(messages) == 1 and "found nan in observations" in messages[0]


def test_vec_check_nan_dict_observations():
    venv = VecCheckNan(DummyVecEnv([lambda: StructEnv("dict")]), raise_exception=True)
    venv.reset()
    venv.step(np.zeros((1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="found nan in actions"):
        venv.step(np.full((1, 2), np.nan, dtype=np.float32))


class FakeClip:
    written: list = []

    def __init__(self, frames, fps):
        self.frames = [frame.copy() for frame in frames]
        self.fps = fps

    def write_videofile(self, path):
        FakeClip.written.append((path, self.frames, self.fps))


@pytest.fixture
def fake_moviepy(monkeypatch):
    """Stands in for moviepy so that the recording logic is tested without video encoding."""
    clip_module = types.ModuleType("moviepy.video.io.ImageSequenceClip")
    clip_module.ImageSequenceClip = FakeClip
    for name in ("moviepy", "moviepy.video", "moviepy.video.io"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "moviepy.video.io.ImageSequenceClip", clip_module)
    FakeClip.written = []
    return FakeClip


def test_vec_video_recorder_records_triggered_steps(tmp_path, fake_moviepy):
    venv = DummyVecEnv([lambda i=i: CountEnv(i, render_mode="rgb_array") for i in range(2)])
    recorder = VecVideoRecorder(venv, str(tmp_path / "videos"), lambda step: step == 2, video_length=3, name_prefix="test")
    assert recorder.frames_per_sec == 7
    recorder.reset()
    for _ in range(8):
        recorder.step(np.array([0, 0]))
    recorder.close()
    assert len(fake_moviepy.written) == 1
    path, frames, fps = fake_moviepy.written[0]
    assert path == str(tmp_path / "videos" / "test-step-2-to-step-5.mp4") and fps == 7
    # video_length + 1 frames, from step 2 to step 5; each frame tiles both envs (values 10 * env_id + count).
    assert len(frames) == 4 and frames[0].shape == (4, 3, 3)
    assert [int(frame[0, 0, 0]) for frame in frames] == [2, 3, 4, 5]
    assert [int(frame[2, 0, 0]) for frame in frames] == [12, 13, 14, 15]
    assert (tmp_path / "videos").is_dir() and recorder.recorded_frames == []


def test_vec_video_recorder_saves_at_close_and_stops_on_bad_frames(tmp_path, fake_moviepy):
    recorder = VecVideoRecorder(
        DummyVecEnv([lambda: CountEnv(render_mode="rgb_array")]), str(tmp_path), lambda step: step == 0, video_length=100
    )
    recorder.reset()
    recorder.step(np.array([0]))
    recorder.close()
    assert len(fake_moviepy.written) == 1 and len(fake_moviepy.written[0][1]) == 2

    faulty = VecVideoRecorder(
        NoFrames(DummyVecEnv([lambda: CountEnv(render_mode="rgb_array")])), str(tmp_path), lambda step: True, video_length=5
    )
    with pytest.warns(UserWarning) as record:
        faulty.reset()
    messages = " ".join(str(w.message) for w in record)
    assert "Ignored saving a video as there were zero frames" in messages and "Recording stopped" in messages
    assert not faulty.recording and faulty.recorded_frames == []
    assert len(fake_moviepy.written) == 1  # nothing more was written


def test_vec_video_recorder_requirements(tmp_path, monkeypatch):
    with pytest.raises(AssertionError, match="render_mode must be 'rgb_array'"):
        VecVideoRecorder(DummyVecEnv([lambda: CountEnv()]), str(tmp_path), lambda step: True)
    monkeypatch.setitem(sys.modules, "moviepy", None)
    with pytest.raises(gym.error.DependencyNotInstalled, match="pip install moviepy"):
        VecVideoRecorder(DummyVecEnv([lambda: CountEnv(render_mode="rgb_array")]), str(tmp_path), lambda step: True)


def test_obs_space_info_and_dict_to_obs():
    box = spaces.Box(0, 1, (2, 3), np.float32)
    assert obs_space_info(box) == ([None], {None: (2, 3)}, {None: np.float32})
    keys, shapes, dtypes = obs_space_info(StructEnv("dict").observation_space)
    # gymnasium sorts the keys of a Dict space built from a plain dict.
    assert keys == ["disc", "img", "vec"] and shapes["disc"] == () and dtypes["img"] == np.uint8
    keys, shapes, _ = obs_space_info(StructEnv("tuple").observation_space)
    assert keys == [0, 1, 2] and shapes[1] == (3,)
    with pytest.raises(NotImplementedError, match="Nested observation spaces"):
        obs_space_info(spaces.Dict({"a": spaces.Tuple((spaces.Discrete(2),))}))

    array = np.ones((2, 3))
    assert dict_to_obs(box, {None: array}) is array
    as_tuple = dict_to_obs(StructEnv("tuple").observation_space, {0: 1, 1: 2, 2: 3})
    assert as_tuple == (1, 2, 3)
    with pytest.raises(AssertionError):
        dict_to_obs(box, {None: array, "extra": array})

    original = {"a": np.zeros(2)}
    copied = copy_obs_dict(original)
    copied["a"][0] = 1
    assert original["a"][0] == 0


def test_non_gymnasium_envs_and_spaces_are_refused():
    env = CountEnv()
    assert _patch_env(env) is env
    assert _convert_space(env.observation_space) is env.observation_space
    with pytest.raises(ValueError, match="not a Gymnasium environment"):
        _patch_env(object())
    with pytest.raises(ValueError, match="not a Gymnasium space"):
        _convert_space(object())


def test_parity_with_sb3_dummy_vec_env_and_monitor():
    sb3_vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    sb3_monitor = pytest.importorskip("stable_baselines3.common.monitor")

    def rollout(dummy_cls, monitor_cls):
        venv = dummy_cls([lambda: monitor_cls(gym.make("CartPole-v1")) for _ in range(3)])
        venv.seed(123)
        trace = [venv.reset()]
        rng = np.random.default_rng(0)
        for _ in range(80):
            obs, rewards, dones, infos = venv.step(rng.integers(0, 2, size=3))
            episodes = [(info["episode"]["r"], info["episode"]["l"]) for info in infos if "episode" in info]
            terminal = [info.get("terminal_observation") for info in infos]
            trace.append((obs, rewards, dones, [info["TimeLimit.truncated"] for info in infos], episodes, terminal))
        return trace

    ours = rollout(DummyVecEnv, Monitor)
    theirs = rollout(sb3_vec_env.DummyVecEnv, sb3_monitor.Monitor)
    np.testing.assert_array_equal(ours[0], theirs[0])
    n_episodes = 0
    for mine, ref in zip(ours[1:], theirs[1:], strict=True):
        for a, b in zip(mine[:3], ref[:3], strict=True):
            np.testing.assert_array_equal(a, b)
        assert mine[3] == ref[3] and mine[4] == ref[4]
        n_episodes += len(mine[4])
        for a, b in zip(mine[5], ref[5], strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)
    assert n_episodes > 3


def test_vec_frame_stack_is_a_wrapper_with_forwarding():
    venv = VecFrameStack(DummyVecEnv([lambda: CountEnv(3)]), n_stack=2)
    assert venv.get_attr("env_id") == [3] and venv.envs[0].env_id == 3


class _ColorEnv(gym.Env):
    """Renders a 64x48 frame whose grey level counts the steps (10 per step)."""

    observation_space = spaces.Box(0, 1, (1,))
    action_space = spaces.Discrete(2)
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self):
        self.render_mode = "rgb_array"
        self.count = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.count += 1
        return np.zeros(1, dtype=np.float32), 0.0, False, False, {}

    def render(self):
        return np.full((48, 64, 3), 10 * self.count, dtype=np.uint8)


def test_vec_video_recorder_writes_a_real_mp4(tmp_path):
    pytest.importorskip("moviepy")
    from moviepy import VideoFileClip

    venv = DummyVecEnv([_ColorEnv] * 2)
    recorder = VecVideoRecorder(venv, str(tmp_path), lambda step: step == 0, video_length=12, name_prefix="color")
    recorder.reset()
    tiled = tile_images(venv.get_images())
    for _ in range(12):
        recorder.step(np.zeros(2, dtype=np.int64))
    recorder.close()
    video = tmp_path / "color-step-0-to-step-12.mp4"
    with VideoFileClip(str(video)) as clip:
        assert clip.fps == recorder.frames_per_sec == 10
        frames = list(clip.iter_frames())
    # video_length + 1 frames of both envs tiled together, decoded back from the mp4 (lossy: grey levels within 8).
    assert len(frames) == 13
    assert frames[0].shape == tiled.shape
    levels = [float(frame[:48, :64].mean()) for frame in frames]
    np.testing.assert_allclose(levels, [10.0 * step for step in range(13)], atol=8)
