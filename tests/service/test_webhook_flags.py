"""A webhook trigger switched off by a feature flag answers 403 and starts nothing; switched
back on, the same delivery starts its run (the refused one claimed no delivery key)."""

from __future__ import annotations

from tests.service.test_webhooks import TICKET, hook, post, runs  # noqa: F401 - the fixture
from tether import Runtime
from tether.flags import FlagStore


def test_a_trigger_switched_off_starts_nothing(hook: tuple[str, Runtime]) -> None:  # noqa: F811
    base, rt = hook
    flags = FlagStore(rt.store.engine)
    flags.set("acme", "trigger:new-ticket", "off")
    refused = post(base, "new-ticket", TICKET)
    assert refused.status_code == 403, refused.text
    assert "flag 'trigger:new-ticket' is off for tenant:acme" in refused.json()["detail"]
    assert runs(rt) == []
    flags.unset("acme", "trigger:new-ticket")
    assert post(base, "new-ticket", TICKET).status_code == 202
    assert runs(rt) == ["Triage ticket 42: printer on fire"]
