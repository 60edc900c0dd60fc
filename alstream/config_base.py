"""Base class of every settings section (kept apart so agent packages can define their own sections),
and the wording of validation errors in the files people edit."""

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Section(BaseModel):
    """A frozen settings section that rejects unknown keys (typos fail at start, not at 3 a.m.)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# pydantic's bound errors: type -> (words, the ``ctx`` key holding the bound)
def group_id_field(default: str) -> Any:
    """An agent's ``group_id`` setting: the name its consumer group gets after the topic prefix."""
    return Field(
        default=default,
        description=(
            f"Consumer group name; the group joined is kafka.topic_prefix + this (`alstream.{default}` "
            "by default), so deployments with different prefixes never share one. A new name is a new "
            "group: it reads its topics from the beginning (processing is idempotent)."
        ),
    )


_BOUNDS = {
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
}
_TYPES = {"int": "a whole number", "float": "a number", "bool": "true or false", "string": "a quoted string"}


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per problem, in a file owner's words: the key, what it must be, what it was.

    pydantic's own wording ("Extra inputs are not permitted", "Input should be less than or equal
    to 1") names its internals; a labeling lead editing a TOML file needs the key, the rule and the
    nearest valid key when a name is misspelt.
    """
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "file"
        given, kind = error.get("input"), error["type"]
        if kind == "extra_forbidden":
            known = list(model.model_fields)
            close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            lines.append(f"{where}: unknown key; {hint}")
        elif kind in _BOUNDS:
            words, bound = _BOUNDS[kind]
            lines.append(f"{where} = {given!r}: must be {words} {(error.get('ctx') or {}).get(bound)}")
        elif kind.endswith(("_parsing", "_type")):
            wanted = kind.removesuffix("_parsing").removesuffix("_type")
            lines.append(f"{where} = {given!r}: must be {_TYPES.get(wanted, wanted)}")
        elif kind == "missing":
            lines.append(f"{where}: missing; add it")
        else:
            lines.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return lines
