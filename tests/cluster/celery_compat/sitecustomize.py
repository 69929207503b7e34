"""Put on ``PYTHONPATH`` of the cluster's components when they run the CeleryExecutor.

``apache-airflow-providers-celery`` 3.26.0 imports ``retry`` from ``celery.backends.database``, which
Celery 5.7 removed (its ``DatabaseBackend`` now retries by itself, ``result_backend_always_retry``):
with the pair our 3.3 lock resolves to, ``airflow celery worker`` and the scheduler's executor fail
at import. Until the lock pins a pair that fits, this gives the module a pass-through ``retry``; it
does nothing where ``retry`` exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import celery.backends.database as _database
except ImportError:  # no Celery here: nothing to mend
    pass
else:
    if not hasattr(_database, "retry"):

        def retry(fun: Callable[..., Any]) -> Callable[..., Any]:
            """Celery 5.7's backend retries itself; the decorator Airflow expects adds nothing."""
            return fun

        _database.retry = retry  # type: ignore[attr-defined]
