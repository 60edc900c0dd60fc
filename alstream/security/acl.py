"""The access matrix of alstream on a real Kafka cluster, as data, and the ``kafka-acls`` commands for it.

Why as data: the table in docs/security.md, the ``alstream acl`` command and its tests all read
this one matrix, so the documentation cannot drift from what the command grants. Least privilege:
each role gets exactly the topics it reads or writes, its consumer group(s), and nothing else;
ingestion may only write items; an annotation tool only its own ``tool.<tool>.*`` topics
(:mod:`alstream.security.identity`), which the tool gateway connects to the shared topics.
``tests/integration/security/test_acl_usage.py`` runs the agents and checks that each uses exactly
what its role grants.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from alstream.security.identity import DELIVERY_TOPIC, INTAKE_TOPICS
from alstream.settings import AlstreamSettings

READ = ("Read", "Describe")
WRITE = ("Write", "Describe")


@dataclass(frozen=True)
class Grant:
    """One ACL line: operations on a resource (a literal name, or a prefix)."""

    resource: str  # "topic", "group", "cluster" or "transactional-id"
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False
    why: str = ""

    def command(self, principal: str, *, bootstrap: str, command_config: str | None) -> str:
        parts = ["kafka-acls", "--bootstrap-server", bootstrap]
        if command_config:
            parts += ["--command-config", command_config]
        parts += ["--add", "--allow-principal", principal]
        for operation in self.operations:
            parts += ["--operation", operation]
        if self.resource == "cluster":
            parts.append("--cluster")
        else:
            if self.prefixed:
                parts += ["--resource-pattern-type", "prefixed"]
            parts += [f"--{self.resource}", self.name]
        # A "$VARIABLE" bootstrap stays expandable by the shell; everything else is quoted safely.
        return " ".join(f'"{p}"' if p == bootstrap and p.startswith("$") else shlex.quote(p) for p in parts)


@dataclass(frozen=True)
class Role:
    """Who (a kind of client), and what it reads, writes and which groups it joins."""

    name: str
    description: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # literal consumer groups
    group_prefixes: tuple[str, ...] = ()  # e.g. throwaway reader groups
    idempotent: bool = True  # producers run with enable.idempotence=true
    principal: str | None = None  # fixed by the role itself (an annotation tool is User:<tool>)
    extra: tuple[Grant, ...] = field(default_factory=tuple)


def agent_groups(settings: AlstreamSettings) -> dict[str, str]:
    """Each consuming agent's consumer group, as the agents name them: the topic prefix plus the agent's
    ``group_id`` (:meth:`~alstream.streams.config.KafkaSettings.group_id`)."""
    group = settings.kafka.group_id
    return {
        "scorer": group(settings.scorer.group_id),
        "router": group(settings.router.group_id),
        "labels": group(settings.labels.group_id),
        "agreement": group(settings.agreement.group_id),
        "release": group(settings.release.group_id),
        "trainer": group(settings.trainer.group_id),
    }


def roles(settings: AlstreamSettings, *, annotation_group: str = "alstream-annotate") -> tuple[Role, ...]:
    """The matrix, with group ids from the settings so a renamed group is granted under its real name."""
    reader = f"{settings.kafka.client_id}-reader-"  # side readers and catch-up reads (streams.reading)
    groups = agent_groups(settings)
    return (
        Role(
            "ingest",
            "Ingestion producers (SDK, `alstream produce`): publish new items, nothing else.",
            writes=("items",),
        ),
        Role(
            "scorer",
            "Scores every item, publishes scores and the bounded candidate stream; hot-swaps models.",
            # dead-letters: at start, which announcements it already dead-lettered (a restart replays
            # the newest one and must not dead-letter it again)
            reads=("items", "models", "dead-letters"),
            writes=("scores", "candidates", "dead-letters"),
            groups=(groups["scorer"],),
            group_prefixes=(reader,),  # the models topic's side reader
        ),
        Role(
            "router",
            "Keeps the pool and per-annotator state (shard tables with a changelog) and assigns work.",
            # dead-letters: at start, which calibration rounds it already dead-lettered
            reads=("candidates", "annotator-events", "labels", "calibration", "router-state", "dead-letters"),
            writes=(
                "assignments",
                "annotator-events",
                "dead-letters",
                "router-status",
                "router-state",
            ),  # annotator-events: copies of keyed events for the other shards; router-state: the shard
            # tables' changelog (read back at restore); router-status is read by `alstream status`
            groups=(groups["router"],),
            group_prefixes=(reader,),  # the calibration and router-state readers
        ),
        Role(
            "labels",
            "Validates labels against assignments; bad or duplicate labels go to dead letters.",
            # dead-letters: at start it reads which labels it already dead-lettered (a restart never
            # dead-letters or counts one twice)
            reads=("labels", "assignments", "dead-letters"),
            writes=("dead-letters",),
            groups=(groups["labels"],),
            group_prefixes=(reader,),
        ),
        Role(
            "agreement",
            "Inter-annotator agreement; emits calibration events on spikes.",
            # dead-letters: at start, which assignments and candidates it already dead-lettered
            reads=("labels", "assignments", "candidates", "dead-letters"),
            writes=("calibration", "dead-letters"),
            groups=(groups["agreement"],),
            group_prefixes=(reader,),
        ),
        Role(
            "release",
            "Compacts labels into versioned dataset releases.",
            # a release compacts labels against their assignments and candidates (embeddings) and
            # records the serving model (models); it never reads scores
            reads=("labels", "assignments", "candidates", "models"),
            writes=("releases", "dead-letters"),
            groups=(groups["release"],),
            group_prefixes=(reader,),
        ),
        Role(
            "trainer",
            "Retrains from releases / label batches and announces model versions.",
            # retrain-every-N (trainer.retrain_every_labels) syncs the release ledger as a release build
            # does (labels, assignments, candidates); a trained model is gated against the serving one,
            # the newest loadable announcement on the models topic
            reads=("releases", "labels", "assignments", "candidates", "models"),
            writes=("models", "dead-letters"),
            groups=(groups["trainer"],),
            group_prefixes=(reader,),
        ),
        Role(
            "operator",
            "SRE tooling: `alstream topics create|list`, `alstream status` and the dead-letter audit.",
            reads=("dead-letters", "router-status"),
            idempotent=False,
            # audit groups follow dead letters; reader groups read topics to their end (streams.reading)
            group_prefixes=("alstream-audit-", reader),
            extra=(
                Grant(
                    "topic",
                    "",
                    ("Create", "Describe", "DescribeConfigs", "AlterConfigs"),
                    prefixed=True,
                    why="create and inspect the catalogue's topics",
                ),
                *(
                    Grant("group", group, ("Describe",), why="consumer lag for `alstream status`")
                    for group in groups.values()
                ),
            ),
        ),
        *gateway_and_tool_roles(settings, annotation_group=annotation_group),
    )


def gateway_and_tool_roles(settings: AlstreamSettings, *, annotation_group: str) -> tuple[Role, ...]:
    """The tool gateway and one role per configured annotation tool (``[identity] tools``).

    A tool writes only its own intake topics and reads only its own delivery topic, so the broker
    itself binds what arrives there to the tool's principal (alstream.security.identity). Without
    ``[identity] tools`` no tool role exists: on a cluster with ACLs, tools then get no access at all.
    """
    identity = settings.identity
    if not identity.enforced:
        return ()
    reader = f"{settings.kafka.client_id}-reader-"
    prefix = settings.kafka.topic_prefix
    tools = sorted(identity.tools)
    own = {tool: [f"tool.{tool}.{base}" for base in (*INTAKE_TOPICS, DELIVERY_TOPIC)] for tool in tools}
    gateway = Role(
        "tool-gateway",
        "Forwards each tool's labels and events to the shared topics when the annotator is bound to "
        "the tool; delivers each annotator's work, without kind, to the tools bound to it.",
        # labels: read to its end at start, so a label id stays bound to its first content
        reads=("assignments", "labels", *(own[t][0] for t in tools), *(own[t][1] for t in tools)),
        writes=("labels", "annotator-events", "dead-letters", *(own[t][2] for t in tools)),
        groups=(settings.kafka.group_id(settings.tool_gateway.group_id),),
        group_prefixes=(reader,),
    )
    tool_roles = tuple(
        Role(
            f"tool:{tool}",
            f"Annotation tool {tool} (annotators {', '.join(identity.tools[tool])}): its own topics only.",
            reads=(own[tool][2],),
            writes=(own[tool][0], own[tool][1]),
            group_prefixes=(f"{annotation_group}-{prefix}{tool}.",),
            principal=f"User:{tool}",
        )
        for tool in tools
    )
    return (gateway, *tool_roles)


def grants(role: Role, settings: AlstreamSettings) -> list[Grant]:
    """The ACLs of one role, topics first, then groups, then cluster rights."""
    topic = settings.kafka.topic
    out: list[Grant] = []
    for base in role.reads:
        out.append(Grant("topic", topic(base), READ, why=f"read {base}"))
    for base in role.writes:
        out.append(Grant("topic", topic(base), WRITE, why=f"write {base}"))
    for group in role.groups:
        out.append(Grant("group", group, ("Read", "Describe"), why="its consumer group"))
    for prefix in dict.fromkeys(role.group_prefixes):
        out.append(
            Grant("group", prefix, ("Read", "Describe"), prefixed=True, why="per-process reader groups")
        )
    for extra in role.extra:
        name = extra.name or settings.kafka.topic_prefix
        out.append(Grant(extra.resource, name, extra.operations, extra.prefixed, extra.why))
    if role.writes and role.idempotent:
        out.append(
            Grant(
                "cluster",
                "kafka-cluster",
                ("IdempotentWrite",),
                why="idempotent producer (implied by Write on Kafka >= 3.0, needed before)",
            )
        )
    return out


def acl_commands(
    settings: AlstreamSettings,
    principals: dict[str, str],
    *,
    bootstrap: str = "$BOOTSTRAP",
    command_config: str | None = None,
    annotation_group: str = "alstream-annotate",
) -> list[str]:
    """Shell lines (comments and ``kafka-acls`` commands) for every role that was given a principal."""
    known = {role.name: role for role in roles(settings, annotation_group=annotation_group)}
    unknown = sorted(set(principals) - set(known))
    if "tool-gateway" in unknown:
        raise ValueError(
            "the tool-gateway role needs [identity] tools (ALSTREAM_IDENTITY__TOOLS): which annotation "
            "tools exist and which annotators each may act for"
        )
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {sorted(known)}")
    lines = [f"# alstream ACLs for topic prefix {settings.kafka.topic_prefix!r}"]
    for name, role in known.items():
        principal = principals.get(name) or role.principal
        if not principal:
            continue
        if ":" not in principal:
            raise ValueError(f"principal {principal!r} for {name} must look like User:name")
        lines.append(f"# {name} ({principal}): {role.description}")
        lines += [
            g.command(principal, bootstrap=bootstrap, command_config=command_config)
            for g in grants(role, settings)
        ]
    return lines
