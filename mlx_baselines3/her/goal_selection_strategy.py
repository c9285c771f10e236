"""How Hindsight Experience Replay picks the goals of its virtual transitions."""

from enum import Enum


class GoalSelectionStrategy(Enum):
    """
    Which achieved goal replaces the desired goal of a virtual transition:

    - ``FUTURE``: one achieved at or after the transition, in the same episode
    - ``FINAL``: the one achieved at the end of the episode
    - ``EPISODE``: one achieved anywhere in the same episode
    """

    FUTURE = 0
    FINAL = 1
    EPISODE = 2


# The names accepted for `goal_selection_strategy`.
KEY_TO_GOAL_STRATEGY = {
    "future": GoalSelectionStrategy.FUTURE,
    "final": GoalSelectionStrategy.FINAL,
    "episode": GoalSelectionStrategy.EPISODE,
}
