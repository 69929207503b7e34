"""Admitting, starting, cancelling and resuming runs, for both API generations.

The checks before a run starts follow Sim's order (``lib/execution/preprocessing.ts``): unknown
workflow (404), id already claimed (409), not deployed (403), usage limit (402), execution rate
limit (429, takes a token), then the in-flight cap (429 ``EXECUTION_CONCURRENCY_LIMIT``; last, as
Sim reserves the slot last, so a refusal there still has cost a rate-limit token). A rejected
request claims nothing: an id is claimed only by a run that really starts, and then for good.

Each run executes as an asyncio task inside the server, so runs proceed concurrently and keep
going when the client that started them disconnects.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_sim.emulator.config import EmulatorSettings
from airflow_provider_sim.emulator.files import received_files
from airflow_provider_sim.emulator.ratelimit import BucketState, Counter, RateLimiter
from airflow_provider_sim.emulator.state import (
    ApiVersion,
    PauseInfo,
    Run,
    RunMode,
    RunStatus,
    RunStore,
    utcnow,
)
from airflow_provider_sim.emulator.workflows import (
    WORKFLOWS,
    Completed,
    Emit,
    Failed,
    Held,
    Outcome,
    Paused,
    Workflow,
)

CANCELLED_MESSAGE = "Execution was cancelled"
#: a v1 async job is named after its run: ``workflow-execution:<executionId>``
JOB_ID_PREFIX = "workflow-execution:"
RESET_MESSAGE = "Execution was cancelled because the emulator was reset or stopped"
#: one leg of a run: the workflow itself, or what it does after a resume
Step = Callable[[Emit], Awaitable[Outcome]]


@dataclass(frozen=True)
class Admitted:
    """The execute may start; ``bucket`` is the rate-limit counter it was charged to."""

    workflow: Workflow
    bucket: BucketState


#: Sim's answer to an execute rejected for these reasons (conflict and concurrency: per generation)
REFUSALS: dict[str, tuple[int, str]] = {
    "not_found": (404, "Workflow not found"),
    "not_deployed": (403, "Workflow is not deployed"),
    "usage_limit": (402, "Usage limit exceeded. Please upgrade your plan to continue."),
    "rate_limited": (429, "Rate limit exceeded. Please try again later."),
}


@dataclass(frozen=True)
class Rejected:
    """The execute is refused before any run exists."""

    reason: Literal["not_found", "conflict", "not_deployed", "usage_limit", "rate_limited", "concurrency"]
    bucket: BucketState


@dataclass(frozen=True)
class CancelResult:
    """What a cancel request found and did.

    :param previous: the run's status before the request.
    :param cancelled: this request cancelled the run (false if it had already finished).
    """

    previous: RunStatus
    cancelled: bool
    locally_aborted: bool
    paused_cancelled: bool


def timeout_message(seconds: float) -> str:
    """Sim's wording for a run that ran out of time."""
    whole = math.floor(seconds)
    minutes = whole // 60
    if minutes:
        return f"Execution timed out after {minutes} minute{'s' if minutes > 1 else ''}"
    shown = whole if whole >= 1 else round(seconds, 3)
    return f"Execution timed out after {shown} seconds"


