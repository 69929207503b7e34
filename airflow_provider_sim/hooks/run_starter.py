"""Start a run from the triggerer, in turn with every other start of the account in the process.

A deferrable task hands its start to the triggerer when the input is small: there the run
watcher of the account sees every run it waits for end, so starts past the plan's cap of runs
in flight queue in one book (:mod:`airflow_provider_sim.protocol.turns`) and go one per freed
slot, instead of each retrying on its own, spending the execute budget on refusals and holding a
worker slot while it waits.

The start is safe to repeat: the run is named by the task try's id, so a restarted triggerer, or
a trigger briefly running in two triggerers, finds the id taken (409) and reads that run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from airflow_provider_sim.exceptions import CONCURRENCY_LIMIT_CODE, SimConflictError, SimRateLimitError
from airflow_provider_sim.hooks.run_watcher import RunWatcher
from airflow_provider_sim.hooks.sim_async import SimAsyncHook
from airflow_provider_sim.protocol.models import SimRun
from airflow_provider_sim.retry import Deadline, past_deadline

log = logging.getLogger(__name__)


async def start_in_turn(
    hook: SimAsyncHook,
    workflow_id: str,
    workflow_input: Any,
    *,
    run_id: str,
    deadline: Deadline,
    selected_outputs: Sequence[str] | None = None,
    execution_timeout_seconds: int | None = None,
) -> SimRun:
    """Start the async run ``run_id`` when the account has a slot for it; return it (queued or on).

    :raises SimRateLimitError: the account stayed at its cap until ``deadline`` (nothing started).
    :raises SimError: Sim refused the run otherwise (401, 402, 403, 404, ...).
    """
    watcher = RunWatcher.for_settings(await hook.settings())
    turns = watcher.turns
    turn = turns.join()
    refusal: SimRateLimitError | None = None
    waiting_since: float | None = None
    try:
        while True:
            while (wait := turns.wait(turn, time.time())) > 0:
                if wait > deadline.left():
                    if deadline.left() <= 0:
                        raise past_deadline(refusal or _at_cap(), wait, deadline)
                    wait = deadline.left()
                await watcher.next_turn_change(wait)
            turns.ask(turn)
            try:
                run = await hook.execute_workflow(
                    workflow_id,
                    workflow_input,
                    run_id=run_id,
                    selected_outputs=selected_outputs,
                    execution_timeout_seconds=execution_timeout_seconds,
                    deadline=deadline,
                    wait_for_turn=False,
                )
            except SimRateLimitError as err:
                if not err.is_concurrency_limit:
                    turns.failed()
                    raise
                turns.refused(turn, err.retry_after, time.time())
                if refusal is None:
                    waiting_since = time.time()
                    log.info(
                        "Sim run %s waits for a slot: the account has as many runs in flight as its "
                        "plan admits (%d starts in line in this triggerer)",
                        run_id,
                        len(turns),
                    )
                refusal = err
                continue
            except SimConflictError:  # this try's start got through before (a restarted triggerer)
                turns.admitted()
                log.info("Sim run %s was started before; waiting for it", run_id)
                return await hook.get_run(workflow_id, run_id)
            except BaseException:
                turns.failed()
                raise
            turns.admitted()
            if waiting_since is not None:
                waited = time.time() - waiting_since
                log.info("Sim admitted run %s after %.0f s waiting for a slot", run_id, waited)
            return run
    finally:
        turns.leave(turn)
        watcher.turns_changed()


def _at_cap() -> SimRateLimitError:
    """The refusal a start that never asked waits on: others in this process met the cap."""
    return SimRateLimitError(
        "the account has as many runs in flight as its Sim plan admits",
        retry_after=None,
        limit_code=CONCURRENCY_LIMIT_CODE,
        http_status=429,
        code="RATE_LIMITED",
    )
