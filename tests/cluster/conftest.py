"""Fixtures for tests on real Airflow components (:mod:`tests.cluster.airflow_cluster`).

- ``cluster_settings`` (module): the :class:`ClusterSettings` the module's cluster starts with;
  override it in a test module to change parallelism, triggerers, the database or the environment.
- ``airflow_cluster`` (module): a started :class:`AirflowCluster` whose ``sim_default`` connection
  points at the session's emulator (``sim_server``); skipped before Airflow 3.3.

A failing test that uses ``airflow_cluster`` gets every component's log tail in its report
(section "airflow cluster logs"). Tests here are marked ``cluster`` (``-m "not cluster"`` skips them).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from airflow_provider_sim.emulator.process import EmulatorProcess
from tests.cluster.airflow_cluster import NOT_AIRFLOW_3_3, SKIP_REASON, AirflowCluster, ClusterSettings


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cluster`` marker."""
    config.addinivalue_line("markers", "cluster: runs DAGs on real Airflow components (slow; Airflow 3.3)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``cluster``."""
    for item in items:
        if "tests/cluster/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.cluster)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    """Add the components' log tails to the report of a failed test that used the cluster."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    funcargs = getattr(item, "funcargs", {})
    cluster = funcargs.get("airflow_cluster") if isinstance(funcargs, dict) else None
    if report.failed and isinstance(cluster, AirflowCluster):
        try:
            text = cluster.diagnostics(lines=60)
        except Exception as err:  # the report must not fail
            text = f"(could not read the component logs: {err})"
        report.sections.append(("airflow cluster logs", text))


@pytest.fixture(scope="module")
def cluster_settings() -> ClusterSettings:
    """The settings the module's cluster starts with (override per module)."""
    return ClusterSettings()


@pytest.fixture(scope="module")
def airflow_cluster(
    sim_server: EmulatorProcess, cluster_settings: ClusterSettings
) -> Iterator[AirflowCluster]:
    """A started cluster for the module, ``sim_default`` pointing at the session's emulator."""
    if NOT_AIRFLOW_3_3:
        pytest.skip(SKIP_REASON)
    with AirflowCluster(
        sim_base_url=sim_server.base_url, sim_api_key=sim_server.api_key, settings=cluster_settings
    ) as cluster:
        yield cluster
