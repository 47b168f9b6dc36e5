"""A run about a subject: PII sealed in the journal, real values for the run and its tools."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.agent_helpers import agent, make_runtime, scripted
from tether import tool
from tether.privacy.runs import open_events
from tether.testing import ScriptedModel
from tether.testing.scripted import answer, call
from tether.types import RunStatus

KEY = base64.b64encode(bytes(range(32))).decode()
EMAIL = "jane.quixwort@example.com"
IBAN = "GB82 WEST 1234 5698 7654 32"


RECEIVED: list[str] = []  # what check_address was given (tools are module-level: rebuildable)


@tool
def lookup_customer(name: str) -> dict[str, str]:
    """Look a customer up.

    Args:
        name: the customer's name
    """
    return {"email": EMAIL, "iban": IBAN}


@tool
def check_address(to: str) -> str:
    """Check that a mail address is deliverable.

    Args:
        to: the address
    """
    RECEIVED.append(to)
    return "deliverable"


TOOLS = [f"tests.privacy.test_subject_runs:{name}" for name in ("lookup_customer", "check_address")]


def _model() -> ScriptedModel:
    return scripted(
        call("lookup_customer", name="Jane"), call("check_address", to=EMAIL), answer("done")
    )


async def test_tools_and_model_see_real_values_and_the_journal_only_tokens(tmp_path: Path) -> None:
    RECEIVED.clear()
    model = _model()
    rt = make_runtime(tmp_path, model, master_key=KEY, approved_labels={"scripted": ["pii"]})
    result = await rt.run(agent(*TOOLS), "check jane's mail", subject="jane-7")
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert RECEIVED == [EMAIL]  # the tool got the address, not a marker
    prompt = " ".join(str(getattr(m, "content", "")) for m in model.requests[1].messages)
    assert EMAIL in prompt and IBAN in prompt  # the model saw the lookup's result
    events = rt.store.journal.read(result.run_id)
    stored = " ".join(e.payload.model_dump_json() for e in events)
    assert EMAIL not in stored and "WEST" not in stored and "jane-7" not in stored
    assert "⟦enc:v1:" in stored
    opened = open_events(rt.sealer, "default", events)
    assert EMAIL in " ".join(e.payload.model_dump_json() for e in opened)
    rebuilt = rt.rebuild(result.run_id, 1, upto_segment=False, need_model=False)
    assert rebuilt.sealer is not None
    assert EMAIL in str(rebuilt.state.messages)  # a resumed segment sees them too
    rt.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("tether.db*"))
    assert EMAIL.encode() not in raw and b"1234 5698" not in raw


async def test_without_a_subject_pii_is_redacted_as_before(tmp_path: Path) -> None:
    RECEIVED.clear()
    rt = make_runtime(tmp_path, _model())
    result = await rt.run(agent(*TOOLS), "check jane's mail")
    assert result.status is RunStatus.SUCCEEDED, result.reason
    assert RECEIVED == ["[REDACTED:email]"]
    stored = " ".join(e.payload.model_dump_json() for e in rt.store.journal.read(result.run_id))
    assert "⟦enc:" not in stored and "[REDACTED:email]" in stored
    rt.close()
    assert not (tmp_path / "home" / "master.key").exists()  # no key without a subject
