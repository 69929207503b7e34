"""7. The whole pipeline: 300 mapped deferrable runs through real Airflow 3.3, free- and pro-shaped Sim.

``SimExecuteWorkflowOperator.partial(deferrable=True).expand(input=[...])`` on the components of
:mod:`tests.cluster.airflow_cluster` (api-server, scheduler with LocalExecutor, dag-processor, one
triggerer; SQLite unless this venv has PostgreSQL's drivers). Each mapped task starts an async
``sleep`` run in a worker (waiting there for its turn when Sim refuses it for the in-flight cap),
defers, and the triggerer's shared run watcher waits for all of them. Per plan: do all succeed, did
the emulator see each input run exactly once, the most runs in flight at one instant (from the
emulator's ``startedAt``/``endedAt``), 429s by kind (a recording proxy between Airflow and the
emulator reads each 429's body), and the wall time from the trigger to the DAG run's end against
the plan's floor. Before the plans, the same DAG with runs of 0 s and no limits measures what
Airflow itself costs for 300 deferred tasks on this machine.

Time is compressed by K per plan: window 60/K s, runs 30/K s, poll 5/K s, concurrency Retry-After
5/K s. Airflow's own per-task cost is not compressed, so a plan whose floor it would dwarf runs at
K = 1: free at 3 (floor 900 s in real time), pro at 1 (floor 180 s, near what 300 deferred tasks
cost Airflow on 2 cores) by default; ``-k`` sets one K for all.

``--smoke`` does not start a cluster (``make test`` already runs 50 mapped deferred tasks through
one in ``tests/cluster``): it checks the proxy's 429 kinds on a bare emulator and reports the
floors, and says the pipeline was skipped. ``--smoke --cluster`` runs 10 tasks through a cluster.

    python -m bench.pipeline [--smoke [--cluster]] [-k K] [-n N] [--plans free pro] [--parallelism P]
                             [--no-baseline] [--end-from-trigger]   (smoke: no baseline)

``--end-from-trigger`` runs every phase with ``end_from_trigger=True``: a completed run ends its task
in the triggerer, so no task goes back to a worker (result ``pipeline_end_from_trigger.json``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common, _pipeline
from bench._pipeline_phase import Phase, PhaseSpec, run_phase

RUN_S, POLL_S, WINDOW_S, RETRY_AFTER_S = 30.0, 5.0, 60.0, 5.0  # real time
GOAL_FLOOR_FACTOR = 1.2
DAG_RUNS, DAG_BASELINE, DAG_WARMUP = "bench_pipeline", "bench_pipeline_baseline", "bench_pipeline_warmup"
WARMUP_TASKS = 4
#: time compression per plan (see the module docstring)
DEFAULT_K = {"free": 3.0, "pro": 1.0}


def _fmt(seconds: float, k: float) -> str:
    return f"{seconds:.0f} s raw = {seconds * k:.0f} s x{k:g}"


def _report_plan(result: _common.Result, p: Phase, baseline: Phase | None) -> None:
    """The rows of one plan's phase."""
    head, n, k = f"{p.spec.plan}, {p.spec.n} tasks", p.spec.n, p.spec.k
    retried = f"; tries > 1: {p.retried} ({p.race_retries} owed to Airflow's stale-event race)"
    result.add(
        f"{head}: tasks succeeded",
        "-",
        f"{p.succeeded} of {n}{retried}" + ("" if p.done else " (NOT DONE within the bound)"),
        None,
        f"{n}",
        p.done and p.succeeded == n and p.retried == p.race_retries,
    )
    result.add(
        f"{head}: executions seen by the emulator",
        "-",
        f"{p.executions} ({len(p.duplicated)} inputs duplicated, {len(p.missing)} missing, "
        f"{p.not_completed} not completed, {p.wrong_returns} wrong return values)",
        None,
        f"exactly {n}, none duplicated, each input once",
        p.executions == n and not p.duplicated and not p.missing and p.not_completed == 0,
    )
    cap = p.cap
    result.add(
        f"{head}: most runs in flight at one instant (emulator startedAt/endedAt)",
        "-",
        f"{p.peak_in_flight} (mean {p.where.get('mean_in_flight', 0.0):.1f} between the first and the "
        "last admission)",
        None,
        f"<= {cap} (the plan's cap)",
        cap is not None and p.peak_in_flight <= cap,
    )
    by_route = "; ".join(
        f"{route}: {c['concurrency']} concurrency + {c['rate']} rate of {c['requests']}"
        for route, c in p.limits.items()
        if c["concurrency"] or c["rate"]
    )
    result.add(
        f"{head}: 429s by kind",
        "-",
        f"concurrency {p.concurrency_429s}, rate {p.rate_429s} ({by_route or 'none'}; "
        f"{p.requests} requests in all)",
        None,
        "- (information)",
        None,
    )
    floor = p.floor["floor"]
    ratio = p.wall / floor if floor > 0 else None
    result.add(
        f"{head}: wall, trigger -> DAG run end, vs the plan's floor",
        f"floor {_fmt(floor, k)} (runs {p.floor['runs']:.0f} s, reads {p.floor['reads']:.0f} s raw)",
        _fmt(p.wall, k),
        None if ratio is None else round(ratio, 2),
        f"<= {GOAL_FLOOR_FACTOR:g} x floor",
        p.done and ratio is not None and ratio <= GOAL_FLOOR_FACTOR,
    )
    if baseline is not None and baseline.done:
        bound = max(floor, baseline.wall)
        result.add(
            f"{head}: wall vs max(floor, Airflow overhead) — the least this cluster can do",
            f"{bound:.0f} s raw",
            f"{p.wall:.0f} s raw",
            round(p.wall / bound, 2),
            "- (diagnosis)",
            None,
        )


