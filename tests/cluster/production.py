"""The production-shaped cluster the production test and ``bench/cluster.py`` share: PostgreSQL,
CeleryExecutor on Redis with two workers, two triggerers, failure detection tuned down from minutes
to seconds, and the checks that read Airflow's own tables (trigger rows, who holds them, secrets).

Airflow's defaults wait 300 s before failing a task whose worker vanished
(``[scheduler] task_instance_heartbeat_timeout``) and 30 s before a silent triggerer's triggers move
(``[triggerer] triggerer_health_check_threshold``); :data:`FAST_FAILURE_DETECTION` shortens both so
a kill shows its effect within the test's budget. The heartbeat timeout stays well above an
api-server restart (30-40 s on a busy 2-core machine): a task whose heartbeats cannot reach the API
for longer is failed by the scheduler and its Sim run cancelled (seen with 45 s: one input then had
a cancelled run and the retry's new one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cryptography.fernet import Fernet

from tests.cluster.airflow_cluster import AirflowCluster, ClusterSettings

# re-exported: the test and the bench import them from here
from tests.cluster.production_inputs import TASK_COUNTS as TASK_COUNTS
from tests.cluster.production_inputs import inputs_for as inputs_for

#: task slots per Celery worker
WORKER_CONCURRENCY = 8
FAST_FAILURE_DETECTION = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "120",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
}


def production_settings(*, workers: int = 2, triggerers: int = 2) -> ClusterSettings:
    """PostgreSQL, CeleryExecutor with ``workers`` workers, ``triggerers`` triggerers; parallelism is
    every worker's slots (deferred tasks hold none)."""
    return ClusterSettings(
        database="postgres",
        executor="CeleryExecutor",
        celery_workers=workers,
        worker_concurrency=WORKER_CONCURRENCY,
        parallelism=workers * WORKER_CONCURRENCY,
        triggerers=triggerers,
        start_timeout=300.0,
        extra_env=dict(FAST_FAILURE_DETECTION),
    )


def triggers_by_triggerer(cluster: AirflowCluster) -> dict[int | None, set[int]]:
    """``{triggerer job id (None: unassigned): {trigger ids}}`` from the ``trigger`` table."""
    held: dict[int | None, set[int]] = {}
    for trigger_id, triggerer_id in cluster.sql("SELECT id, triggerer_id FROM trigger"):
        held.setdefault(triggerer_id, set()).add(int(trigger_id))
    return held


def pending_triggers(cluster: AirflowCluster, trigger_ids: Iterable[int]) -> set[int]:
    """Those of ``trigger_ids`` a deferred task instance still waits on (their event not yet taken)."""
    rows = cluster.sql(
        "SELECT t.id FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id"
        " WHERE ti.state = 'deferred' AND t.id = ANY(%s)",
        [sorted(trigger_ids)],
    )
    return {int(row[0]) for row in rows}


def trigger_rows_holding(cluster: AirflowCluster, secret: str) -> tuple[int, list[int]]:
    """How many trigger rows there are, and the ids of those whose kwargs hold ``secret``: read as
    stored and, where Airflow encrypted them, decrypted with the cluster's Fernet key (Airflow 3.3
    writes the kwargs of a task's deferral as plain JSON, ``{...``, and Fernet tokens elsewhere)."""
    fernet = Fernet(cluster.env["AIRFLOW__CORE__FERNET_KEY"].encode())

    def readable(stored: str) -> str:
        return stored if stored.startswith("{") else fernet.decrypt(stored.encode()).decode(errors="replace")

    rows = cluster.sql("SELECT id, kwargs FROM trigger")
    leaking = [int(trigger_id) for trigger_id, stored in rows if secret in readable(str(stored))]
    return len(rows), leaking


def xcom_rows_holding(cluster: AirflowCluster, secret: str) -> list[tuple[str, int, str]]:
    """``(task_id, map_index, key)`` of every XCom row whose value holds ``secret``."""
    rows = cluster.sql("SELECT task_id, map_index, key, value::text FROM xcom")
    return [(str(t), int(m), str(k)) for t, m, k, v in rows if secret in str(v)]


def started_trigger_ids(cluster: AirflowCluster, triggerer_job_id: int) -> set[int]:
    """The trigger ids a triggerer logged starting (``trigger <dag>/<run>/... (ID n) starting``), read
    from the trigger logs it wrote beside the task logs (``attempt=N.log.trigger.<its job id>.log``)."""
    pattern = re.compile(r"trigger \S+ \(ID (\d+)\) starting")
    started: set[int] = set()
    for path in (cluster.home / "logs").rglob(f"*.log.trigger.{triggerer_job_id}.log"):
        started |= {int(m) for m in pattern.findall(path.read_text(errors="replace"))}
    return started


#: the pool the tasks that wait in a worker share, and its slots: half of the workers' slots, so the
#: deferred tasks (each in a worker only for the seconds it takes to defer or resume) keep moving
WORKER_WAIT_POOL, WORKER_WAIT_SLOTS = "sim_worker_waits", WORKER_CONCURRENCY
#: how each mapped task waits: Sim's synchronous call, polling in the worker, deferring to a triggerer;
#: the pool's tasks go first (polling ones first of all, so that one runs early enough to have its
#: worker killed): the long waits start early and the deferred tasks fill the other slots meanwhile
TASK_MODES = {
    "sync": f'async_execution=False, deferrable=False, pool="{WORKER_WAIT_POOL}", priority_weight=15',
    "polled": f'deferrable=False, poll_interval=2.0, pool="{WORKER_WAIT_POOL}", priority_weight=20',
    "deferred": "deferrable=True, poll_interval=2.0, priority_weight=10",
}


def dag_body(counts: dict[str, int], seconds: float | None = None) -> str:
    """The DAG's tasks: one mapped ``SimExecuteWorkflowOperator`` of the ``sleep`` workflow per entry
    of ``counts`` (task id -> inputs; :func:`inputs_for` with ``seconds``), waiting the way
    :data:`TASK_MODES` says. The DAG file imports :func:`inputs_for` itself."""
    return "\n".join(
        f'SimExecuteWorkflowOperator.partial(task_id="{task}", workflow_id="sleep", {TASK_MODES[task]})'
        f'.expand(input=inputs_for("{task}", {count}, {seconds!r}))'
        for task, count in counts.items()
    )


def create_worker_wait_pool(cluster: AirflowCluster) -> None:
    """The :data:`WORKER_WAIT_POOL` the DAG's sync and polled tasks take their slots from."""
    body = {"name": WORKER_WAIT_POOL, "slots": WORKER_WAIT_SLOTS, "include_deferred": False}
    cluster.api("POST", "/api/v2/pools", json_body=body)


def production_dag(dag_id: str, counts: dict[str, int], seconds: float | None = None) -> str:
    """The DAG file: :func:`dag_body`, as many active tasks as there are inputs, 3 retries 2 s apart
    (for Airflow's own stale-event race; every retry must re-attach to its try's run)."""
    from tests.dag_runner import dag_source

    retries = '{"retries": 3, "retry_delay": timedelta(seconds=2)}'
    return dag_source(
        dag_id,
        dag_body(counts, seconds),
        imports="from tests.cluster.production_inputs import inputs_for\n",
        dag_kwargs=f"max_active_tasks={sum(counts.values())}, default_args={retries}",
    )
