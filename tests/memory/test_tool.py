"""The search_memory tool in a real run: results are retrieval data bound to one tenant, and
the ids of the items read are in the journal."""

from __future__ import annotations

from pathlib import Path

from tests.agent_helpers import make_runtime, scripted
from tether import Agent
from tether.memory import MemoryItem, SemanticStore
from tether.memory.tool import NOTICE, search_memory_tool
from tether.testing import answer, call


async def test_agent_searches_its_tenants_memory_only(tmp_path: Path, store: SemanticStore) -> None:
    [a_id] = store.add("acme", [MemoryItem(text="Acme's VPN password rotates every 30 days.")])
    store.add("globex", [MemoryItem(text="Globex's VPN is replaced by a zero-trust proxy.")])
    model = scripted(
        call("search_memory", query="how often does the VPN password rotate?"), answer("30 days")
    )
    rt = make_runtime(tmp_path, model)
    agent = Agent(name="mem", model="scripted", tools=[search_memory_tool(store, "acme")])
    result = await rt.run(agent, "VPN rotation?")
    events = [e for e in rt.store.journal.read(result.run_id) if e.kind == "tool_call_finished"]
    rt.close()
    assert result.output == "30 days"
    [finished] = events
    body = finished.payload.result
    assert body["origin"] == "retrieval" and body["notice"] == NOTICE
    assert body["item_ids"][0] == a_id
    assert all("Globex" not in r["text"] for r in body["results"])
    contract = search_memory_tool(store, "acme").contract
    assert contract.side_effect == "read"
    assert "tenant" not in contract.input_schema.get("properties", {})
