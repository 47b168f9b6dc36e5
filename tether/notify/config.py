"""The project's ``notifications.yaml``: where approval requests and alerts are sent, and the
alert rules over the KPIs (DESIGN §2.9)::

    webhooks:
      - name: ops                      # names a delivery in the outbox
        url: https://hooks.slack.com/services/T000/B000/XXXX
        secret: ops_hook               # a secret name: signs each delivery (read at send time)
        # or url_secret: ops_url       # the secret holding the URL (Slack's URL is a credential)
        send: [approvals, alerts]      # what it gets (default: both)
        tenants: [acme]                # optional: only these tenants' approvals
    check_every_s: 60                  # how often workers evaluate the rules
    alerts:
      - name: low-success
        metric: task_success_rate      # a KPI, or one of the metrics below
        below: 0.8                     # fires while the value is below (or: above: X)
        runs: 100                      # over the newest N runs...
        window_s: 3600                 # ...created in the last hour (optional)
        min_runs: 10                   # no verdict on fewer finished runs
      - name: approval-backlog
        metric: approvals_pending      # approvals open for longer than older_than_s
        older_than_s: 600
        above: 0

Metrics: every number of ``tether kpis`` (``task_success_rate``, ``containment_rate``,
``approval_latency_p95_s``, ``cost_per_successful_task``, ``run_latency_p95_s``,
``tool_call_success_rate``, ``invalid_argument_rate``, ``hallucinated_tool_rate`` ...), and
``tool_error_rate`` (failed tool calls over calls), ``cost_per_run``, ``failed_runs``,
``breaker_open`` (tool calls refused by an open circuit breaker), ``approvals_pending``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.agent.spec import NAME_PATTERN
from tether.errors import ConfigError

KPI_METRICS = (
    "task_success_rate",
    "containment_rate",
    "approval_latency_p50_s",
    "approval_latency_p95_s",
    "cost_per_successful_task",
    "run_latency_p95_s",
    "tool_call_success_rate",
    "invalid_argument_rate",
    "hallucinated_tool_rate",
)
Metric = Literal[
    "task_success_rate",
    "containment_rate",
    "approval_latency_p50_s",
    "approval_latency_p95_s",
    "cost_per_successful_task",
    "run_latency_p95_s",
    "tool_call_success_rate",
    "invalid_argument_rate",
    "hallucinated_tool_rate",
    "tool_error_rate",
    "cost_per_run",
    "failed_runs",
    "breaker_open",
    "approvals_pending",
]
Sends = Literal["approvals", "alerts"]


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    url_secret: str | None = Field(
        default=None, description="the secret holding the URL (a Slack URL is a credential)"
    )
    secret: str = Field(min_length=1, description="the name of the secret that signs deliveries")
    send: tuple[Sends, ...] = ("approvals", "alerts")
    tenants: tuple[str, ...] | None = Field(default=None, description="only these tenants")
    max_attempts: int = Field(default=8, ge=1, le=100)
    timeout_s: float = Field(default=10, gt=0, le=300)

    @model_validator(mode="after")
    def _one_url(self) -> Webhook:
        if (self.url is None) == (self.url_secret is None):
            raise ValueError(f"webhook {self.name!r}: give exactly one of 'url' or 'url_secret'")
        return self

    def wants(self, kind: Sends, tenant: str | None) -> bool:
        if kind not in self.send:
            return False
        return self.tenants is None or tenant is None or tenant in self.tenants


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    metric: Metric
    above: float | None = Field(default=None, description="fires while the value is above")
    below: float | None = Field(default=None, description="fires while the value is below")
    runs: int = Field(default=100, ge=1, le=100_000, description="the newest N runs")
    window_s: float | None = Field(default=None, gt=0, description="runs of the last N seconds")
    min_runs: int = Field(default=1, ge=0, description="no verdict on fewer finished runs")
    tenant: str | None = Field(default=None, description="only this tenant's runs")
    older_than_s: float = Field(default=0, ge=0, description="approvals_pending: open this long")

    @model_validator(mode="after")
    def _one_threshold(self) -> AlertRule:
        if (self.above is None) == (self.below is None):
            raise ValueError(f"alert {self.name!r}: give exactly one of 'above' or 'below'")
        return self

    def fires(self, value: float) -> bool:
        return value > self.above if self.above is not None else value < (self.below or 0.0)

    @property
    def threshold(self) -> str:
        return f"> {self.above:g}" if self.above is not None else f"< {self.below:g}"


class Notifications(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: tuple[Webhook, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    check_every_s: float = Field(default=60, gt=0, le=86_400)
    lease_s: float = Field(default=60, gt=0, le=3600, description="a delivery's claim")

    def webhook(self, name: str) -> Webhook | None:
        return next((w for w in self.webhooks if w.name == name), None)

    @property
    def empty(self) -> bool:
        return not self.webhooks and not self.alerts


def load_notifications(path: Path) -> Notifications:
    """The notification webhooks and alert rules of ``path`` (none if it does not exist)."""
    if not path.is_file():
        return Notifications()
    try:
        parsed = Notifications.model_validate(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: field '{where}': {first['msg']}") from None
    for what, names in (
        ("webhooks", [w.name for w in parsed.webhooks]),
        ("alerts", [a.name for a in parsed.alerts]),
    ):
        if len(set(names)) != len(names):
            raise ConfigError(f"{path}: field '{what}': names must be unique; rename the repeat")
    return parsed
