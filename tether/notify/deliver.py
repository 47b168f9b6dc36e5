"""Post due notifications to their webhooks, signed like inbound webhook triggers.

Each POST carries the stored JSON body as is, ``X-Tether-Timestamp`` (Unix seconds, at this
attempt), ``X-Tether-Signature: sha256=HMAC(secret, TIMESTAMP + "." + BODY)`` (the scheme of
``tether.service.triggers``, so a receiver verifies with ``triggers.verify``) and
``X-Tether-Delivery`` (the idempotency key: the same for every attempt of one notification).
A 2xx answer is delivered; anything else is retried with backoff. The webhook's secret is read
from the secrets store at each attempt, so a rotated secret takes effect at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
import sqlalchemy as sa

from tether.notify import outbox
from tether.notify.config import Notifications, Webhook
from tether.service.triggers import SIGNATURE, TIMESTAMP, sign

DELIVERY = "X-Tether-Delivery"
ATTEMPT = "X-Tether-Attempt"
log = logging.getLogger("tether.notify")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    id: str
    webhook: str
    key: str
    status: outbox.Status
    error: str | None = None


def headers_for(secret: str, item: outbox.Notification, *, timestamp: int) -> dict[str, str]:
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP: stamp,
        SIGNATURE: sign(secret, stamp, item.body.encode()),
        DELIVERY: item.id,
        ATTEMPT: str(item.attempts),
    }


def _post(
    client: httpx.Client, hook: Webhook, url: str, secret: str, item: outbox.Notification
) -> None:
    """Raise with a short reason unless the webhook answered 2xx."""
    headers = headers_for(secret, item, timestamp=int(time.time()))
    try:
        answer = client.post(
            url, content=item.body.encode(), headers=headers, timeout=hook.timeout_s
        )
    except httpx.HTTPError as exc:  # never the URL in the reason: it may be a credential
        raise _Failed(f"{type(exc).__name__}: {str(exc).replace(url, '[url]')}") from None
    if not answer.is_success:
        raise _Failed(f"HTTP {answer.status_code} from webhook {hook.name!r}")


class _Failed(Exception):
    pass


def deliver_due(
    engine: sa.Engine,
    config: Notifications,
    secret: Callable[[str], str | None],
    *,
    owner: str,
    now: Callable[[], datetime],
    client: httpx.Client,
    limit: int = 20,
) -> list[Outcome]:
    """Claim and send up to ``limit`` due notifications; how each went."""
    out: list[Outcome] = []
    for item in outbox.claim(engine, owner=owner, now=now(), lease_s=config.lease_s, limit=limit):
        hook = config.webhook(item.webhook)
        error: str | None = None
        try:
            if hook is None:
                raise _Failed(f"webhook {item.webhook!r} is not in notifications.yaml; add it back")
            value = secret(hook.secret)
            if not value:
                raise _Failed(f"webhook {hook.name!r}: secret {hook.secret!r} is not set")
            url = hook.url or secret(hook.url_secret or "")
            if not url:
                raise _Failed(f"webhook {hook.name!r}: secret {hook.url_secret!r} is not set")
            _post(client, hook, url, value, item)
        except _Failed as exc:
            error = str(exc)
            log.warning("notification %s to %s failed: %s", item.id, item.webhook, error)
        attempts = hook.max_attempts if hook is not None else 8
        status = outbox.settle(engine, item, now=now(), error=error, max_attempts=attempts)
        out.append(
            Outcome(id=item.id, webhook=item.webhook, key=item.key, status=status, error=error)
        )
    return out
