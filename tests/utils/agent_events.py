"""A scripted agent run for StatusBuilder tests: named steps that each feed the builder
the `astream_events` (v2) events a real run makes, in a valid order whatever the steps'
order (a step that does not fit the run's state does the nearest thing that does)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.runnables.schema import StreamEvent

from runner.status_builder import StatusBuilder

ROOT = "run-root"

# Weighted as a run is: mostly tokens, between them the steps that reshape a status.
STEPS = (
    *["token"] * 24, "end_answer", "end_rewritten", "tool", "tool_error", "todos", "task",
    *["sub_token"] * 6, "sub_model", "task_end", "task_end", "note", "phase",
)


def event(
    kind: str, run_id: str, name: str = "", parents: tuple[str, ...] = (ROOT,), **data: Any
) -> StreamEvent:
    return {
        "event": kind,
        "run_id": run_id,
        "name": name,
        "parent_ids": list(parents),
        "tags": [],
        "metadata": {},
        "data": data,
    }  # type: ignore[typeddict-item]


class ScriptedRun:
    """Feeds `builder` one step at a time (`step(name)`, names in STEPS, runs `on_<name>`)."""

    def __init__(self, builder: StatusBuilder) -> None:
        self.builder = builder
        self._ids = 0
        self._model: tuple[str, list[str]] | None = None  # open model run: id, tokens
        self._task: str | None = None  # open task tool run
        self._sub_model: str | None = None
        self._todos = 0

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def step(self, name: str) -> None:
        getattr(self, f"on_{name}")()

    def finish(self) -> None:
        """End what is open, then the run."""
        if self._task is not None:
            self.on_task_end()
        if self._model is not None:
            self.on_end_answer()
        self.builder.mark_completed()

    # -- the main agent ---------------------------------------------------------------

    def on_token(self) -> None:
        if self._task is not None:
            self.on_sub_token()
            return
        if self._model is None:
            self._model = (self._id("model"), [])
            self.builder.handle(event("on_chat_model_start", self._model[0], "model"))
        run_id, tokens = self._model
        token = f" tök{len(tokens)}"  # not ASCII: offsets count code points
        tokens.append(token)
        self.builder.handle(event("on_chat_model_stream", run_id, "model", chunk=AIMessageChunk(content=token)))

    def _end_model(self, text: str | None = None, calls: list[dict[str, Any]] | None = None) -> None:
        if self._model is None:
            self._model = (self._id("model"), [])
            self.builder.handle(event("on_chat_model_start", self._model[0], "model"))
        run_id, tokens = self._model
        self._model = None
        output = AIMessage(content="".join(tokens) if text is None else text, tool_calls=calls or [])
        self.builder.handle(event("on_chat_model_end", run_id, "model", output=output))

    def on_end_answer(self) -> None:
        if self._task is None:
            self._end_model()

    def on_end_rewritten(self) -> None:
        """The model's final message differs from what it streamed."""
        if self._task is None:
            self._end_model(text="a different final text")

    def on_tool(self, error: bool = False) -> None:
        if self._task is not None:
            return
        call_id, run_id, args = self._id("call"), self._id("tool"), {"text": "a b c"}
        self._end_model(calls=[{"id": call_id, "name": "word_count", "args": args}])
        self.builder.handle(event("on_tool_start", run_id, "word_count", input=args))
        if error:
            self.builder.handle(event("on_tool_error", run_id, "word_count", error=RuntimeError("no")))
        else:
            output = ToolMessage(content="3 words", tool_call_id=call_id, name="word_count")
            self.builder.handle(event("on_tool_end", run_id, "word_count", input=args, output=output))

    def on_tool_error(self) -> None:
        self.on_tool(error=True)

    def on_todos(self) -> None:
        if self._task is not None:
            return
        self._todos += 1
        plan = [{"content": f"step {n}", "status": "completed" if n < self._todos else "pending"}
                for n in range(self._todos + 1)]
        call_id, run_id = self._id("call"), self._id("tool")
        self._end_model(calls=[{"id": call_id, "name": "write_todos", "args": {"todos": plan}}])
        self.builder.handle(event("on_tool_start", run_id, "write_todos", input={"todos": plan}))
        output = ToolMessage(content="ok", tool_call_id=call_id, name="write_todos")
        self.builder.handle(event("on_tool_end", run_id, "write_todos", input={"todos": plan}, output=output))

    # -- a sub-agent ------------------------------------------------------------------

    def on_task(self) -> None:
        if self._task is not None:
            return
        call_id, run_id = self._id("call"), self._id("task")
        args = {"sub_agent": "researcher", "description": "find facts"}
        self._end_model(calls=[{"id": call_id, "name": "task", "args": args}])
        self.builder.handle(event("on_tool_start", run_id, "task", input=args))
        self._task = run_id

    def _nested(self) -> tuple[str, ...]:
        assert self._task is not None
        return (ROOT, "tools", self._task, "sub-graph")

    def on_sub_model(self) -> None:
        if self._task is None:
            self.on_task()
        self._sub_model = self._id("sub-model")
        self.builder.handle(event("on_chat_model_start", self._sub_model, "model", self._nested()))

    def on_sub_token(self) -> None:
        if self._task is None:
            self.on_token()
            return
        if self._sub_model is None:
            self.on_sub_model()
        assert self._sub_model is not None
        chunk = AIMessageChunk(content=f" fact{self._ids}")
        self.builder.handle(event("on_chat_model_stream", self._sub_model, "model", self._nested(), chunk=chunk))

    def on_task_end(self) -> None:
        if self._task is None:
            return
        result = ToolMessage(content="Facts found.", tool_call_id="x")
        self.builder.handle(event("on_tool_end", self._task, "task", output=result))
        self._task = self._sub_model = None

    # -- the rest ---------------------------------------------------------------------

    def on_note(self) -> None:
        self.builder.add_system_note("a note")

    def on_phase(self) -> None:
        self.builder.mark_in_progress()
