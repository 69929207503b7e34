"""What the production DAG maps over; imported by the DAG file itself, so it imports nothing (every
task parses the DAG, and on 2 busy cores a second of imports per task adds up)."""

from __future__ import annotations

#: the mapped tasks of the production DAG and how many inputs each maps over (300 in all)
TASK_COUNTS = {"sync": 40, "polled": 60, "deferred": 200}
SHORTEST_RUN, LONGEST_RUN = 10, 60


def inputs_for(
    task_id: str, count: int | None = None, seconds: float | None = None
) -> list[dict[str, object]]:
    """The inputs ``task_id`` maps over: each names its task and index and asks the emulator's
    ``sleep`` workflow for a run of 10-60 s (spread evenly, the same every time), or of ``seconds``."""
    offset = sum(TASK_COUNTS[name] for name in list(TASK_COUNTS)[: list(TASK_COUNTS).index(task_id)])
    span = LONGEST_RUN - SHORTEST_RUN + 1
    return [
        {
            "task": task_id,
            "i": i,
            "seconds": seconds if seconds is not None else SHORTEST_RUN + (offset + i) * 37 % span,
        }
        for i in range(TASK_COUNTS[task_id] if count is None else count)
    ]
