"""``@task.sim``: a TaskFlow function whose return value is a Sim workflow's input.

::

    @task.sim(workflow_id="3f0c0a54-...", deferrable=True)
    def summarise(text: str) -> dict:
        return {"text": text}            # the workflow input (files too: SimFile, bytes, Path)

    summary = summarise(fetch())         # XCom return_value: the workflow output

The function's arguments are templated and take XComArgs like any ``@task``; ``.partial()`` /
``.expand()`` map over them. The decorator takes every argument of
:class:`~airflow_provider_sim.operators.sim.SimExecuteWorkflowOperator` except ``input``.
The function runs once per try, in the worker; a deferred task resumes without running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, Protocol, TypeVar

from airflow.providers.common.compat.sdk import (
    DecoratedOperator,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)

from airflow_provider_sim.exceptions import SimConfigurationError
from airflow_provider_sim.operators.sim import SimExecuteWorkflowOperator

if TYPE_CHECKING:
    from airflow.sdk.bases.decorator import Task

    from airflow_provider_sim.version_compat import Context

P = ParamSpec("P")
FParams = ParamSpec("FParams")
R = TypeVar("R")
FReturn = TypeVar("FReturn")


class SimTaskDecorator(Protocol):
    """What ``sim_task(...)`` returns, as type checkers see it: the function's parameters are kept."""

    def __call__(self, python_callable: Callable[FParams, FReturn]) -> Task[FParams, FReturn]: ...


class _SimDecoratedOperator(DecoratedOperator, SimExecuteWorkflowOperator):
    """Calls the TaskFlow function for the workflow input, then runs the workflow as the operator does.

    :param python_callable: the decorated function; its return value is the workflow input.
    :param op_args: positional arguments of the function (templated).
    :param op_kwargs: keyword arguments of the function (templated).
    """

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *SimExecuteWorkflowOperator.template_fields,
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **SimExecuteWorkflowOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.sim"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("input") is not None:
            raise SimConfigurationError(
                "@task.sim sends the decorated function's return value as the workflow input: "
                "return the input from the function instead of passing input=."
            )
        super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)

    def execute(self, context: Context) -> Any:
        """Call the function with its (rendered) arguments, then run the workflow on what it returned.

        The return value is data, not a template: it is sent as returned, never rendered.
        """
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        self.input = self.python_callable(*self.op_args, **kwargs)
        # not DecoratedOperator.execute: on Airflow 3.0 it calls self.xcom_push, which 3.0's
        # operators lack; what it adds (Asset arguments as inlets, an Asset result as outlet)
        # never applies to a workflow's JSON output
        return SimExecuteWorkflowOperator.execute(self, context)


def _signature_of(operator: Callable[P, Any]) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give the decorated factory the operator's parameters, for type checkers and editors."""

    def typed(factory: Callable[..., R]) -> Callable[P, R]:
        return factory

    return typed


@_signature_of(SimExecuteWorkflowOperator)
def sim_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> SimTaskDecorator:
    """Turn a function into a Sim task: its return value is the workflow input, the task returns
    the workflow output. Registered as ``@task.sim``; takes the arguments of
    :class:`~airflow_provider_sim.operators.sim.SimExecuteWorkflowOperator` (``workflow_id``,
    ``sim_conn_id``, ``deferrable``, ``timeout``, ``on_pause``, ...) and any ``BaseOperator``
    argument (``task_id``, ``retries``, ...). ``multiple_outputs`` defaults to ``False`` whatever
    the function's annotation says: it returns the input, the task pushes the output.
    """
    kwargs.setdefault("multiple_outputs", False)
    return task_decorator_factory(  # type: ignore[return-value]
        python_callable=python_callable,
        decorated_operator_class=_SimDecoratedOperator,
        **kwargs,
    )


__all__ = ["sim_task"]
