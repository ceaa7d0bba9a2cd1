"""Runtime expressions: `${ … }` strings are jq, evaluated with the jq binding (PyPI `jq`).

A string that is wholly `${ … }` is an expression and evaluates to a JSON value; any other
string is itself (Serverless Workflow 1.0's strict mode). Objects and lists are walked and
each expression in them evaluated.

Evaluation is pure: the document workflow calls it in workflow code, so jq's few impure
builtins are replaced before the user's program (definitions shadow builtins):

* `env`, `$ENV`: the runner process's environment (its keys) → an empty object;
* `now`: the wall clock → the workflow's clock at the task (`$runtime.now`), so a replay
  sees the same time;
* `input`, `inputs`, `debug`, `stderr`, `halt`, `halt_error`, `input_filename`,
  `get_search_list`, `$__prog_args`-style origins → refused or inert;
* `import` / `include` (modules from the runner's disk) cannot appear: a module directive
  must open a program, and the program opens with these definitions.

Variables are passed through the input (`. as {…}` destructuring), so a compiled program
is cached by its text and the names it may use, never by values.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import jq

_WHOLE = re.compile(r"^\s*\$\{(.*)\}\s*$", re.DOTALL)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_PRELUDE = (
    "def env: {}; "
    "def now: $__now; "
    'def input: error("input is not available in workflow expressions"); '
    'def inputs: error("inputs is not available in workflow expressions"); '
    "def debug: .; def debug(m): .; def stderr: .; "
    'def halt: error("halt is not available in workflow expressions"); '
    'def halt_error: error("halt_error is not available in workflow expressions"); '
    "def halt_error(c): halt_error; "
    "def input_filename: null; def get_search_list: []; "
    "def get_prog_origin: null; def get_jq_origin: null; "
)


class ExpressionError(Exception):
    """An expression that does not compile, or fails when run."""

    def __init__(self, expression: str, message: str) -> None:
        super().__init__(f"expression {expression!r}: {message}")
        self.expression = expression
        self.reason = message


def is_expression(value: object) -> bool:
    return isinstance(value, str) and _WHOLE.match(value) is not None


def as_expression(text: str) -> str:
    """Fields that are always expressions (export.as, for.in, a case's when) may omit
    the `${ }`."""
    return text if is_expression(text) else f"${{ {text} }}"


def body(expression: str) -> str:
    """The jq program of `${ … }` (a bare program is its own body)."""
    match = _WHOLE.match(expression)
    return (match.group(1) if match else expression).strip()


@lru_cache(maxsize=2048)
def _compiled(program: str, names: tuple[str, ...]) -> Any:
    bindings = ", ".join(f'"{name}": ${name}' for name in names)
    # Bind first: the definitions of the prelude read `$__now`.
    text = f". as {{\"d\": $__d, \"v\": {{{bindings}}}}} | {{}} as $ENV | {_PRELUDE}$__d | ({program})"
    try:
        return jq.compile(text)
    except ValueError as exc:
        raise ExpressionError(program, _first_line(str(exc))) from None


def check(expression: str, names: tuple[str, ...] = ()) -> str | None:
    """None when the expression compiles with these variables, else why not."""
    try:
        _compiled(body(expression), tuple(sorted({*names, "__now"})))
    except ExpressionError as exc:
        return exc.reason
    return None


def evaluate_program(program: str, data: Any, variables: dict[str, Any]) -> Any:
    """The first result of a jq program (null when it yields none)."""
    variables = {"__now": 0, **variables}
    for name in variables:
        if not NAME.match(name):
            raise ExpressionError(program, f"${name} is not a valid variable name")
    # Only the variables the program names travel into jq (each is converted to JSON on the
    # way): `$data` may hold every task's output, and most expressions never read it.
    used = {name: value for name, value in variables.items() if name == "__now" or _names(program, name)}
    compiled = _compiled(program, tuple(sorted(used)))
    try:
        results = compiled.input_value({"d": data, "v": used}).all()
    except ValueError as exc:
        raise ExpressionError(program, _first_line(str(exc))) from None
    return results[0] if results else None


def _names(program: str, name: str) -> bool:
    """Whether `$name` appears in the program (a mention in a string literal counts too:
    then the variable is merely passed in unused)."""
    return re.search(rf"\${re.escape(name)}(?![A-Za-z0-9_])", program) is not None


def evaluate(value: Any, data: Any, variables: dict[str, Any]) -> Any:
    """`value` with each `${ … }` string in it replaced by its result."""
    if isinstance(value, str):
        match = _WHOLE.match(value)
        return evaluate_program(match.group(1).strip(), data, variables) if match else value
    if isinstance(value, dict):
        return {key: evaluate(item, data, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item, data, variables) for item in value]
    return value


def evaluate_condition(expression: str, data: Any, variables: dict[str, Any]) -> bool:
    """jq truth: everything but false and null holds."""
    result = evaluate_program(body(expression), data, variables)
    return result is not None and result is not False


def expressions_in(value: Any) -> list[str]:
    """Every `${ … }` string inside a JSON value."""
    if isinstance(value, str):
        return [value] if is_expression(value) else []
    if isinstance(value, dict):
        return [e for item in value.values() for e in expressions_in(item)]
    if isinstance(value, list):
        return [e for item in value for e in expressions_in(item)]
    return []


_POSITION = re.compile(r"\s*at <top-level>, line \d+, column \d+:?|^jq: error(?: \(at <unknown>\))?: ")


def _first_line(message: str) -> str:
    """jq's message without positions, which count from the wrapped program."""
    line = message.strip().splitlines()[0] if message.strip() else "invalid jq"
    return _POSITION.sub("", line).strip() or "invalid jq"