def _report_baseline(result: _common.Result, b: Phase) -> None:
    n = b.spec.n
    result.add(
        f"Airflow overhead for {n} deferred tasks (runs 0 s, no plan limits), trigger -> DAG run end",
        "-",
        f"{b.wall:.0f} s raw ({b.wall / max(n, 1) * 1000:.0f} ms per task; machine CPU busy "
        f"{b.cpu_busy * 100:.0f} %; {b.succeeded} of {n} succeeded, tries > 1: {b.retried}, "
        f"{b.race_retries} owed to the stale-event race)",
        None,
        "- (information: not compressed by K)",
        None,
    )


def _note(p: Phase) -> str:
    """Where one phase's wall time went."""
    w = p.where
    per_route = ", ".join(f"{route} {c['requests']}" for route, c in p.limits.items())
    cap = (
        f"; runs in flight {w['mean_in_flight']:.1f} on average of the cap {p.cap} between the first and "
        f"the last admission ({w['span_s']:.0f} s): {w['unused_cap_s']:.0f} run-s of the cap unused: "
        f"{w['unused_while_spent_s']:.0f} while the execute budget was spent (a rate 429 on execute "
        f"until the next admission: {w['budget_spent_s']:.0f} s in all), "
        f"{w['unused_while_asking_s']:.0f} while a task waiting for its turn had not asked again yet, "
        f"{w['unused_none_asking_s']:.0f} while no task was asking (Airflow had no execute under way)"
        if p.cap is not None and "span_s" in w
        else ""
    )
    return (
        f"{p.spec.label}: wall {p.wall:.1f} s raw; first run admitted {w['first_admission_s']:.1f} s after "
        f"the trigger; admissions spread over {w['admission_span_s']:.1f} s; last run ended "
        f"{w['last_end_s']:.1f} s after the trigger, DAG run end {w['tail_s']:.1f} s later; run end -> task "
        f"done median {w['completion_lag_median_s']:.1f} s (p95 {w['completion_lag_p95_s']:.1f} s); tasks "
        f"waited for their turn {w['admission_wait_s']:.0f} run-s in all, in the triggerer (no worker "
        f"slot held; median wait {w['admission_wait_median_s']:.1f} s, max "
        f"{w['admission_wait_max_s']:.1f} s); machine CPU busy "
        f"{p.cpu_busy * 100:.0f} %, load average at the end {p.loadavg}; requests {p.requests} "
        f"(per route {per_route}){cap}"
    )


