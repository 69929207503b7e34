"""Files for Sim workflow inputs: ``from airflow_provider_sim.files import SimFile``.

The conversion to Sim's file value lives in :mod:`airflow_provider_sim.protocol.files`.
"""

from __future__ import annotations

from airflow_provider_sim.protocol.files import MAX_FILE_BYTES, SimFile

__all__ = ["MAX_FILE_BYTES", "SimFile"]
