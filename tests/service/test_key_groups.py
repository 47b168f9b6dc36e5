"""An API key may carry a user group of its tenant: the runs it creates over HTTP belong to that
group, so the group's feature flags apply to them (a real server on 127.0.0.1, real SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.service.server import client
from tests.service.test_api import Api
from tether.cli.main import app
from tether.errors import UsageError
from tether.events import FlagApplied, RunStarted
from tether.flags import FlagStore


def _created(api: Api, key: str) -> str:
    with client(api.base, key) as c:
        r = c.post("/v1/runs", json={"agent": "echoer", "goal": "add 1 and 2"})
        assert r.status_code == 202, r.text
        return str(r.json()["run_id"])


def test_runs_created_with_a_keys_group_get_the_groups_flags(api: Api) -> None:
    FlagStore(api.rt.store.engine).set("gamma", "tool:calculator", "off", group="trial")
    grouped, token = api.keys.create("gamma", ["runs:write"], name="trial-app", group="trial")
    assert grouped.user_group == "trial"
    verified = api.keys.verify(token)  # the group comes back with the key
    assert verified is not None and verified.user_group == "trial"
    in_group = _created(api, token)
    outside = _created(api, api.keys.create("gamma", ["runs:write"])[1])
    rt = api.rt
    assert rt.store.runs.get(in_group).user_group == "trial"
    assert rt.store.runs.get(outside).user_group is None
    started = rt.store.journal.read(in_group, kinds=["run_started"])[0].payload
    assert isinstance(started, RunStarted) and started.user_group == "trial"
    (flag,) = [e.payload for e in rt.store.journal.read(in_group, kinds=["flag_applied"])]
    assert isinstance(flag, FlagApplied)
    assert (flag.capability, flag.scope) == ("tool:calculator", "group:gamma/trial")
    assert rt.store.journal.read(outside, kinds=["flag_applied"]) == []
    # the group is the key's tenant's: a key of another tenant sees none of these runs
    with client(api.base, api.keys.create("alpha", ["runs:read"])[1]) as c:
        assert c.get(f"/v1/runs/{in_group}").status_code == 404


def test_a_bad_group_is_refused_and_nothing_is_stored(api: Api) -> None:
    before = len(api.keys.list())
    with pytest.raises(UsageError, match=r"group '\.\./x' is not valid"):
        api.keys.create("gamma", ["runs:read"], group="../x")
    assert len(api.keys.list()) == before


def test_keys_cli_creates_and_lists_a_keys_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    cli = CliRunner()
    args = ["keys", "create", "--tenant", "acme", "--scope", "runs:write", "--group", "trial"]
    out = cli.invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    made = json.loads(out.stdout)
    assert (made["tenant"], made["user_group"]) == ("acme", "trial")
    listed = json.loads(cli.invoke(app, ["keys", "list", "--json"]).stdout)
    assert [(k["id"], k["user_group"]) for k in listed] == [(made["id"], "trial")]
    plain = cli.invoke(app, ["keys", "list"])
    assert "group trial" in plain.stdout
    text = cli.invoke(app, ["keys", "create", "--tenant", "acme", "--scope", "runs:read"])
    assert text.exit_code == 0 and "group" not in text.stdout.splitlines()[0]