def _diagnosis(p: Phase, baseline: Phase | None) -> str | None:
    """Why a plan's wall time missed the goal, with numbers; ``None`` if it met it."""
    floor = p.floor["floor"]
    if p.done and floor > 0 and p.wall <= GOAL_FLOOR_FACTOR * floor:
        return None
    k = p.spec.k
    parts = [
        f"{p.spec.label}: wall {p.wall:.0f} s raw is {p.wall / floor:.2f} x the floor {floor:.0f} s "
        f"(= {floor * k:.0f} s in real time, {p.floor['runs'] * k:.0f} s of runs under the cap of "
        f"{p.cap}, {p.floor['reads'] * k:.0f} s of reads)"
    ]
    if baseline is not None and baseline.done:
        parts.append(
            f"Airflow alone needs {baseline.wall:.0f} s for {baseline.spec.n} deferred tasks on this "
            f"machine (CPU {baseline.cpu_busy * 100:.0f} % busy), {baseline.wall / floor:.2f} x this "
            f"floor; Airflow's per-task cost is not compressed by K, so at K = {k:g} it weighs {k:g} x "
            f"more against the floor than in real time (real floor {floor * k:.0f} s vs "
            f"{baseline.wall:.0f} s of Airflow); the wall is {p.wall / max(floor, baseline.wall):.2f} x "
            "max(floor, Airflow overhead)"
        )
    execute = p.limits.get("execute")
    if execute and p.spec.plan is not None and execute["concurrency"]:
        from airflow_provider_sim.emulator.config import PLANS

        rate, window = PLANS[p.spec.plan].api, WINDOW_S / k
        budget = 2 * rate + rate * int(p.wall // window)
        spent = execute["requests"] - execute["rate"]
        parts.append(
            f"Sim charges every execute to the workflows.execute budget ({rate} a window, {2 * rate} at "
            f"first), refused ones too: {execute['requests']} execute calls = {n_admitted(p)} admitted + "
            f"{execute['concurrency']} refused for the cap + {execute['rate']} refused for the rate; "
            f"{spent} tokens spent of the {budget} the wall's {int(p.wall // window)} windows hold, "
            f"{execute['concurrency']} of them by waits for a turn; once spent, admissions wait for the "
            f"next refill while runs end: {p.where.get('unused_while_spent_s', 0):.0f} of the "
            f"{p.where.get('unused_cap_s', 0):.0f} run-s of unused cap fell in such spells; this is not "
            "an artefact of K: waits for a turn retry every Retry-After (5/K s) and the budget refills "
            "every 60/K s, so both scale alike (the whole-second header even makes them retry less "
            "often than a faithful 5/K s)"
        )
    w = p.where
    if "unused_cap_s" in w and p.cap:
        parts.append(
            f"of the {w['unused_cap_s']:.0f} run-s of the cap left unused between the first and the last "
            f"admission (= {w['unused_cap_s'] / p.cap:.0f} s of wall at the cap), "
            f"{w['unused_none_asking_s']:.0f} fell while no task was asking for a run: Airflow had no "
            f"execute under way ({p.parallelism} worker slots for starts, resumes and waits; machine "
            f"CPU {p.cpu_busy * 100:.0f} % busy), {w['unused_while_asking_s']:.0f} to the retry's "
            f"granularity, {w['unused_while_spent_s']:.0f} to the spent execute budget"
        )
    return "; ".join(parts)


def n_admitted(p: Phase) -> int:
    """Executes answered 2xx (admitted runs) in the phase."""
    return sum(1 for _at, status, _limit in p.timeline.get("execute", []) if 200 <= int(status) < 300)


def _smoke_without_cluster(result: _common.Result, n: int) -> None:
    """A bare emulator (cap 1, 2 calls per operation): of two executes through the proxy the second
    is refused for the cap (``concurrency``), of three reads the third for the rate (``rate``); the
    floors are reported as computed."""
    import requests

    with _common.emulator() as emu, _pipeline.RecordingProxy(emu.base_url) as proxy:
        emu.control.settings(plan="free", max_runs_in_flight=1, rate_limit_api=2, rate_limit_api_burst=2)
        session = requests.Session()
        session.trust_env = False
        headers = {"X-API-Key": _common.API_KEY}
        url = f"{proxy.base_url}/api/v2/workflows/sleep/execute"
        for i in range(2):
            session.post(url, json={"input": {"seconds": 5, "i": i}, "async": True}, headers=headers)
        for _ in range(3):
            session.get(f"{proxy.base_url}/api/v2/workflows/sleep", headers=headers)
        limits = _pipeline.limits_by_route(proxy.answers())
        emu.control.reset()
    execute, read = limits.get("execute", {}), limits.get("workflow.read", {})
    ok = execute.get("concurrency") == 1 and read.get("rate") == 1
    result.add(
        "smoke: the proxy tells a concurrency 429 from a rate 429",
        "-",
        str(limits),
        None,
        "execute 1 concurrency, workflow.read 1 rate",
        ok,
    )
    from airflow_provider_sim.emulator.config import PLANS

    for plan in ("free", "pro"):
        limits_ = PLANS[plan]
        floor = _pipeline.plan_floor(n, limits_.in_flight, RUN_S, limits_.api, WINDOW_S)
        result.add(
            f"{plan}, {n} tasks: the plan's floor (computed, real time)",
            "-",
            f"{floor['floor']:.0f} s (runs {floor['runs']:.0f} s, reads {floor['reads']:.0f} s)",
            None,
            "- (information)",
            None,
        )


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--cluster", action="store_true", help="with --smoke: run the tiny pipeline on a cluster")
    p.add_argument("-k", type=float, default=None, help="time compression (default per plan; smoke 30)")
    p.add_argument("-n", type=int, default=None, help="mapped tasks (default 300; smoke 10)")
    p.add_argument("--plans", nargs="*", default=None, help="plans (default free pro; smoke free)")
    p.add_argument("--parallelism", type=int, default=None, help="[core] parallelism (harness default)")
    p.add_argument("--no-baseline", action="store_true", help="skip the Airflow-overhead baseline")
    p.add_argument("--end-from-trigger", action="store_true", help="tasks end in the triggerer")
    args = p.parse_args(argv)
    started = time.monotonic()
    name, title = "pipeline", "7. The whole pipeline through real Airflow 3.3"
    if args.end_from_trigger:
        name, title = f"{name}_end_from_trigger", f"{title}, tasks ended from the triggerer"
    result = _common.Result(name, title, args.smoke)
    k = args.k or (30.0 if args.smoke else None)
    n = args.n or (10 if args.smoke else 300)
    plans = args.plans or (["free"] if args.smoke else ["free", "pro"])
    _common.prepare_airflow_env()
    from tests.cluster.airflow_cluster import NOT_AIRFLOW_3_3, SKIP_REASON

    if args.smoke and not args.cluster:
        result.skipped = (
            "smoke without a cluster: make test already runs 50 mapped deferred tasks through a "
            "real cluster (tests/cluster); the proxy and floors were checked; --smoke --cluster runs "
            f"{n} tasks through one (about a minute)"
        )
        _smoke_without_cluster(result, 300)
    elif NOT_AIRFLOW_3_3:
        result.skipped = SKIP_REASON
        _smoke_without_cluster(result, 300)
    else:
        baseline = not (args.no_baseline or args.smoke)
        _run_pipeline(
            result,
            n=n,
            k=k,
            plans=plans,
            parallelism=args.parallelism,
            baseline=baseline,
            end_from_trigger=args.end_from_trigger,
        )
    _common.finish(result, args.out, started)
    return 0


def _run_pipeline(
    result: _common.Result,
    *,
    n: int,
    k: float | None,
    plans: list[str],
    parallelism: int | None,
    baseline: bool,
    end_from_trigger: bool = False,
) -> None:
    """Start the emulator, the proxy and one cluster; run the baseline, then each plan."""
    from tests.cluster.airflow_cluster import AirflowCluster, ClusterSettings
    from tests.dag_runner import dag_source

    plan_k = {plan: k or DEFAULT_K.get(plan, 3.0) for plan in plans}
    base_k = k or max(plan_k.values(), default=3.0)

    def dag(dag_id: str, seconds: float, count: int = n, kk: float = base_k) -> str:
        body = (
            f'SimExecuteWorkflowOperator.partial(task_id="run", workflow_id="sleep", deferrable=True, '
            f"poll_interval={POLL_S / kk!r}, end_from_trigger={end_from_trigger!r})"
            f'.expand(input=[{{"seconds": {seconds!r}, "i": i}} '
            f"for i in range({count})])"
        )
        retries = '{"retries": 3, "retry_delay": timedelta(seconds=1)}'
        return dag_source(dag_id, body, dag_kwargs=f"max_active_tasks={count}, default_args={retries}")

    specs = [PhaseSpec("baseline", None, DAG_BASELINE, n, base_k, 0.0)] if baseline else []
    specs += [PhaseSpec(plan, plan, f"{DAG_RUNS}_k{kk:g}", n, kk, RUN_S / kk) for plan, kk in plan_k.items()]
    phases: list[Phase] = []
    t0 = time.monotonic()
    with _common.emulator() as emu, _pipeline.RecordingProxy(emu.base_url) as proxy:
        settings = ClusterSettings(parallelism=parallelism)
        with AirflowCluster(sim_base_url=proxy.base_url, sim_api_key=_common.API_KEY, settings=settings) as c:
            start_s = time.monotonic() - t0
            c.add_dag(DAG_WARMUP, dag(DAG_WARMUP, 0.0, WARMUP_TASKS))
            for kk in sorted(set(plan_k.values())):
                c.add_dag(f"{DAG_RUNS}_k{kk:g}", dag(f"{DAG_RUNS}_k{kk:g}", RUN_S / kk, kk=kk))
            if baseline:
                c.add_dag(DAG_BASELINE, dag(DAG_BASELINE, 0.0))
            # the first tasks after a start pay for warming the components up: not measured
            emu.control.settings(plan=None, rate_limit_ip=None)
            warmup = c.run_dag(DAG_WARMUP, timeout=300, xcom_keys=())
            for spec in specs:
                phase = run_phase(
                    c, emu, proxy, spec, window=WINDOW_S / spec.k, retry_after=RETRY_AFTER_S / spec.k
                )
                phases.append(phase)
                print(f"[pipeline] {_note(phase)}", flush=True)
            database, used, warmup_s = c.database, c.parallelism, warmup.seconds
    base = next((ph for ph in phases if ph.spec.plan is None), None)
    if base is not None:
        _report_baseline(result, base)
    for phase in phases:
        if phase.spec.plan is not None:
            _report_plan(result, phase, base)
    clocks = "; ".join(
        f"{plan} x{kk:g}: window {WINDOW_S / kk:g} s, runs {RUN_S / kk:g} s, poll {POLL_S / kk:g} s, "
        f"concurrency Retry-After {RETRY_AFTER_S / kk:g} s"
        for plan, kk in plan_k.items()
    )
    result.notes += [
        f"time compressed per plan ({clocks}; the header says whole seconds, at least 1: "
        "the provider waits that); plan numbers are Sim's (free: 10 in flight, 30 calls per window per "
        "operation; pro: 50 and 100; capacity 2x); x K figures are the real-time equivalent of the "
        "plan's clock only: Airflow's own per-task cost is not compressed",
        f"end_from_trigger={end_from_trigger}; cluster: {database}, [core] parallelism {used}, one "
        f"triggerer, max_active_tasks {n}, retries 3 "
        f"(Airflow 3.3's stale-event race, see tests/cluster); started in {start_s:.0f} s, then a "
        f"warm-up run of {WARMUP_TASKS} tasks ({warmup_s:.0f} s, not measured); the Sim connection goes "
        "through a recording proxy (429 kinds from the answer bodies)",
        "FLOOR = max(ceil(N / cap) x run seconds, window x ceil(max(0, N - 2R) / R)) with R the plan's "
        "calls per window; wall = DAG run end_date - the trigger call",
        *(_note(ph) for ph in phases),
        *(d for ph in phases if ph.spec.plan is not None and (d := _diagnosis(ph, base))),
    ]
    phases_raw = [ph.raw() for ph in phases]
    result.raw.update(
        end_from_trigger=end_from_trigger,
        k=plan_k,
        n=n,
        parallelism=used,
        database=database,
        phases=phases_raw,
    )


if __name__ == "__main__":
    raise SystemExit(main())
