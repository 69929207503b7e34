"""``requests``' exceptions as the sync hook's errors (the async hook maps aiohttp's itself)."""

from __future__ import annotations

import requests

from airflow_provider_sim.exceptions import SimConnectionError
from airflow_provider_sim.protocol.models import RequestSpec
from airflow_provider_sim.protocol.parse import connection_error


def requests_connection_error(
    spec: RequestSpec, base_url: str, err: requests.RequestException
) -> SimConnectionError:
    """``err`` as the hook's error, saying whether the request can have reached Sim."""
    not_sent = isinstance(err, requests.ConnectTimeout) or (
        isinstance(err, requests.ConnectionError) and "NewConnectionError" in repr(err.args)
    )
    return connection_error(
        spec, base_url, err, not_sent=not_sent, timed_out=isinstance(err, requests.Timeout)
    )
