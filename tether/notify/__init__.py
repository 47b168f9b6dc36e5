"""Notifications and alerts (DESIGN §2.9, issue 11): approval requests and alert transitions
delivered to the project's notification webhooks as signed Slack-compatible JSON, from a
durable outbox (``outbox``), and alert rules over the KPIs (``alerts``); configured in
``notifications.yaml`` (``config``) and run by ``notifier`` in workers and the service."""

from tether.notify.config import AlertRule, Notifications, Webhook, load_notifications
from tether.notify.notifier import Notifier

__all__ = ["AlertRule", "Notifications", "Notifier", "Webhook", "load_notifications"]
