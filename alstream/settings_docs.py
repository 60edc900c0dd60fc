"""Renders every setting (section, field, env var, default, description) as a Markdown reference.

``docs/configuration.md`` is generated from the settings model itself so it cannot drift from the
code; a unit test regenerates it and fails when the committed file is stale.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from alstream.settings import CONFIG_FILE_ENV, ENV_PREFIX, AlstreamSettings

HEADER = f"""# Configuration reference

Generated from `alstream/settings.py`, `alstream/streams/config.py` (the `[kafka]` and `[codec]`
sections, all the Kafka plumbing takes) and each agent's `config.py` by
`python -m alstream.settings_docs > docs/configuration.md` (a unit test keeps it current).

Every setting can come from, highest precedence first: constructor arguments, environment variables
`{ENV_PREFIX}<SECTION>__<FIELD>` (lists and maps as JSON), `KAFKA_BOOTSTRAP_SERVERS`, and a TOML file
named by `--config` / `{CONFIG_FILE_ENV}` with one `[section]` table per section below. A wrong or
missing setting stops the process at start with a message naming the variable and the fix. Secrets
(`SecretStr`) never print. alstream reads the environment and the file; it never writes the
environment (a process passes settings to a child through the child's environment or a file).

With the embedded broker (`alstream broker`, the demo, the tests) set
`{ENV_PREFIX}KAFKA__EMBEDDED_BROKER=true`: `alstream broker` prints it with the bootstrap address.
"""


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "(required)"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, list | tuple) and value and all(isinstance(v, BaseModel) for v in value):
        import json

        return f"`{json.dumps([v.model_dump(exclude_defaults=True) for v in value])}`"
    return f"`{value!r}`" if value not in (None, "") else "-"


def render() -> str:
    lines = [HEADER]
    for section_name, section_field in AlstreamSettings.model_fields.items():
        section = section_field.annotation
        assert isinstance(section, type) and issubclass(section, BaseModel)
        doc = (section.__doc__ or "").strip().splitlines()[0] if section.__doc__ else ""
        lines += [
            f"## `[{section_name}]`",
            "",
            doc,
            "",
            "| field | environment variable | default | meaning |",
            "|---|---|---|---|",
        ]
        for name, field in section.model_fields.items():
            env = f"{ENV_PREFIX}{section_name.upper()}__{name.upper()}"
            description = (field.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{name}` | `{env}` | {_default(field)} | {description} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
