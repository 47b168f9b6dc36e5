"""Webhook triggers: ``POST /v1/triggers/{name}`` starts a run from a signed payload.

Triggers are declared in the project's ``triggers.yaml``::

    triggers:
      - name: new-ticket
        agent: assistant             # an agent name, as for POST /v1/runs
        tenant: acme                 # who the runs act for (policy, budgets)
        secret: TICKET_HOOK          # a secret name (TETHER_SECRET_TICKET_HOOK, ...)
        goal: "Triage ticket {ticket.id}: {ticket.title}"
        dedupe: "{ticket.id}"        # optional: one run per ticket, however often it is sent

The sender signs ``TIMESTAMP + "." + RAW_BODY`` with HMAC-SHA256 under the secret and sends
``X-Tether-Timestamp: TIMESTAMP`` (Unix seconds) and ``X-Tether-Signature: sha256=HEX``. A
bad signature, a timestamp more than ``max_age_s`` (300) away from now, or a delivery seen
before (the same dedupe key, or without one the same signed body) starts nothing. The secret is
read at each request, so a rotated secret takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.agent.spec import NAME_PATTERN
from tether.errors import ConfigError
from tether.store.engine import write_transaction
from tether.store.schema import trigger_deliveries

_FIELD = re.compile(r"\{([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\}")
SIGNATURE = "X-Tether-Signature"
TIMESTAMP = "X-Tether-Timestamp"


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    agent: str = Field(pattern=NAME_PATTERN)
    tenant: str = Field(min_length=1, max_length=200)
    secret: str = Field(min_length=1, description="the name of the secret that signs requests")
    goal: str = Field(min_length=1, max_length=20_000, description="template: {field.sub}")
    dedupe: str | None = Field(default=None, description="template of a de-duplication key")
    max_age_s: float = Field(default=300, gt=0, le=86_400)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    triggers: list[Trigger] = Field(default_factory=list)
    listeners: list[Any] = Field(default_factory=list, description="see service.listeners")


class Rejected(Exception):
    """A delivery that must start nothing: ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def load_triggers(path: Path) -> dict[str, Trigger]:
    """The triggers of ``path`` by name (none if the file does not exist)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
        parsed = _File.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: field '{where}': {first['msg']}") from None
    names = [t.name for t in parsed.triggers]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: field 'triggers': trigger names must be unique")
    return {t.name: t for t in parsed.triggers}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    max_age_s: float,
) -> None:
    """Raise ``Rejected`` unless the request is signed with ``secret`` and recent."""
    timestamp = headers.get(TIMESTAMP.lower(), "")
    signature = headers.get(SIGNATURE.lower(), "")
    if not timestamp.isdigit() or not signature:
        raise Rejected(401, f"sign the request: headers {TIMESTAMP} and {SIGNATURE} are needed")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise Rejected(401, "the signature does not match the body and timestamp")
    age = abs(now.timestamp() - int(timestamp))
    if age > max_age_s:
        raise Rejected(401, f"the timestamp is {age:.0f}s away from now (at most {max_age_s:.0f}s)")


def render(template: str, payload: Any) -> str:
    """``template`` with each ``{a.b}`` replaced by that field of the JSON payload."""

    def field(match: re.Match[str]) -> str:
        value = payload
        for part in match.group(1).split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise Rejected(422, f"the payload has no field {match.group(1)!r}")
            value = value[part]
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return _FIELD.sub(field, template)


def delivery_key(trigger: Trigger, payload: Any, headers: Mapping[str, str], body: bytes) -> str:
    if trigger.dedupe:
        return "key:" + render(trigger.dedupe, payload)[:400]
    signed = headers.get(TIMESTAMP.lower(), "").encode() + b"." + body
    return "body:" + hashlib.sha256(signed).hexdigest()


def claim(engine: sa.Engine, trigger: str, key: str, now: datetime) -> str | None:
    """Record a delivery; None if it is new, else the run id the first one started."""
    with write_transaction(engine) as conn:
        row = conn.execute(
            sa.select(trigger_deliveries.c.run_id).where(
                trigger_deliveries.c.trigger == trigger, trigger_deliveries.c.key == key
            )
        ).first()
        if row is not None:
            return str(row.run_id or "")
        conn.execute(
            sa.insert(trigger_deliveries).values(trigger=trigger, key=key, received_at=now)
        )
    return None


def settle(engine: sa.Engine, trigger: str, key: str, run_id: str | None) -> None:
    """Attach the started run to its delivery, or (``None``: it could not start) forget it."""
    where = (trigger_deliveries.c.trigger == trigger, trigger_deliveries.c.key == key)
    with write_transaction(engine) as conn:
        if run_id is None:
            conn.execute(sa.delete(trigger_deliveries).where(*where))
        else:
            conn.execute(sa.update(trigger_deliveries).where(*where).values(run_id=run_id))


def utcnow() -> datetime:
    return datetime.now(UTC)
