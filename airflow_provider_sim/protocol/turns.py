"""Whose turn it is to ask Sim for a run when the account is at its cap of runs in flight.

No I/O here. Sim admits so many runs in flight per account (free 10, pro 50, team 200,
enterprise 1,000) and answers one more execute with 429 ``EXECUTION_CONCURRENCY_LIMIT``; every
refused execute still costs a token of the account's execute budget (30 a minute on free). A
thousand starts that each retry every ``Retry-After`` on their own spend that budget on refusals
and leave the cap idle while it refills.

A :class:`TurnBook` (one per process and account, kept by the run watcher) queues the starts
instead. Until Sim refuses one, every start goes at once. After a refusal, starts go in the order
they came, one for each run the watcher saw end (a slot freed), and, so runs the watcher does not
see also free slots, one probe at a time after ``Retry-After``, slower after each probe Sim
refuses. An admitted probe lets the next start go at once; a refusal stops them again.
"""

from __future__ import annotations

import math
from collections import deque

#: the slowest probe of a full account, in seconds
MAX_PROBE_SECONDS = 60.0


class Turn:
    """One start waiting for its turn (compared by identity)."""


class TurnBook:
    """Passes for starts at an account's cap of runs in flight; see the module docstring."""

    def __init__(self) -> None:
        self._queue: deque[Turn] = deque()
        self._passes: int | None = None  # None: Sim has refused nothing lately, anyone may start
        self._asking = 0  # starts sent, not answered
        self._probing = False  # the one start under way without a pass
        self._probe_at = 0.0
        self._probe_gap = 0.0  # grows with each refused probe
        self._hint = 5.0

    def __len__(self) -> int:
        """Starts waiting for their turn."""
        return len(self._queue)

    @property
    def full(self) -> bool:
        """Whether Sim's last answer to a start was a refusal for the cap (and no slot seen free since)."""
        return self._passes is not None

    def join(self) -> Turn:
        """A start joins the queue."""
        turn = Turn()
        self._queue.append(turn)
        return turn

    def leave(self, turn: Turn) -> None:
        """A start gives up (its task's deadline, a cancel) before its turn came."""
        if turn in self._queue:
            self._queue.remove(turn)

    def wait(self, turn: Turn, now: float) -> float:
        """Seconds until ``turn`` may ask (0: now; ``inf``: until a run ends or another start is answered)."""
        if self._passes is None:
            return 0.0
        position = self._queue.index(turn) if turn in self._queue else 0
        if position < self._passes:
            return 0.0
        if position == self._passes and not self._probing:
            return max(0.0, self._probe_at - now)
        return math.inf

    def ask(self, turn: Turn) -> None:
        """``turn`` sends its execute (after :meth:`wait` said 0)."""
        self.leave(turn)
        self._asking += 1
        if self._passes is None:
            return
        if self._passes > 0:
            self._passes -= 1
        else:
            self._probing = True

    def admitted(self) -> None:
        """Sim started the run ``turn`` asked for (or it had started already)."""
        self._asking = max(0, self._asking - 1)
        if self._passes is None:
            return
        if self._probing:  # a slot the watcher did not see free: maybe more
            self._probing = False
            self._probe_gap = 0.0
            self._passes += 1
        if not self._queue and not self._asking:
            self._passes = None  # nobody waits: the next start finds out for itself

    def refused(self, turn: Turn, retry_after: float | None, now: float) -> None:
        """Sim refused ``turn``'s start for the cap; it waits again at the head of the queue."""
        self._asking = max(0, self._asking - 1)
        self._queue.appendleft(turn)
        if retry_after is not None:
            self._hint = max(retry_after, 1.0)
        if self._probing or self._passes is None:
            self._probe_gap = min(MAX_PROBE_SECONDS, max(self._hint, 2 * self._probe_gap))
        self._probing = False
        self._passes = 0
        self._probe_at = now + max(self._probe_gap, self._hint)

    def failed(self) -> None:
        """``turn``'s start ended otherwise (another error, a cancel): it tells nothing about slots."""
        self._asking = max(0, self._asking - 1)
        if self._probing:
            self._probing = False

    def run_ended(self) -> None:
        """A run of this account left its slot: the next start in line may go."""
        if self._passes is not None:
            self._passes += 1
