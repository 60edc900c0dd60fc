"""The vector selectors a PromQL expression reads: metric names and label matchers.

Enough of PromQL to check dashboards and alert rules against ``docs/metrics.md`` and against what
the running agents export, without a server: a small tokenizer walks the expression, skips function
calls, keywords, grouping clauses (``by (...)``), ranges, numbers, durations and Grafana variables,
and what is left is selectors. It is a lint, not a parser: a selector written as
``{__name__="x"}`` is read as a bare matcher set (we do not write those).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
    "atan2",
}
# Aggregation operators may be followed by a grouping clause before their parenthesis.
AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}
# Keywords followed by a parenthesised list of label names, not of expressions.
_LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}

_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_TOKEN = re.compile(
    rf"""
    (?P<string>{_STRING})
    | (?P<variable>\$\{{[^}}]*\}}|\$\w+)
    | (?P<number>\d[\w.]*|\.\d[\w.]*)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<braces>\{{(?:{_STRING}|[^{{}}"'`])*\}})
    | (?P<range>\[[^\]]*\])
    | (?P<open>\()
    | (?P<close>\))
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE,
)
_MATCHER = re.compile(rf"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*,?")

# Grafana's built-in interval variables, replaced by a fixed window when a query runs outside Grafana.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "30s", "$__range": "1h"}


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # =, !=, =~, !~
    value: str

    def matches(self, value: str | None) -> bool:
        """Prometheus semantics: a missing label reads as "", regexes are anchored at both ends."""
        actual = value or ""
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


@dataclass(frozen=True)
class Selector:
    """One vector selector: ``metric{matchers}``; ``metric`` is None for a bare ``{...}``."""

    metric: str | None
    matchers: tuple[Matcher, ...] = ()

    def selects(self, name: str, labels: dict[str, str]) -> bool:
        if self.metric is not None and name != self.metric:
            return False
        return all(m.matches(labels.get(m.label)) for m in self.matchers)

    def __str__(self) -> str:
        inner = ", ".join(map(str, self.matchers))
        return f"{self.metric or ''}{{{inner}}}" if self.matchers else (self.metric or "{}")


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if literal[0] == "`":
        return body
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), body)


def parse_matchers(braces: str) -> tuple[Matcher, ...]:
    """``{a="x", b=~"y"}`` -> matchers; raises ``ValueError`` on anything else inside the braces."""
    body, matchers, position = braces[1:-1], [], 0
    while position < len(body):
        match = _MATCHER.match(body, position)
        if match is None:
            if body[position:].strip():
                raise ValueError(f"cannot read label matchers {braces!r}")
            break
        matchers.append(Matcher(match[1], match[2], _unquote(match[3])))
        position = match.end()
    return tuple(matchers)


def selectors(expr: str) -> list[Selector]:
    """Every vector selector in ``expr``, in order of appearance."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    found: list[Selector] = []
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else (None, "")
        if kind == "ident":
            lowered = text.lower()
            if lowered in _LABEL_LIST_KEYWORDS and following[0] == "open":
                index = _skip_parenthesised(tokens, index + 1)
                continue
            if following[0] == "open" or lowered in KEYWORDS or lowered in AGGREGATIONS:
                index += 1  # a function or aggregation's name, or an operator keyword
                continue
            if following[0] == "braces":
                found.append(Selector(text, parse_matchers(following[1])))
                index += 2
                continue
            found.append(Selector(text))
        elif kind == "braces":
            found.append(Selector(None, parse_matchers(text)))
        index += 1
    return found


def _skip_parenthesised(tokens: list[tuple[str | None, str]], open_index: int) -> int:
    depth = 0
    for index in range(open_index, len(tokens)):
        if tokens[index][0] == "open":
            depth += 1
        elif tokens[index][0] == "close":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(tokens)


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    return {s.metric for s in selectors(expr) if s.metric is not None}


def substitute_grafana_variables(expr: str) -> str:
    """``expr`` with Grafana's interval variables replaced, so a plain Prometheus can evaluate it."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr
