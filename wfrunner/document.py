"""The document workflow: `ExecuteServerlessWorkflow` runs one WorkflowSpec's tasks durably.

Every task is a step of this workflow's history, so a runner that dies resumes the
document where it was (finished tasks replay from history; their activities do not run
again, nor do recorded status reports). Activity-backed tasks (HTTP, gRPC, agent calls, named
activities) are activities; the rest (set, switch, for, fork, try, raise, wait, listen,
run) are workflow code. Each task is reported before and after it runs: one
`updateStatus` each, in order. Reports are held while the document computes and sent
together (one local activity) before it waits on anything — an activity, a timer, a
signal, a child — and when it ends, so a report is late by at most the time the
document computes without waiting; a run of SETs and SWITCHes costs one activity, not
two per task.

Data flow (Serverless Workflow 1.0): a task's input is the previous task's output (the
document's input for the first); the document's output is the last task's. In
expressions, `.` is the task's input and these variables are set:

* `$input` the task's input; `$output` the task's output (in `export.as`);
* `$context` what the latest `export.as` made of a task's output (starts as `{}`);
* `$data` Stigmer's accumulated data: SET's variables, and each other task's output
  under the task's name;
* `$workflow` `{id, execution_id, input, document}`; `$task` `{name, reference}`;
  `$runtime` `{name, version, now}` (`now` is the workflow's clock: deterministic);
* `$env` the run's `runtime_env` values; `$secrets` the secret ones only;
* inside FOR: the `each` name (default `item`) and `$index`; inside a TRY's catch: the
  catch's `as` name (default `error`), the error object.

Flow: `flow.then` (and a SWITCH case's `then`) names a task of the same list, or
`continue`, `exit` (leave the current list), `end` (end the document, successfully).

Workflow code must be deterministic. jq is (the impure builtins are replaced, see
expressions.py), and this workflow runs outside the SDK's sandbox like our invoke
workflow: it imports nothing with side effects and does no I/O of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError, is_cancelled_exception

from ai.stigmer.agentic.agentexecution.v1 import api_pb2 as agent_execution_pb2, enum_pb2 as agent_enum_pb2
from wfrunner.contract import (
    AGENT_CALL,
    DOCUMENT_WORKFLOW,
    GRPC_CALL,
    HTTP_CALL,
    REPORT_RESULT,
    REPORT_TASKS,
    RESOLVE_WORKFLOW,
    AgentCallRequest,
    DocumentInput,
    DocumentResult,
    GrpcRequest,
    HttpRequest,
    ResolvedWorkflow,
    ResolveWorkflowRequest,
    RunResult,
    TaskReport,
    TaskReports,
)
from wfrunner.errors import TaskFailure, describe, error_object, from_temporal, to_application_error
from wfrunner.expressions import ExpressionError, as_expression, evaluate, evaluate_condition
from wfrunner.redaction import redact

RUNTIME_NAME = "stigmer-service"
# Where CALL_ACTIVITY's named activities run: a memo key the starter sets (the runner's
# setting WORKFLOW_CALL_ACTIVITY_TASK_QUEUE), so a worker of the user's polls it.
MEMO_CALL_ACTIVITY_QUEUE = "callActivityTaskQueue"

# Status reports are progress, not the result: a few quick tries, then the task goes on
# (the final status reaches the server through ExecuteWorkflow's result regardless).
REPORT_TIMEOUT = timedelta(seconds=10)
REPORT_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3)
# Lookups over gRPC (RUN's workflow): quick, retried while the server is away.
RESOLVE_TIMEOUT = timedelta(seconds=30)
# A named activity of the user's: it states nothing, so it gets a generous bound.
CALL_ACTIVITY_TIMEOUT = timedelta(minutes=10)
# Kinds that wait on something outside the workflow's own computation: reports held so
# far are sent before they start.
WAITING_KINDS = frozenset({
    "WORKFLOW_TASK_KIND_WAIT", "WORKFLOW_TASK_KIND_LISTEN", "WORKFLOW_TASK_KIND_HTTP_CALL",
    "WORKFLOW_TASK_KIND_GRPC_CALL", "WORKFLOW_TASK_KIND_CALL_ACTIVITY", "WORKFLOW_TASK_KIND_RUN",
    "WORKFLOW_TASK_KIND_AGENT_CALL",
})
# Reports one local activity carries at most (its input stays small).
MAX_HELD_REPORTS = 64
# An agent call with no `config.timeout`: the longest an agent usually runs.
DEFAULT_AGENT_TIMEOUT_SECONDS = 600


Handler = Callable[["_DocumentRun", dict[str, Any], Any, str, dict[str, Any]], Awaitable[Any]]


class _End(Exception):
    """`then: end`: the document ends now, successfully, with this output."""

    def __init__(self, output: Any) -> None:
        super().__init__("end")
        self.output = output


def task_fields(task: dict[str, Any]) -> tuple[str, str, dict[str, Any], str, str]:
    """(name, kind, config, export.as, flow.then) of a WorkflowTask in protobuf JSON (either
    key spelling: nested tasks arrive as plain Struct values)."""
    config = task.get("taskConfig", task.get("task_config")) or {}
    export = task.get("export") or {}
    flow = task.get("flow") or {}
    kind = task.get("kind", "")
    if isinstance(kind, int):
        kind = KIND_NAMES.get(kind, str(kind))
    return task.get("name", ""), kind, config, export.get("as", ""), flow.get("then", "")


KIND_NAMES = {
    1: "WORKFLOW_TASK_KIND_SET", 2: "WORKFLOW_TASK_KIND_HTTP_CALL", 3: "WORKFLOW_TASK_KIND_GRPC_CALL",
    4: "WORKFLOW_TASK_KIND_CALL_ACTIVITY", 5: "WORKFLOW_TASK_KIND_SWITCH", 6: "WORKFLOW_TASK_KIND_FOR",
    7: "WORKFLOW_TASK_KIND_FORK", 8: "WORKFLOW_TASK_KIND_TRY", 9: "WORKFLOW_TASK_KIND_LISTEN",
    10: "WORKFLOW_TASK_KIND_WAIT", 11: "WORKFLOW_TASK_KIND_RAISE", 12: "WORKFLOW_TASK_KIND_RUN",
    13: "WORKFLOW_TASK_KIND_AGENT_CALL",
}


@workflow.defn(name=DOCUMENT_WORKFLOW, sandboxed=False)
class ServerlessWorkflow:
    def __init__(self) -> None:
        # Signals received and not yet consumed by a LISTEN, by name, oldest first.
        self._signals: dict[str, list[Any]] = {}

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        value = workflow.payload_converter().from_payload(args[0].payload) if args else None
        self._signals.setdefault(name, []).append(value)

    @workflow.run
    async def run(self, document: DocumentInput) -> DocumentResult:
        run = _DocumentRun(document, self._signals)
        try:
            output = await run.run_list(document.tasks, document.input, "/do", {})
        except _End as end:
            output = end.output
        except TaskFailure as failure:
            await run.flush()
            await run.report_result("EXECUTION_FAILED", None, describe(failure.error))
            raise to_application_error(failure.error) from None
        output = redact(output, run.secret_values)
        await run.flush()
        await run.report_result("EXECUTION_COMPLETED", output, "")
        return DocumentResult(output=output)


class _DocumentRun:
    """The state of one document run: context, data, variables, task ids seen."""

    def __init__(self, document: DocumentInput, signals: dict[str, list[Any]]) -> None:
        self.document = document
        self.signals = signals
        self.context: Any = {}
        self.data: dict[str, Any] = {}
        self.secret_values = [document.env[n] for n in document.secret_names if document.env.get(n)]
        self._runs: dict[str, int] = {}
        self._held: list[TaskReport] = []
        # One batch at a time: FORK branches flush concurrently, and a task's "completed"
        # must never overtake its "started".
        self._sending = asyncio.Lock()
        info = workflow.info()
        self.call_activity_queue: str = workflow.memo_value(
            MEMO_CALL_ACTIVITY_QUEUE, info.task_queue, type_hint=str
        )
        self.workflow_vars = {
            "id": info.workflow_id,
            "execution_id": document.execution_id,
            "input": document.input,
            "document": document.document,
        }

    # -- lists and tasks -----------------------------------------------------------------

    async def run_list(self, tasks: list[dict[str, Any]], data: Any, path: str, scope: dict[str, Any]) -> Any:
        names = {task_fields(t)[0]: i for i, t in enumerate(tasks)}
        index = 0
        while index < len(tasks):
            name = task_fields(tasks[index])[0]
            data, then = await self.run_task(tasks[index], data, f"{path}/{index}/{name}", scope)
            if then in ("", "continue"):
                index += 1
            elif then == "exit":
                break
            elif then == "end":
                raise _End(data)
            elif then in names:
                index = names[then]
            else:
                raise TaskFailure(error_object("configuration", f"then: no task named {then!r}", instance=path))
        return data

    async def run_task(self, task: dict[str, Any], data: Any, reference: str,
                       scope: dict[str, Any]) -> tuple[Any, str]:
        name, kind, config, export_as, then = task_fields(task)
        task_id = self._task_id(reference)
        started_at = _now()
        await self._report(task_id, name, kind, "WORKFLOW_TASK_IN_PROGRESS", data, None, "", started_at)
        variables = self._variables(data, name, reference, scope)
        try:
            output, switch_then = await self._execute(kind, config, data, reference, name, variables)
            if export_as:
                self.context = self._evaluate(as_expression(export_as), output,
                                              {**variables, "output": output}, reference)
        except TaskFailure as failure:
            await self._report(task_id, name, kind, "WORKFLOW_TASK_FAILED", data, None, str(failure), started_at)
            raise
        if kind != "WORKFLOW_TASK_KIND_SET":
            self.data[name] = output
        await self._report(task_id, name, kind, "WORKFLOW_TASK_COMPLETED", data, output, "", started_at)
        return output, switch_then or then

    def _task_id(self, reference: str) -> str:
        """The reference (a JSON-pointer-like path); a task run again (a loop through
        `then`) gets `#<n>`, so each run is a task of its own in the status."""
        count = self._runs.get(reference, 0) + 1
        self._runs[reference] = count
        suffix = f"#{count}" if count > 1 else ""
        return f"{self.document.task_id_prefix}{reference}{suffix}"

    def _variables(self, data: Any, name: str, reference: str, scope: dict[str, Any]) -> dict[str, Any]:
        env = self.document.env
        return {
            **scope,
            "input": data,
            "context": self.context,
            "data": self.data,
            "env": env,
            "secrets": {n: env[n] for n in self.document.secret_names if n in env},
            "workflow": self.workflow_vars,
            "task": {"name": name, "reference": reference},
            "runtime": {"name": RUNTIME_NAME, "now": workflow.now().timestamp()},
            "__now": workflow.now().timestamp(),
        }

    def _evaluate(self, value: Any, data: Any, variables: dict[str, Any], reference: str) -> Any:
        try:
            return evaluate(value, data, variables)
        except ExpressionError as exc:
            raise TaskFailure(error_object("expression", str(exc), instance=reference)) from None

    async def _report(self, task_id: str, name: str, kind: str, status: str, data: Any, output: Any,
                      error: str, started_at: str) -> None:
        if not self.document.report:
            return
        report = TaskReport(
            execution_id=self.document.execution_id,
            task_id=task_id,
            task_name=name,
            kind=kind,
            status=status,
            input=redact(data, self.secret_values),
            output=redact(output, self.secret_values),
            error=redact(error, self.secret_values),
            at=_now(),
            started_at=started_at,
        )
        self._held.append(report)
        if len(self._held) >= MAX_HELD_REPORTS:
            await self.flush()

    async def report_result(self, phase: str, output: Any, error: str) -> None:
        """The execution's final status, from the document itself: the `ExecuteWorkflow`
        attempt that started it may be gone (a runner that died; the server's invoke
        workflow makes one attempt), and the document still ends the execution. A child
        document (RUN) is its parent's task and reports nothing of the kind."""
        if not self.document.report or workflow.info().parent is not None:
            return
        result = RunResult(
            execution_id=self.document.execution_id,
            phase=phase,
            output=output,
            error=redact(error, self.secret_values),
            started_at=_stamp(workflow.info().start_time),
            completed_at=_now(),
        )
        try:
            await workflow.execute_local_activity(
                REPORT_RESULT, result, start_to_close_timeout=REPORT_TIMEOUT, retry_policy=REPORT_RETRY
            )
        except ActivityError as exc:
            if is_cancelled_exception(exc):
                raise
            workflow.logger.warning("final status of %s not reported: %s", self.document.execution_id, exc)

    async def flush(self) -> None:
        """Send the reports held so far, in order, after any batch already on its way."""
        async with self._sending:
            if not self._held:
                return
            reports, self._held = self._held, []
            try:
                await workflow.execute_local_activity(
                    REPORT_TASKS, TaskReports(reports), start_to_close_timeout=REPORT_TIMEOUT,
                    retry_policy=REPORT_RETRY,
                )
            except ActivityError as exc:
                if is_cancelled_exception(exc):
                    raise
                workflow.logger.warning("status of %s not reported: %s", reports[-1].task_id, exc)

    # -- the kinds -----------------------------------------------------------------------

    async def _execute(self, kind: str, config: dict[str, Any], data: Any, reference: str, name: str,
                       variables: dict[str, Any]) -> tuple[Any, str]:
        """(output, the `then` a SWITCH chose)."""
        if kind == "WORKFLOW_TASK_KIND_SWITCH":
            return data, self._switch(config, data, variables, reference)
        handler = self._handlers.get(kind)
        if handler is None:
            raise TaskFailure(error_object("configuration", f"unknown task kind {kind!r}", instance=reference))
        if kind in WAITING_KINDS:
            await self.flush()
        try:
            return await handler(self, config, data, reference, variables), ""
        except (ActivityError, ChildWorkflowError) as exc:
            if is_cancelled_exception(exc):
                raise
            raise from_temporal(exc, reference) from None

    def _switch(self, config: dict[str, Any], data: Any, variables: dict[str, Any], reference: str) -> str:
        for case in config.get("cases", []):
            when = case.get("when", "")
            try:
                holds = not when or evaluate_condition(when, data, variables)
            except ExpressionError as exc:
                raise TaskFailure(error_object("expression", str(exc), instance=reference)) from None
            if holds:
                return str(case.get("then", "")) or "continue"
        return ""

    async def _set(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        values = self._evaluate(config.get("variables", {}), data, variables, reference)
        self.data.update(values)
        return {**data, **values} if isinstance(data, dict) else values

    async def _for(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        items = self._evaluate(as_expression(config.get("in", "")), data, variables, reference)
        if isinstance(items, dict):
            items = list(items.values())
        if not isinstance(items, list):
            raise TaskFailure(error_object("validation", f"for.in is {type(items).__name__}, not a list",
                                           instance=reference))
        each = config.get("each") or "item"
        scope = {k: v for k, v in variables.items() if k not in _PER_TASK}
        output = data
        for index, item in enumerate(items):
            output = await self.run_list(config.get("do", []), output, f"{reference}/for/{index}/do",
                                         {**scope, each: item, "index": index})
        return output

    async def _fork(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        scope = {k: v for k, v in variables.items() if k not in _PER_TASK}
        branches = config.get("branches", [])
        runs = [
            asyncio.create_task(self._branch(b.get("do", []), data, f"{reference}/fork/{i}/{b.get('name', i)}/do",
                                             scope))
            for i, b in enumerate(branches)
        ]
        try:
            if config.get("compete"):
                done, _ = await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
                winner = next(r for r in runs if r in done)  # in branch order: deterministic
                return winner.result()
            return list(await asyncio.gather(*runs))
        finally:
            for run in runs:
                if not run.done():
                    run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)

    async def _branch(self, tasks: list[dict[str, Any]], data: Any, path: str, scope: dict[str, Any]) -> Any:
        """A fork's branch; what it holds is sent when it ends (its siblings may run on)."""
        output = await self.run_list(tasks, data, path, scope)
        await self.flush()
        return output

    async def _try(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        scope = {k: v for k, v in variables.items() if k not in _PER_TASK}
        catch = config.get("catch") or {}
        retry = catch.get("retry") or {}
        attempts = 1 + int(((retry.get("limit") or {}).get("attempt") or {}).get("count", 0) or 0)
        delay = float((retry.get("delay") or {}).get("seconds", 0) or 0)
        for attempt in range(1, attempts + 1):
            try:
                return await self.run_list(config.get("try", []), data, f"{reference}/try", scope)
            except TaskFailure as failure:
                if not catch:
                    raise
                if attempt < attempts:
                    if delay:
                        await self.flush()
                        await workflow.sleep(delay)
                    continue
                name = catch.get("as") or "error"
                return await self.run_list(catch.get("do", []), data, f"{reference}/catch/do",
                                           {**scope, name: failure.error})
        raise AssertionError("unreachable")

    async def _raise(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        error = self._evaluate(config.get("error", ""), data, variables, reference)
        message = self._evaluate(config.get("message", ""), data, variables, reference)
        raise TaskFailure(error_object(str(error), str(message), instance=reference))

    async def _wait(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        await workflow.sleep(float(config.get("seconds", 0)))
        return data

    async def _listen(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        to = config.get("to") or {}
        ids = [s.get("id", "") for s in to.get("signals", [])]
        if to.get("mode") == "one":
            await workflow.wait_condition(lambda: any(self.signals.get(i) for i in ids))
            first = next(i for i in ids if self.signals.get(i))
            return {first: self.signals[first].pop(0)}
        await workflow.wait_condition(lambda: all(self.signals.get(i) for i in ids))
        return {i: self.signals[i].pop(0) for i in ids}

    async def _http_call(self, config: dict[str, Any], data: Any, reference: str,
                         variables: dict[str, Any]) -> Any:
        resolved = self._evaluate(config, data, variables, reference)
        timeout = float(resolved.get("timeoutSeconds", resolved.get("timeout_seconds", 0)) or 30)
        request = HttpRequest(
            method=str(resolved.get("method", "GET")).upper(),
            uri=str((resolved.get("endpoint") or {}).get("uri", "")),
            headers={str(k): str(v) for k, v in (resolved.get("headers") or {}).items()},
            body=resolved.get("body"),
            timeout_seconds=timeout,
            reference=reference,
        )
        return await workflow.execute_activity(
            HTTP_CALL, request,
            # The request's own timeout bounds each attempt; connection failures are retried
            # a few times, an answer (any status) never is.
            start_to_close_timeout=timedelta(seconds=timeout + 5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
        )

    async def _grpc_call(self, config: dict[str, Any], data: Any, reference: str,
                         variables: dict[str, Any]) -> Any:
        resolved = self._evaluate(config, data, variables, reference)
        request = GrpcRequest(
            service=str(resolved.get("service", "")),
            method=str(resolved.get("method", "")),
            request=resolved.get("request") or {},
            reference=reference,
        )
        return await workflow.execute_activity(
            GRPC_CALL, request,
            # Reflection plus one unary call.
            start_to_close_timeout=timedelta(seconds=request.timeout_seconds + 5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
        )

    async def _call_activity(self, config: dict[str, Any], data: Any, reference: str,
                             variables: dict[str, Any]) -> Any:
        name = str(self._evaluate(config.get("activity", ""), data, variables, reference))
        argument = self._evaluate(config.get("input", {}), data, variables, reference)
        return await workflow.execute_activity(
            name, argument,
            task_queue=self.call_activity_queue,
            # A user's activity states no bound of its own.
            start_to_close_timeout=CALL_ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )

    async def _run(self, config: dict[str, Any], data: Any, reference: str, variables: dict[str, Any]) -> Any:
        target = str(self._evaluate(config.get("workflow", ""), data, variables, reference))
        resolved: ResolvedWorkflow = await workflow.execute_activity(
            RESOLVE_WORKFLOW, ResolveWorkflowRequest(workflow=target, org=self.document.org),
            result_type=ResolvedWorkflow,
            start_to_close_timeout=RESOLVE_TIMEOUT,
        )
        child_input = self._evaluate(config["input"], data, variables, reference) if config.get("input") else data
        child = DocumentInput(
            execution_id=self.document.execution_id,
            tasks=resolved.tasks,
            input=child_input,
            env=self.document.env,
            secret_names=self.document.secret_names,
            org=self.document.org,
            document=resolved.document,
            task_id_prefix=f"{self.document.task_id_prefix}{reference}/run",
            report=self.document.report,
        )
        result: DocumentResult = await workflow.execute_child_workflow(
            DOCUMENT_WORKFLOW, child,
            id=f"{workflow.info().workflow_id}{reference}",
            result_type=DocumentResult,
        )
        return result.output

    async def _agent_call(self, config: dict[str, Any], data: Any, reference: str,
                          variables: dict[str, Any]) -> Any:
        resolved = self._evaluate(config, data, variables, reference)
        options = resolved.get("config") or {}
        timeout = int(options.get("timeout") or DEFAULT_AGENT_TIMEOUT_SECONDS)
        env = {str(k): str(v) for k, v in (resolved.get("env") or {}).items()}
        request = AgentCallRequest(
            agent=str(resolved.get("agent", "")),
            scope=str(resolved.get("scope", "")),
            message=str(resolved.get("message", "")),
            org=self.document.org,
            env=env,
            secret_env=sorted(k for k, v in env.items() if redact(v, self.secret_values) != v),
            model=str(options.get("model", "")),
            reference=reference,
            workflow_execution_id=self.document.execution_id,
        )
        execution: agent_execution_pb2.AgentExecution = await workflow.execute_activity(
            AGENT_CALL, request,
            result_type=agent_execution_pb2.AgentExecution,
            # Completed by the service when the agent ends: the agent's own time limit.
            start_to_close_timeout=timedelta(seconds=timeout),
            # Each attempt would start another agent execution.
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return agent_answer(execution)

    _handlers: ClassVar[dict[str, Handler]] = {
        "WORKFLOW_TASK_KIND_SET": _set,
        "WORKFLOW_TASK_KIND_FOR": _for,
        "WORKFLOW_TASK_KIND_FORK": _fork,
        "WORKFLOW_TASK_KIND_TRY": _try,
        "WORKFLOW_TASK_KIND_RAISE": _raise,
        "WORKFLOW_TASK_KIND_WAIT": _wait,
        "WORKFLOW_TASK_KIND_LISTEN": _listen,
        "WORKFLOW_TASK_KIND_HTTP_CALL": _http_call,
        "WORKFLOW_TASK_KIND_GRPC_CALL": _grpc_call,
        "WORKFLOW_TASK_KIND_CALL_ACTIVITY": _call_activity,
        "WORKFLOW_TASK_KIND_RUN": _run,
        "WORKFLOW_TASK_KIND_AGENT_CALL": _agent_call,
    }


# Variables that belong to one task, not to the scope nested lists inherit.
_PER_TASK = frozenset({"input", "context", "data", "env", "secrets", "workflow", "task", "runtime", "__now"})


def agent_answer(execution: agent_execution_pb2.AgentExecution) -> Any:
    """The agent's answer: its last AI message's text (Stigmer's runner does the same)."""
    status = execution.status
    if status.phase == agent_enum_pb2.EXECUTION_FAILED:
        raise TaskFailure(error_object("runtime", f"agent execution {execution.metadata.id} failed: "
                                       f"{status.error}"))
    if status.phase == agent_enum_pb2.EXECUTION_CANCELLED:
        raise TaskFailure(error_object("runtime", f"agent execution {execution.metadata.id} was cancelled"))
    for message in reversed(status.messages):
        if message.type == agent_enum_pb2.MESSAGE_AI and message.content:
            return message.content
    return ""


def _now() -> str:
    return _stamp(workflow.now())


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
