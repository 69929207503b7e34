"""Send files to a Sim workflow's file input (a Start block field of type ``file[]``).

A file anywhere in the input — a ``SimFile``, ``bytes``, a ``pathlib.Path`` or an open file —
goes to Sim inline as its base64 file value (name and MIME type included); Sim stores it and the
workflow sees the stored file. Inline files stop at about 7.5 MiB (Sim reads at most 10 MiB per
request); larger ones, up to Sim's 20 MiB per file, go as ``SimFile.from_url(...)`` for Sim to
download. Over either limit the task fails before anything is sent, saying which and what to do.

Two ways in: a ``@task.sim`` function builds the files itself (here from a path an upstream task
wrote: both tasks must see the same disk), or an upstream task returns Sim's file value
(``SimFile.to_value()``, plain JSON, fine in XCom) for the operator's templated input.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_sim.files import SimFile
from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

with DAG(
    dag_id="example_sim_files",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "sim"],
) as dag:

    @task
    def export_sales() -> str:
        path = Path(tempfile.mkdtemp(prefix="sim-example-")) / "sales.csv"
        path.write_text("region,revenue\nnorth,120\nsouth,95\n")
        return str(path)

    @task.sim(workflow_id="echo", async_execution=False)
    def analyse(sales_csv: str) -> dict[str, Any]:
        return {"question": "Which region grew?", "files": [SimFile.from_path(sales_csv)]}

    @task
    def draw_chart() -> dict[str, str]:
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # stands in for a rendered chart
        return SimFile.from_bytes(png, name="chart.png").to_value()

    analyse(export_sales())
    SimExecuteWorkflowOperator(
        task_id="describe_chart",
        workflow_id="echo",
        input={"question": "Describe this chart", "files": [draw_chart()]},
        async_execution=False,
    )

if __name__ == "__main__":
    dag.test()
