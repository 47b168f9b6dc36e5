"""tether's tables (SQLAlchemy Core, one dialect-neutral schema, all prefixed ``tether_``).

Money is stored as integer micro-units (``cost_micros``); timestamps are UTC and come back
timezone-aware on every backend (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (UTC).

    SQLite keeps no offset, so values are converted to UTC and stored naive there; a naive
    value given by the caller is taken to be UTC already.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


schema_version = sa.Table(
    "tether_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "tether_runs",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("agent", sa.String(200), nullable=False),
    sa.Column("agent_version", sa.String(100), nullable=False, server_default=""),
    sa.Column("goal", sa.Text, nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("output", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_micros", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("steps", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tool_calls", sa.Integer, nullable=False, server_default="0"),
    sa.Column("segment", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tenant", sa.String(200), nullable=True, index=True),
    sa.Column("parent_run_id", sa.String(128), nullable=True),
    sa.Column("executor_id", sa.String(200), nullable=True),  # migration 2
    sa.Column("tether_version", sa.String(100), nullable=False, server_default=""),  # 3
    sa.Column("user_group", sa.String(200), nullable=True),  # migration 17
    sa.Column("shadow_of", sa.String(128), nullable=True),  # 17: a shadow run's production run
    sa.Index("ix_tether_runs_created_at", "created_at"),
    sa.Index("ix_tether_runs_agent", "agent"),
)

blobs = sa.Table(
    "tether_blobs",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

events = sa.Table(
    "tether_events",
    metadata,
    # BigInteger on PostgreSQL; SQLite needs exactly INTEGER for a rowid alias.
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("event_id", sa.String(400), nullable=False, unique=True),
    sa.Column("run_id", sa.String(128), sa.ForeignKey(runs.c.id), nullable=False, index=True),
    sa.Column("segment", sa.Integer, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("v", sa.Integer, nullable=False),
    sa.Column("ts", UTCDateTime, nullable=False),
    # The payload's JSON text, or NULL when it lives in tether_blobs (payload_blob).
    sa.Column("payload", sa.Text, nullable=True),
    sa.Column("payload_blob", sa.String(64), sa.ForeignKey(blobs.c.digest), nullable=True),
    sa.UniqueConstraint(
        "run_id", "segment", "step", "kind", "idx", name="uq_tether_events_position"
    ),
)


executors = sa.Table(
    "tether_executors",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    sa.Column("lease_expires_at", UTCDateTime, nullable=False),
    sa.Column("stopped_at", UTCDateTime, nullable=True),
)

# migration 3: operator controls. A kill switch is active until lifted (``lifted_at``).
kill_switches = sa.Table(
    "tether_kill_switches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(16), nullable=False),  # global | agent | tool
    sa.Column("target", sa.String(200), nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("set_at", UTCDateTime, nullable=False),
    sa.Column("lifted_at", UTCDateTime, nullable=True),
    sa.Column("by", sa.String(200), nullable=False, server_default=""),
    # "": every tenant's runs; a tenant: only its runs (a tenant's API key sets these)
    sa.Column("tenant", sa.String(200), nullable=False, server_default=""),
    sa.Index("ix_tether_kill_switches_active", "lifted_at", "scope", "target"),
)

# instructions an operator gave a run (``tether runs steer``); the run journals each one
# (``operator_steered``) at its next step
operator_messages = sa.Table(
    "tether_operator_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(128), sa.ForeignKey(runs.c.id), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(200), nullable=False, server_default=""),
)

approvals = sa.Table(
    "tether_approvals",
    metadata,
    # one row per approval_requested event (its id is derived from the event's id)
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(400), nullable=False, unique=True),
    sa.Column("run_id", sa.String(128), sa.ForeignKey(runs.c.id), nullable=False, index=True),
    sa.Column("tenant", sa.String(200), nullable=True, index=True),
    sa.Column("segment", sa.Integer, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("target", sa.String(16), nullable=False),
    sa.Column("call_id", sa.String(200), nullable=True),
    sa.Column("tool", sa.String(200), nullable=True, index=True),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("side_effect", sa.String(32), nullable=True),
    sa.Column("idempotency_key", sa.String(64), nullable=True),
    # JSON texts, redacted like the journal: arguments as journaled, the tool's input schema
    # (edits are validated against it), the agent's stated reason, evidence, the change
    sa.Column("arguments", sa.Text, nullable=False),
    sa.Column("input_schema", sa.Text, nullable=True),
    sa.Column("stated_reason", sa.Text, nullable=True),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("change", sa.Text, nullable=True),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("approvers", sa.Integer, nullable=False),
    sa.Column("reviewers", sa.String(200), nullable=False),
    sa.Column("escalate_to", sa.String(200), nullable=True),
    sa.Column("timeout_s", sa.Float, nullable=True),
    sa.Column("deadline", UTCDateTime, nullable=True, index=True),
    sa.Column("decisions", sa.Text, nullable=False),
    sa.Column("final_arguments", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    # set once the run was reopened and its next segment handed on (enqueued or run here)
    sa.Column("resumed_at", UTCDateTime, nullable=True),
)

# Semantic memory (migration 6). ``embedding`` is the float32 vector's raw bytes (``dim`` floats
# from ``model``); SQLite also has the FTS5 table ``tether_memory_fts`` (chunk_id, heading, text).
memory_chunks = sa.Table(
    "tether_memory_chunks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=True),
    sa.Column("trust", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("heading", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("start_offset", sa.Integer, nullable=False, server_default="0"),
    sa.Column("end_offset", sa.Integer, nullable=False, server_default="0"),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("embedding", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Index("ix_tether_memory_chunks_tenant_scope", "tenant", "scope"),
    sa.Index("ix_tether_memory_chunks_tenant_subject", "tenant", "subject"),
)

# A counter per (tenant, scope), bumped in every write's transaction: caches of vectors and of
# results compare it to know whether they are stale (across processes, too).
memory_generations = sa.Table(
    "tether_memory_generations",
    metadata,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
)

# Episodic and profile memory (migration 7). An episode is one finished run (one row per
# ``(tenant, run_id)``: written once however often the finish step replays); ``embedding`` is
# the float32 vector of its task and notes, NULL until embedded. A profile row is one key of a
# subject's preferences or settings in a scope. ``trust`` uses the chunks' vocabulary (user,
# tool, retrieval: what an agent or tool wrote is ``tool``); ``labels`` is a JSON list of data
# labels (``pii``, ``email``...) and ``pii`` says whether it holds one of the PII class.
memory_episodes = sa.Table(
    "tether_memory_episodes",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("agent", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=True),
    sa.Column("run_id", sa.String(128), nullable=False),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("actions", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("trust", sa.String(16), nullable=False),
    sa.Column("labels", sa.Text, nullable=False, server_default="[]"),
    sa.Column("pii", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("dim", sa.Integer, nullable=True),
    sa.Column("embedding", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("tenant", "run_id", name="uq_tether_memory_episodes_run"),
    sa.Index("ix_tether_memory_episodes_tenant_agent", "tenant", "agent", "created_at"),
    sa.Index("ix_tether_memory_episodes_tenant_subject", "tenant", "subject"),
)

memory_profile = sa.Table(
    "tether_memory_profile",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # JSON
    sa.Column("trust", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),  # cli, run:RUN_ID ...
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("run_id", sa.String(128), nullable=True),
    sa.Column("labels", sa.Text, nullable=False, server_default="[]"),
    sa.Column("pii", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("tenant", "subject", "scope", "key", name="uq_tether_memory_profile_key"),
    sa.Index("ix_tether_memory_profile_tenant_subject", "tenant", "subject"),
)

# Privacy (migration 8): a data key per (tenant, subject), wrapped by the master key; the subject
# is a keyed hash, never in clear. ``forget`` deletes the row (crypto-shredding) and logs itself
# in ``tether_forget_log`` with the same hash, the row counts and the time: no data.
subject_keys = sa.Table(
    "tether_subject_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("subject_hash", sa.String(64), nullable=False),
    sa.Column("master_id", sa.String(16), nullable=False),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant", "subject_hash", name="uq_tether_subject_keys_subject"),
)

# the runs about a subject (``Runtime.run(..., subject=...)``): forget finds their DBOS rows here
subject_runs = sa.Table(
    "tether_subject_runs",
    metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("subject_hash", sa.String(64), nullable=False),
    sa.Index("ix_tether_subject_runs_subject", "tenant", "subject_hash"),
)

forget_log = sa.Table(
    "tether_forget_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("subject_hash", sa.String(64), nullable=False, index=True),
    sa.Column("counts", sa.Text, nullable=False),  # JSON: table -> rows deleted
    sa.Column("by", sa.String(200), nullable=False, server_default=""),
    sa.Column("forgotten_at", UTCDateTime, nullable=False),
)

# API keys of the HTTP service (migration 15): the secret is stored only as its SHA-256; each key
# belongs to one tenant and carries scopes (a JSON list).
api_keys = sa.Table(
    "tether_api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    # the user group runs created with the key belong to (feature flags; migration 22)
    sa.Column("user_group", sa.String(200), nullable=True),
)

# Webhook deliveries (migration 15): one row per (trigger, delivery key) so that a replayed or
# duplicate delivery starts nothing; ``run_id`` is the run the first one started.
trigger_deliveries = sa.Table(
    "tether_trigger_deliveries",
    metadata,
    sa.Column("trigger", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("run_id", sa.String(128), nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
)

# People's ratings of runs (migration 15): thumbs, tags, a correction; eval cases can be made
# from them.
ratings = sa.Table(
    "tether_ratings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(128), sa.ForeignKey(runs.c.id), nullable=False, index=True),
    sa.Column("tenant", sa.String(200), nullable=True),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("thumbs", sa.String(8), nullable=True),  # "up" | "down"
    sa.Column("tags", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("correction", sa.Text, nullable=True),  # redacted like the journal
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Sessions (migration 12): a conversation of many turns, each turn a run; a turn's run carries
# working memory over from the previous turn's (tether/agent/memory/session.py)
session_turns = sa.Table(
    "tether_session_turns",
    metadata,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("turn", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(128), sa.ForeignKey(runs.c.id), nullable=False, index=True),
    sa.Column("agent", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Feature flags (migration 17): a capability switched for a tenant (``user_group`` "") or
# for one user group of a tenant; a group's row overrides its tenant's (tether/flags).
feature_flags = sa.Table(
    "tether_feature_flags",
    metadata,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("user_group", sa.String(200), primary_key=True, server_default=""),
    sa.Column("capability", sa.String(200), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Agent versions (migration 16): each registered version is an artifact, its spec snapshot
# (instructions, model, tools with their contract versions, policies, limits) kept as JSON, so
# a run can execute it without the agent's file (tether/versions).
agent_versions = sa.Table(
    "tether_agent_versions",
    metadata,
    sa.Column("agent", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: the portable AgentSpec
    sa.Column("tools", sa.Text, nullable=False, server_default="[]"),  # JSON [[name, version]]
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("registered_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("source", sa.Text, nullable=False, server_default=""),  # the file it came from
    sa.Column("eval_report", sa.Text, nullable=True),  # path of the promotion's eval report
)

# Release channels (migration 16): per agent (tenant "" = every tenant) the current version
# and a canary of a candidate version with its share, thresholds and state.
agent_channels = sa.Table(
    "tether_agent_channels",
    metadata,
    sa.Column("agent", sa.String(200), primary_key=True),
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("current_version", sa.String(100), nullable=True),
    sa.Column("candidate_version", sa.String(100), nullable=True),
    sa.Column("canary_share", sa.Float, nullable=False, server_default="0"),
    sa.Column("canary_state", sa.String(16), nullable=False, server_default="none"),
    sa.Column("canary_reason", sa.Text, nullable=True),
    sa.Column("canary_started_at", UTCDateTime, nullable=True),
    sa.Column("thresholds", sa.Text, nullable=False, server_default="{}"),  # JSON
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# What happened to each channel (migration 16): promotions, refusals, rollbacks, canaries.
agent_releases = sa.Table(
    "tether_agent_releases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("agent", sa.String(200), nullable=False, index=True),
    sa.Column("tenant", sa.String(200), nullable=False, server_default=""),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("from_version", sa.String(100), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("actor", sa.String(200), nullable=False, server_default=""),
    sa.Column("at", UTCDateTime, nullable=False),
)

# Runs routed while a canary ran (migration 16): which arm each run went to, so the monitor
# compares only the canary's own runs.
canary_runs = sa.Table(
    "tether_canary_runs",
    metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("agent", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("arm", sa.String(16), nullable=False),  # "current" | "candidate"
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_tether_canary_runs_agent", "agent", "tenant"),
)

# Notification outbox (migration 18): one row per (webhook, idempotency key). A sender claims a
# due row (status ``sending``, ``next_at`` = the claim's expiry), posts it, then marks it
# ``delivered``, or ``pending`` again with a backoff (``dead`` after the webhook's last attempt);
# a sender killed mid-delivery leaves a claim that expires and is sent again with the same key.
notifications = sa.Table(
    "tether_notifications",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("webhook", sa.String(200), nullable=False),
    sa.Column("key", sa.String(500), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # "approval" | "alert"
    sa.Column("tenant", sa.String(200), nullable=True),
    sa.Column("body", sa.Text, nullable=False),  # the JSON sent, redacted
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("webhook", "key", name="uq_tether_notifications_key"),
    sa.Index("ix_tether_notifications_due", "status", "next_at"),
)

# Alert rules' states (migration 18): one row per rule; ``seq`` counts its transitions, each
# kept once in ``tether_alert_transitions`` (primary key rule + seq: two evaluators racing
# record one).
alerts = sa.Table(
    "tether_alerts",
    metadata,
    sa.Column("rule", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # "ok" | "firing"
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("checked_at", UTCDateTime, nullable=False),
)

alert_transitions = sa.Table(
    "tether_alert_transitions",
    metadata,
    sa.Column("rule", sa.String(200), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

TABLES: tuple[sa.Table, ...] = (
    schema_version,
    runs,
    blobs,
    events,
    executors,
    kill_switches,
    operator_messages,
    approvals,
    memory_chunks,
    memory_generations,
    memory_episodes,
    memory_profile,
    subject_keys,
    subject_runs,
    forget_log,
    session_turns,
    api_keys,
    trigger_deliveries,
    ratings,
    feature_flags,
    agent_versions,
    agent_channels,
    agent_releases,
    canary_runs,
    notifications,
    alerts,
    alert_transitions,
)
