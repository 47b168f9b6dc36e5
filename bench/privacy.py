"""What PII detection, sealing and forget cost. Writes bench/results/privacy.json.

- pii_detect_mb_per_s: ``detect`` over tether's README (prose, code, a few PII values).
- seal_open_us_per_span: sealing and opening one PII span (AES-GCM, base64, token regex).
- subject_run_step_ratio: median agent step time of a run about a subject (PII sealed in the
  journal, opened for the state) over the same run without one (PII redacted); the tool
  returns an email and an IBAN every step. Non-durable, SQLite; rounds interleaved.
- forget_ms_1k_chunks: ``forget_subject`` of one subject with 1,000 memory chunks among 2,000
  (SQLite: delete, FTS5 optimize, VACUUM, WAL truncate).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import median, metric, write_results
from tether import Agent, Limits, Runtime, tool
from tether.memory import MemoryItem, SemanticStore
from tether.privacy.forget import forget_subject
from tether.privacy.keys import Keyring, parse_master_key
from tether.privacy.pii import detect
from tether.privacy.seal import Sealer, open_text, seal_text
from tether.settings import Settings
from tether.store import make_engine, migrate
from tether.testing import ScriptedModel, answer, call

ROOT = Path(__file__).resolve().parent.parent
KEY = base64.b64encode(bytes(range(32))).decode()
STEPS = 60
ROUNDS = 3


@tool
def lookup(n: int) -> dict[str, str]:
    """Look customer n up.

    Args:
        n: the customer number
    """
    return {"email": f"customer{n}@example.com", "iban": "DE89 3704 0044 0532 0130 00"}


def detect_mb_per_s() -> float:
    text = (ROOT / "README.md").read_text()
    start = time.perf_counter()
    for _ in range(5):
        detect(text)
    return 5 * len(text.encode()) / (time.perf_counter() - start) / 1e6


def seal_open_us() -> float:
    engine = make_engine("sqlite://")
    migrate(engine)
    key = Keyring(engine, parse_master_key(KEY)).key_for("t", "s")
    text = "mail jane.doe@example.com now"
    start = time.perf_counter()
    for _ in range(2000):
        open_text(seal_text(text, key), {key.id: key})
    engine.dispose()
    return (time.perf_counter() - start) / 2000 * 1e6


def step_ms(home: Path, subject: str | None) -> float:
    model = ScriptedModel(steps=[*(call("lookup", n=i) for i in range(STEPS)), answer("done")])
    agent = Agent(
        name="bench",
        model="scripted",
        tools=[lookup],
        limits=Limits(max_steps=STEPS + 1, max_tool_calls=STEPS, max_tokens=10**9),
    )
    settings = Settings(home=home, master_key=KEY, approved_labels={"scripted": ["pii"]})
    rt = Runtime(settings=settings, models={"scripted": model})
    result = asyncio.run(rt.run(agent, "look customers up", subject=subject))
    assert result.status.value == "succeeded", result
    stamps = [e.ts for e in rt.store.journal.read(result.run_id) if e.kind == "model_request"]
    rt.close()
    return median(
        [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(stamps) if a and b]
    )


class _Embedder:
    model = "bench:zeros"

    def embed(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - unused (vectors given)
        raise AssertionError


def forget_ms(folder: Path) -> float:
    engine = make_engine(f"sqlite:///{folder / 'forget.db'}")
    migrate(engine)
    master = parse_master_key(KEY)
    store = SemanticStore(engine, _Embedder(), sealer=Sealer(Keyring(engine, master)))
    vectors = np.eye(1, 384, dtype=np.float32).repeat(1000, axis=0)
    for subject in ("jane", "bob"):
        items = [
            MemoryItem(
                text=f"note {i} about {subject}: mail {subject}{i}@example.com", subject=subject
            )
            for i in range(1000)
        ]
        store.add("t", items, vectors)
    start = time.perf_counter()
    report = forget_subject(engine, master, "t", "jane")
    elapsed = (time.perf_counter() - start) * 1000
    assert report.counts["tether_memory_chunks"] == 1000
    engine.dispose()
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ratios, plain, sealed = [], [], []
        for r in range(ROUNDS):
            base = step_ms(folder / f"plain{r}", None)
            subj = step_ms(folder / f"subject{r}", "jane")
            plain.append(base)
            sealed.append(subj)
            ratios.append(subj / base)
        metrics = {
            "pii_detect_mb_per_s": metric(detect_mb_per_s(), "MB/s", note="README.md"),
            "seal_open_us_per_span": metric(seal_open_us(), "us"),
            "subject_run_step_ratio": metric(
                median(ratios),
                "x",
                note=f"median step {median(sealed):.2f} ms with a subject, "
                f"{median(plain):.2f} ms without (PII in every tool result)",
            ),
            "forget_ms_1k_chunks": metric(forget_ms(folder), "ms", note="SQLite, with VACUUM"),
        }
    path = write_results("privacy.json", metrics)
    print(path.read_text())


if __name__ == "__main__":
    main()
