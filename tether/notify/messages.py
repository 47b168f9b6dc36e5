"""Slack-compatible messages (``{"text", "blocks"}``) for approval requests and alerts (pure).

Every text goes through the runtime's redactor before it is stored in the outbox, so a secret
or personal data in a tool's arguments never leaves the machine in clear. Besides Slack's
fields, each message has a ``tether`` object for receivers that act on it (Slack ignores it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tether.redact import Redactor
from tether.store import ApprovalRecord

_ARGS_CHARS = 600


@dataclass(frozen=True, kw_only=True)
class Transition:
    """An alert rule that started or stopped firing."""

    rule: str
    seq: int
    state: str  # "firing" | "ok"
    metric: str
    value: float | None
    threshold: str
    scope: str  # e.g. "newest 100 runs of tenant acme"

    @property
    def text(self) -> str:
        head = "FIRING" if self.state == "firing" else "RESOLVED"
        shown = "-" if self.value is None else f"{self.value:g}"
        return f"[{head}] alert {self.rule}: {self.metric} = {shown} (fires {self.threshold})"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def approval_message(record: ApprovalRecord, redactor: Redactor) -> dict[str, Any]:
    what = record.tool or record.model or record.target
    args = json.dumps(redactor.redact(record.arguments), ensure_ascii=False, sort_keys=True)
    if len(args) > _ARGS_CHARS:
        args = args[:_ARGS_CHARS] + "…"
    reason = redactor.redact_text(record.stated_reason or "(no reason given)")
    text = redactor.redact_text(
        f"Approval needed: run {record.run_id} wants to call {what}"
        + (f" ({record.side_effect})" if record.side_effect else "")
        + (f" for tenant {record.tenant}" if record.tenant else "")
    )
    how = f"`tether approvals approve {record.id}` or `tether approvals deny {record.id}`"
    return {
        "text": text,
        "blocks": [
            _section(f"*{text}*"),
            _section(f"*Why:* {reason}\n*Arguments:* `{args}`"),
            _context(f"approval {record.id} · reviewers {record.reviewers} · {how}"),
        ],
        "tether": {
            "kind": "approval_requested",
            "approval_id": record.id,
            "run_id": record.run_id,
            "tenant": record.tenant,
            "tool": record.tool,
        },
    }


def alert_message(change: Transition, redactor: Redactor) -> dict[str, Any]:
    text = redactor.redact_text(change.text)
    return {
        "text": text,
        "blocks": [_section(f"*{text}*"), _context(redactor.redact_text(change.scope))],
        "tether": {
            "kind": "alert_" + ("firing" if change.state == "firing" else "resolved"),
            "rule": change.rule,
            "seq": change.seq,
            "metric": change.metric,
            "value": change.value,
        },
    }
