"""The shell commands README.md and docs/ tell a user to run, as the doc tests find and run them.

The convention the docs follow (README.md, "How the docs are tested"):

* A command a user is told to run is in a fenced block tagged ``bash``. Output samples, file
  contents and synopses are tagged with what they are (``text``, ``json``, ``toml``, ...), so every
  fenced block has a tag and no command hides in an untagged one.
* Every line of a ``bash`` block runs in a test, in order, as one script per doc file, against the
  embedded broker, except commands listed in :data:`NOT_RUN`, each with the reason it cannot run
  here. The list is short on purpose: a doc line that does not work fails CI.
* :data:`SUBSTITUTIONS` replaces placeholders a reader is expected to replace too (the broker's
  address), and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: command prefix -> why no test runs it (the line is kept in the script as a comment).
NOT_RUN = {
    "make demo": "tests/e2e/test_demo.py runs the demo",
    "make test": "it is this test suite",
    "pip install .": "the tests run the package `make install` already installed into .venv",
    "docker compose": "no Docker engine here (tests/unit/observability/test_compose.py checks the stack)",
    ".venv/bin/python -m pytest": "it is (part of) this test suite",
    "pip install 'alstream[label-studio]'": "`make install` already installs the extra into .venv",
    "make label-studio": ".ci/run runs it before the tests; the Label Studio tests start that server",
    "alstream agent label-studio": "needs a Label Studio server (tests/integration/label_studio has one)",
    "alstream demo --ui": "tests/e2e/test_demo_ui.py runs it, with a person labeling in Chromium",
    "alstream broker": "it runs until stopped; tests/integration/streams/test_topics_and_broker.py runs it "
    "and checks the lines it prints",
}

#: placeholder -> what it stands for in the test run (format fields filled by the harness)
SUBSTITUTIONS = {"broker:9092": "{bootstrap}"}

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a markdown file, with its info string's first word."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, start = match["fence"], index
        body = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        language = (match["info"].strip().split() or [""])[0]
        blocks.append(Block(path, start + 1, language, "\n".join(body)))
        index += 1
    return blocks


def commands(block: Block) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = block.text.replace("\\\n", " ")
    found = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            found.append(line)
    return found


def not_run_reason(command: str) -> str | None:
    for prefix, reason in NOT_RUN.items():
        if command.startswith(prefix):
            return reason
    return None


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def script_for(path: Path, **values: str) -> str:
    """One bash script of every ``bash`` block of ``path``, in order, with skipped lines commented."""
    parts = ["set -euo pipefail"]
    for block in fenced_blocks(path):
        if block.language != "bash":
            continue
        parts.append(f"# --- {block.where}")
        text = block.text
        for placeholder, value in SUBSTITUTIONS.items():
            text = text.replace(placeholder, value.format(**values))
        for line in text.replace("\\\n", " ").splitlines():
            stripped = line.strip()
            reason = not_run_reason(stripped)
            parts.append(f"# not run ({reason}): {stripped}" if reason else line)
    return "\n".join(parts) + "\n"
