"""A grid world observed through a dict of a vector and an image, to test multi-input policies."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mlx_baselines3.common.type_aliases import GymStepReturn


class SimpleMultiObsEnv(gym.Env):
    """
    Grid world (4x4 by default) where the agent walks from a start cell to the last cell. With the default size
    the cells are numbered

    .. code-block:: text

        ____________
       | 0  1  2   3|
       | 4|¯5¯¯6¯| 7|
       | 8|_9_10_|11|
       |12 13  14 15|
       ¯¯¯¯¯¯¯¯¯¯¯¯¯¯

    cells 5, 6, 9 and 10 are walls and 15 is the goal. Actions are left, down, right, up. Each step costs 0.1;
    reaching the goal pays 1 and terminates; after 100 steps the episode is truncated.

    A cell is observed as ``{"vec": ..., "img": ...}``: a random 5-D vector and a random 64x64 ``uint8`` image,
    drawn once at construction from NumPy's global generator (seed it with ``np.random.seed`` for repeatable
    observations). Cell ``s`` shows vector ``s // num_row`` and image ``s % num_row``.

    :param num_col: number of columns
    :param num_row: number of rows
    :param random_start: start in a random non-goal cell instead of cell 0
    :param discrete_actions: ``Discrete(4)`` actions if True; else a ``Box(0, 1, (4,))`` whose argmax is the move
    :param channel_last: image shape (64, 64, 1) if True, else (1, 64, 64)
    """

    def __init__(
        self,
        num_col: int = 4,
        num_row: int = 4,
        random_start: bool = True,
        discrete_actions: bool = True,
        channel_last: bool = True,
    ) -> None:
        super().__init__()
        self.vector_size = 5
        self.img_size = [64, 64, 1] if channel_last else [1, 64, 64]
        self.random_start = random_start
        self.discrete_actions = discrete_actions
        if discrete_actions:
            self.action_space = spaces.Discrete(4)
        else:
            self.action_space = spaces.Box(0, 1, (4,))
        self.observation_space = spaces.Dict(
            spaces={
                "vec": spaces.Box(0, 1, (self.vector_size,), dtype=np.float64),
                "img": spaces.Box(0, 255, self.img_size, dtype=np.uint8),
            }
        )
        self.count = 0
        self.max_count = 100
        self.log = ""
        self.state = 0
        self.action2str = ["left", "down", "right", "up"]
        self.init_possible_transitions()
        self.num_col = num_col
        self.state_mapping: list[dict[str, np.ndarray]] = []
        self.init_state_mapping(num_col, num_row)
        self.max_state = len(self.state_mapping) - 1

    def init_state_mapping(self, num_col: int, num_row: int) -> None:
        """
        Draw the observation shown in each cell.

        :param num_col: number of columns
        :param num_row: number of rows
        """
        col_vecs = np.random.random((num_col, self.vector_size))
        row_imgs = np.random.randint(0, 255, (num_row, 64, 64), dtype=np.uint8)
        for col in range(num_col):
            for row in range(num_row):
                self.state_mapping.append({"vec": col_vecs[col], "img": row_imgs[row].reshape(self.img_size)})

    def get_state_mapping(self) -> dict[str, np.ndarray]:
        """
        :return: the observation of the current cell, ``{"vec": ..., "img": ...}``
        """
        return self.state_mapping[self.state]

    def init_possible_transitions(self) -> None:
        """
        List, for each move, the cells it can leave from. Moving changes the cell number by -1 (left), +1 (right),
        +num_col (down) or -num_col (up), so the walls are encoded by leaving a cell out of a list.
        """
        self.left_possible = [1, 2, 3, 13, 14, 15]
        self.down_possible = [0, 4, 8, 3, 7, 11]
        self.right_possible = [0, 1, 2, 12, 13, 14]
        self.up_possible = [4, 8, 12, 7, 11, 15]

    def step(self, action: int | np.ndarray) -> GymStepReturn:
        """
        Move one cell if the move is allowed from the current cell, otherwise stay.

        :param action: 0 left, 1 down, 2 right, 3 up (or a vector whose argmax is one of these)
        :return: observation, reward (1.0 at the goal, else -0.1), terminated (goal reached), truncated
            (more than 100 steps) and ``{"got_to_end": terminated}``
        """
        if not self.discrete_actions:
            action = int(np.argmax(action))
        self.count += 1
        prev_state = self.state
        moves = (
            (self.left_possible, -1),
            (self.down_possible, self.num_col),
            (self.right_possible, 1),
            (self.up_possible, -self.num_col),
        )
        allowed_from, delta = moves[int(action)]
        if self.state in allowed_from:
            self.state += delta
        got_to_end = self.state == self.max_state
        reward = 1.0 if got_to_end else -0.1
        truncated = self.count > self.max_count
        self.log = f"Went {self.action2str[int(action)]} in state {prev_state}, got to state {self.state}"
        return self.get_state_mapping(), reward, got_to_end, truncated, {"got_to_end": got_to_end}

    def render(self, mode: str = "human") -> None:
        """
        Print the last move.

        :param mode: ignored
        """
        print(self.log)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """
        Go back to the start cell (cell 0, or a random non-goal cell drawn from NumPy's global generator).

        :param seed: seeds the env's ``np_random``
        :param options: unused
        :return: the observation of the start cell and an empty info dict
        """
        if seed is not None:
            super().reset(seed=seed)
        self.count = 0
        self.state = np.random.randint(0, self.max_state) if self.random_start else 0
        return self.state_mapping[self.state], {}
