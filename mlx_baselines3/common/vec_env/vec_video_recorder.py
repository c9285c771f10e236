"""Recording of rendered frames of a VecEnv as mp4 videos (needs moviepy)."""

import os
from collections.abc import Callable

import numpy as np
from gymnasium import error, logger

from mlx_baselines3.common.exceptions import UsageError
from mlx_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn, VecEnvWrapper
from mlx_baselines3.common.vec_env.dummy_vec_env import DummyVecEnv
from mlx_baselines3.common.vec_env.subproc_vec_env import SubprocVecEnv


class VecVideoRecorder(VecEnvWrapper):
    """
    Records videos of a VecEnv (all sub-environments tiled in one image) as mp4 files, written with moviepy
    (``pip install moviepy``, which needs ffmpeg). A video starts at a reset or step whose step count makes
    ``record_video_trigger`` return True, and is saved once it holds ``video_length + 1`` frames, or at ``close()``.
    Sub-environments must be created with ``render_mode="rgb_array"``.

    :param venv: the VecEnv to record
    :param video_folder: where to write the videos (created if missing)
    :param record_video_trigger: takes the number of steps taken so far, returns whether to start a video
    :param video_length: number of steps per video
    :param name_prefix: videos are named ``{name_prefix}-step-{start}-to-step-{start + video_length}.mp4``
    """

    video_name: str
    video_path: str

    def __init__(
        self,
        venv: VecEnv,
        video_folder: str,
        record_video_trigger: Callable[[int], bool],
        video_length: int = 200,
        name_prefix: str = "rl-video",
    ):
        VecEnvWrapper.__init__(self, venv)
        # Frames are kept from the construction on, so that __del__ works even when a check below fails.
        self.recorded_frames: list[np.ndarray] = []
        self.recording = False
        self.env = venv
        # The frame rate is in the metadata of the sub-environments, not of the VecEnv.
        base_env = venv.unwrapped
        if isinstance(base_env, (DummyVecEnv, SubprocVecEnv)):
            metadata = base_env.get_attr("metadata")[0]
        else:
            metadata = base_env.metadata
        self.env.metadata = metadata
        if self.env.render_mode != "rgb_array":
            raise UsageError(
                f"The render_mode must be 'rgb_array', not {self.env.render_mode}: create the environments with "
                "render_mode='rgb_array'"
            )
        self.frames_per_sec = self.env.metadata.get("render_fps", 30)
        self.record_video_trigger = record_video_trigger
        self.video_folder = os.path.abspath(video_folder)
        os.makedirs(self.video_folder, exist_ok=True)
        self.name_prefix = name_prefix
        self.step_id = 0
        self.video_length = video_length
        try:
            import moviepy  # noqa: F401
        except ImportError as e:
            raise error.DependencyNotInstalled(
                "MoviePy is not installed, run `pip install moviepy` (or `pip install 'gymnasium[other]'`)"
            ) from e

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        if self._video_enabled():
            self._start_video_recorder()
        return obs

    def _start_video_recorder(self) -> None:
        """Start a new video, named after the current step, with the current frame as its first frame."""
        self.video_name = f"{self.name_prefix}-step-{self.step_id}-to-step-{self.step_id + self.video_length}.mp4"
        self.video_path = os.path.join(self.video_folder, self.video_name)
        self._start_recording()
        self._capture_frame()

    def _video_enabled(self) -> bool:
        return self.record_video_trigger(self.step_id)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        self.step_id += 1
        if self.recording:
            self._capture_frame()
            if len(self.recorded_frames) > self.video_length:
                print(f"Saving video to {self.video_path}")
                self._stop_recording()
        elif self._video_enabled():
            self._start_video_recorder()
        return obs, rewards, dones, infos

    def _capture_frame(self) -> None:
        if not self.recording:
            raise UsageError("Cannot capture a frame, recording wasn't started.")
        frame = self.env.render()
        if isinstance(frame, np.ndarray):
            self.recorded_frames.append(frame)
        else:
            self._stop_recording()
            logger.warn(
                f"Recording stopped: expected type of frame returned by render to be a numpy array, got instead {type(frame)}."
            )

    def close(self) -> None:
        """Close the wrapped VecEnv, then save the video being recorded, if any."""
        VecEnvWrapper.close(self)
        if self.recording:
            self._stop_recording()

    def _start_recording(self) -> None:
        """Start a new recording, saving the current one first."""
        if self.recording:
            self._stop_recording()
        self.recording = True

    def _stop_recording(self) -> None:
        """Write the recorded frames to ``video_path`` and stop recording."""
        if not self.recording:
            raise UsageError("_stop_recording was called, but no recording was started")
        if len(self.recorded_frames) == 0:
            logger.warn("Ignored saving a video as there were zero frames to save.")
        else:
            from moviepy.video.io.ImageSequenceClip import ImageSequenceClip

            clip = ImageSequenceClip(self.recorded_frames, fps=self.frames_per_sec)
            clip.write_videofile(self.video_path)
        self.recorded_frames = []
        self.recording = False

    def __del__(self) -> None:
        """Warn when frames are lost because ``close()`` was not called."""
        if len(self.__dict__.get("recorded_frames", [])) > 0:
            logger.warn("Unable to save last video! Did you call close()?")
