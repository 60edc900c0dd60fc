"""How the demo sits in the identity model: every annotator is bound to a tool of its own, the bridge is
one tool, and the tool gateway runs among the agents (the embedded broker authenticates nobody, so the
demo shows the path, not the boundary: docs/security.md)."""

from __future__ import annotations

import json

from alstream.demo.options import DemoOptions
from alstream.demo.orchestrator import AGENTS, BRIDGE_TOOL, demo_identity
from alstream.security.identity import IdentitySettings, deployment_topics
from alstream.settings import load_settings


def test_each_demo_annotator_is_its_own_tool_and_the_bridge_one_more() -> None:
    annotators = [a.annotator_id for a in DemoOptions().annotators]
    tools = demo_identity(annotators, "ann-you")
    identity = load_settings(environ={"ALSTREAM_IDENTITY__TOOLS": json.dumps(tools)}).identity
    for annotator_id in annotators:
        assert identity.tools_for(annotator_id) == [annotator_id]  # nobody else may act for them
    assert identity.tools_for("ann-you") == [BRIDGE_TOOL]
    assert "tool-gateway" in AGENTS
    created = {spec.base_name for spec in deployment_topics(IdentitySettings(tools=tools))}
    assert {f"tool.{annotators[0]}.labels", f"tool.{BRIDGE_TOOL}.assignments"} <= created
    assert demo_identity(annotators, None).keys() == set(annotators)
