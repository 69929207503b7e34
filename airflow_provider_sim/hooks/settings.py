"""Turning an Airflow ``sim`` connection into checked settings, for the sync and async hooks alike."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_sim.connection_form import DEFAULT_BASE_URL, EXTRA_FIELDS
from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.protocol.build import check_timeout, client_headers, normalize_base_url
from airflow_provider_sim.protocol.models import ApiVersion
from airflow_provider_sim.retry import RetrySettings

_EXTRA_NAMES = frozenset(field.name for field in EXTRA_FIELDS) | {"base_url"}


@dataclass(frozen=True, repr=False)
class SimSettings:
    """Everything a driver needs to talk to Sim. ``repr`` leaves the API key out.

    :param base_url: e.g. ``https://www.sim.ai``, no trailing slash.
    :param timeout: seconds one ordinary API call may take.
    :param sync_timeout: seconds a synchronous execute may wait for its result.
    """

    conn_id: str
    base_url: str
    api_key: str
    api_version: ApiVersion
    timeout: float
    sync_timeout: float
    retry: RetrySettings

    def __repr__(self) -> str:
        version = self.api_version.value
        return f"SimSettings(conn_id={self.conn_id!r}, base_url={self.base_url!r}, api_version={version})"

    @property
    def headers(self) -> dict[str, str]:
        """The headers of every request (API key included: never log these)."""
        return client_headers(self.api_key)

    def with_overrides(self, **overrides: Any) -> SimSettings:
        """These settings with the hook arguments that were given (``None`` means "not given")."""
        given = {name: value for name, value in overrides.items() if value is not None}
        retry_fields = {
            "max_retries",
            "initial_delay",
            "max_delay",
            "multiplier",
            "jitter",
            "max_rate_limit_wait",
        }
        retry = replace(self.retry, **{k: v for k, v in given.items() if k in retry_fields})
        plain = {k: v for k, v in given.items() if k not in retry_fields}
        if "api_version" in plain:
            plain["api_version"] = parse_api_version(plain["api_version"], source="api_version")
        for name in ("timeout", "sync_timeout"):
            if name in plain:
                plain[name] = check_timeout(plain[name], name=name)
        return replace(self, retry=retry, **plain)


def missing_connection(conn_id: str) -> SimConfigurationError:
    """The error for a connection id Airflow does not know, naming both ways to define it."""
    return SimConfigurationError(
        f"Airflow connection {conn_id!r} is not defined: create it (type 'Sim') in Admin → Connections, "
        f"or set AIRFLOW_CONN_{conn_id.upper()} to "
        '\'{"conn_type": "sim", "host": "https://www.sim.ai", "password": "sk-sim-..."}\'.'
    )


def parse_api_version(value: object, *, source: str) -> ApiVersion:
    """``v2``/``v1`` (also ``2``/``1``), else an error naming the choices."""
    text = str(value).strip().lower()
    text = {"2": "v2", "1": "v1"}.get(text, text)
    try:
        return ApiVersion(text)
    except ValueError:
        raise SimConfigurationError(
            f"{source} {value!r} is not a Sim API version: use 'v2' (sim.ai and current Sim) or 'v1' "
            "(older self-hosted Sim without /api/v2)."
        ) from None


def _extra_number(
    extras: dict[str, Any], name: str, default: float, conn_id: str, *, whole: bool = False
) -> Any:
    value = extras.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if number != number or number < 0 or (whole and not number.is_integer()):
        kind = "a whole number >= 0" if whole else "a positive number"
        raise SimConfigurationError(
            f"Connection {conn_id!r}: extra {name!r} must be {kind}, got {value!r}; "
            "fix it in the connection's extras."
        )
    return int(number) if whole else number


def settings_from_connection(conn: Any) -> SimSettings:
    """Check a ``sim`` connection (host = base URL, password = API key, extras) and read it.

    :raises SimConfigurationError: no key, a base URL without scheme, an unknown API version or
        extra, or a number that is not one; the message says which field to fix.
    """
    conn_id = conn.conn_id or "<unnamed>"
    if not conn.password:
        raise SimConfigurationError(
            f"Connection {conn_id!r} has no Sim API key: put the key (sk-sim-..., from Sim's Settings → "
            'API keys) in the connection\'s password field ("API key" in the form).'
        )
    extras: dict[str, Any] = dict(conn.extra_dejson or {})
    extras = {key.removeprefix("extra__sim__"): value for key, value in extras.items()}
    unknown = sorted(set(extras) - _EXTRA_NAMES)
    if unknown:
        raise SimConfigurationError(
            f"Connection {conn_id!r} has unknown extras {unknown}; the Sim connection knows "
            f"{sorted(_EXTRA_NAMES)}."
        )
    host = extras.get("base_url") or conn.host
    if host and conn.port and "://" in host and ":" not in host.split("://", 1)[1]:
        host = f"{host}:{conn.port}"
    defaults = {field.name: field.default for field in EXTRA_FIELDS}
    retry = RetrySettings(
        max_retries=_extra_number(extras, "max_retries", defaults["max_retries"], conn_id, whole=True),
        initial_delay=_extra_number(extras, "retry_initial_delay", defaults["retry_initial_delay"], conn_id),
        max_delay=_extra_number(extras, "retry_max_delay", defaults["retry_max_delay"], conn_id),
        max_rate_limit_wait=_extra_number(
            extras, "max_rate_limit_wait", defaults["max_rate_limit_wait"], conn_id
        ),
    )
    return SimSettings(
        conn_id=conn_id,
        base_url=normalize_base_url(host, default=DEFAULT_BASE_URL),
        api_key=conn.password,
        api_version=parse_api_version(
            extras.get("api_version") or defaults["api_version"], source="extra api_version"
        ),
        timeout=check_timeout(_extra_number(extras, "timeout", defaults["timeout"], conn_id), name="timeout"),
        sync_timeout=check_timeout(
            _extra_number(extras, "sync_timeout", defaults["sync_timeout"], conn_id), name="sync_timeout"
        ),
        retry=retry,
    )


def proxies_from_environment(base_url: str) -> dict[str, str]:
    """The proxies requests would pick for ``base_url`` from ``HTTP(S)_PROXY`` / ``NO_PROXY``.

    Both hooks read them once, when their session is made, instead of on every request (requests
    re-reads the whole environment per call; aiohttp's ``trust_env`` does it in a thread).
    """
    from requests.utils import get_environ_proxies

    return dict(get_environ_proxies(base_url))


def ca_bundle_from_environment() -> str | None:
    """``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, which requests honours for ``verify``."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