class Runner:
    """The run engine of one emulator: admission, tasks, cancellation and resumption.

    :param settings: returns the current settings (they can change at runtime).
    """

    def __init__(
        self, store: RunStore, limiter: RateLimiter, settings: Callable[[], EmulatorSettings]
    ) -> None:
        self.store = store
        self.limiter = limiter
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def admit(self, workflow_id: str, client_id: str | None, counter: Counter) -> Admitted | Rejected:
        """Run the pre-start checks for an execute, charging ``counter`` only if all others pass."""
        settings = self._settings()
        workflow = WORKFLOWS.get(workflow_id)
        if workflow is None:
            return Rejected("not_found", self.limiter.peek(counter))
        if client_id is not None and self.store.is_claimed(client_id):
            return Rejected("conflict", self.limiter.peek(counter))
        if not workflow.deployed:
            return Rejected("not_deployed", self.limiter.peek(counter))
        if settings.usage_limit_exceeded:
            return Rejected("usage_limit", self.limiter.peek(counter))
        bucket = self.limiter.take(counter)
        if not bucket.allowed:
            return Rejected("rate_limited", bucket)
        cap = settings.max_runs_in_flight
        if cap is not None and self.store.in_flight() >= cap:
            return Rejected("concurrency", bucket)
        return Admitted(workflow, bucket)

    def start(
        self,
        workflow: Workflow,
        *,
        client_id: str | None,
        api_version: ApiVersion,
        mode: RunMode,
        input: Any,
        base_url: str,
        timeout_seconds: float | None = None,
        with_job: bool = False,
        request_id: str = "",
    ) -> Run:
        """Create the run (claiming its id) and start its task. Call right after :meth:`admit`.

        An async run waits ``queued`` only with an external queue (``async_queue: external``);
        from Sim's database queue it is ``running`` at once.
        """
        settings = self._settings()
        if mode != "async":
            timeout_seconds = settings.sync_timeout_seconds
        queued = mode == "async" and settings.async_queue == "external"
        held = workflow.holds or (mode == "async" and settings.hold_async_runs)
        run_id = client_id or self.store.new_id()
        run = Run(
            id=run_id,
            workflow_id=workflow.id,
            api_version=api_version,
            mode=mode,
            input=received_files(input, workflow_id=workflow.id, run_id=run_id, base_url=base_url),
            client_chosen_id=client_id is not None,
            status=RunStatus.QUEUED if queued else RunStatus.RUNNING,
            base_url=base_url,
            job_id=f"{JOB_ID_PREFIX}{run_id}" if with_job else None,
            request_id=request_id,
            timeout_seconds=timeout_seconds,
            events=asyncio.Queue() if mode == "stream" else None,
            release=asyncio.get_running_loop().create_future() if held else None,
        )
        self.store.add(run)
        self._spawn(run, lambda emit: self._first_step(run, workflow, emit), workflow)
        return run

    def release(
        self, run_ids: list[str] | None = None, workflow_id: str | None = None, fail: str | None = None
    ) -> list[str]:
        """End held runs (``run_ids``, else all; of ``workflow_id`` only if given): complete them
        (a held async run of another workflow: let it run), or fail them with ``fail``. Return the
        ids released, in start order (a queued run too: it completes as soon as it starts)."""
        wanted = None if run_ids is None else set(run_ids)
        released = []
        for run in self.store.all():
            if run.release is None or run.release.done() or run.status.is_terminal:
                continue
            if (wanted is not None and run.id not in wanted) or workflow_id not in (None, run.workflow_id):
                continue
            run.release.set_result(fail)
            released.append(run.id)
        return released

    @staticmethod
    async def _first_step(run: Run, workflow: Workflow, emit: Emit) -> Outcome:
        if run.release is not None and not workflow.holds:  # an async run held before it begins
            failure = await run.release
            if failure is not None:
                return Failed(failure, output={})
        outcome = await workflow.run(run.input, emit)
        if not isinstance(outcome, Held) or run.release is None:
            return outcome
        failure = await run.release
        return Completed(run.input) if failure is None else Failed(failure, output={})

    def resume(self, run: Run, resume_input: Any) -> str:
        """Resume a paused run; return the new resume-attempt id (the run keeps its own id)."""
        workflow = WORKFLOWS[run.workflow_id]
        resume = workflow.resume
        if resume is None or run.status is not RunStatus.PAUSED:
            raise RuntimeError(f"run {run.id} cannot be resumed")
        answered_block = run.pause.block_id if run.pause is not None else ""
        attempt = self.store.new_id()
        self.store.add_alias(attempt, run.id)
        run.resume_attempts.append(attempt)
        run.pause = None
        run.timeout_seconds = self._settings().sync_timeout_seconds
        run.transition(RunStatus.RUNNING)
        original = run.input
        self._spawn(run, lambda emit: resume(original, resume_input, answered_block), workflow)
        return attempt

    def cancel(self, run: Run) -> CancelResult:
        """Cancel a queued, running or paused run; a finished run is left as it is."""
        previous = run.status
        if previous.is_terminal:
            return CancelResult(previous, cancelled=False, locally_aborted=False, paused_cancelled=False)
        self._settle_cancelled(run, CANCELLED_MESSAGE)
        return CancelResult(
            previous,
            cancelled=True,
            # an async run executes in a queue worker, which learns of the cancel from the record
            locally_aborted=previous is RunStatus.RUNNING and run.mode != "async",
            paused_cancelled=previous is RunStatus.PAUSED,
        )

    async def stop_all(self) -> None:
        """Cancel every unfinished run and wait for the tasks to end (reset and shutdown)."""
        for run in self.store.all():
            if not run.status.is_terminal:
                self._settle_cancelled(run, RESET_MESSAGE)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, run: Run, step: Step, wf: Workflow) -> None:
        task = asyncio.get_running_loop().create_task(self._drive(run, step, wf), name=f"sim-run-{run.id}")
        run.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive(self, run: Run, step: Step, wf: Workflow) -> None:
        async def emit(block_id: str, text: str, *, error: bool = False) -> None:
            if run.events is not None:
                run.events.put_nowait(("stream_error" if error else "chunk", block_id, text))

        try:
            if run.status is RunStatus.QUEUED:
                await asyncio.sleep(self._settings().async_queue_delay_seconds)
                run.transition(RunStatus.RUNNING)
            async with asyncio.timeout(run.timeout_seconds):
                outcome = await step(emit)
        except TimeoutError:
            self._fail(run, timeout_message(run.timeout_seconds or 0), "TIMEOUT", attributed=False)
        except asyncio.CancelledError:
            # cancel() and stop_all() settle the run before cancelling its task
            if run.status.is_terminal:
                return
            raise
        except Exception as exc:  # a bug in a behaviour still ends the run, like a crashed block
            self._fail(run, f"{type(exc).__name__}: {exc}", "EXECUTION_FAILED", attributed=False)
        else:
            self._apply(run, wf, outcome)

    def _apply(self, run: Run, wf: Workflow, outcome: Outcome) -> None:
        if run.status.is_terminal:
            return
        if isinstance(outcome, Completed):
            run.output = outcome.output
            run.block_outputs[wf.block_id] = outcome.output
            run.cost = wf.cost
            run.transition(RunStatus.COMPLETED)
        elif isinstance(outcome, Failed):
            run.output = outcome.output
            run.soft_failure = outcome.soft
            run.cost = wf.cost
            self._fail(run, outcome.message, "EXECUTION_FAILED", attributed=not outcome.soft)
            return
        elif isinstance(outcome, Paused):
            # Sim names the pause point after the block that paused (one pause point per block)
            context_id = outcome.block_id
            run.pause = PauseInfo(
                context_id, outcome.block_id, utcnow(), resumed_count=len(run.resume_attempts)
            )
            data = dict(outcome.output) if isinstance(outcome.output, dict) else {"value": outcome.output}
            data["_resume"] = resume_links(run, context_id)
            # the Human-in-the-loop block answers like a Response block: data, status, headers
            output = {"data": data, "status": 200, "headers": {"Content-Type": "application/json"}}
            run.output = output
            run.block_outputs[outcome.block_id] = output
            run.pause_points.append((run.pause, output))
            run.cost = wf.cost
            run.transition(RunStatus.PAUSED)
        self._end_stream(run)

    def _fail(self, run: Run, message: str, code: str, *, attributed: bool) -> None:
        if run.status.is_terminal:  # a cancel won the race against a timeout
            return
        run.error = message
        run.error_code = code
        run.error_block_attributed = attributed
        run.transition(RunStatus.FAILED)
        self._end_stream(run)

    def _settle_cancelled(self, run: Run, message: str) -> None:
        run.error = message
        run.cost = WORKFLOWS[run.workflow_id].cost
        run.error_code = "CANCELLED"
        run.pause = None
        run.transition(RunStatus.CANCELLED)
        self._end_stream(run)
        if run.task is not None and not run.task.done() and run.task is not asyncio.current_task():
            run.task.cancel()

    @staticmethod
    def _end_stream(run: Run) -> None:
        if run.events is not None:
            run.events.put_nowait(("end", None, None))


def resume_links(run: Run, context_id: str) -> dict[str, str]:
    """The ``_resume`` object a paused run's output carries."""
    return {
        "apiUrl": f"{run.base_url}/api/resume/{run.workflow_id}/{run.id}/{context_id}",
        "uiUrl": f"{run.base_url}/resume/{run.workflow_id}/{run.id}",
        "contextId": context_id,
        "executionId": run.id,
        "workflowId": run.workflow_id,
    }
