"""Working memory over a long session: prompt size per turn, total tokens and time per turn,
with a budget against an unbounded window measured in the same run; merges into
bench/results/memory.json (keeps the semantic-memory metrics).

Run: ``.venv/bin/python bench/memory_working.py``
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import merge_results, metric
from tether import Agent, Runtime, WorkingMemory
from tether.events import ModelRequested
from tether.settings import Settings
from tether.testing import ScriptedModel, ScriptStep

TURNS = 200
BUDGET = 900
FACTS = {3: "ACC-4471-XZ", 7: "Dana Whitfield", 12: "allergic to peanuts", 25: "14 March 2027"}
SAID = {
    3: "My account number is ACC-4471-XZ.",
    7: "My name is Dana Whitfield.",
    12: "I prefer window seats and I am allergic to peanuts.",
    25: "We decided the renewal deadline is 14 March 2027.",
}
ASK = {180: "What was my account number?", 190: "What is my name?", 195: "Any allergies?"}


def said(t: int) -> str:
    return (
        SAID.get(t)
        or ASK.get(t)
        or (
            f"Let us chat about topic {t}: the weather was mild, the coffee was fine and nothing "
            "much happened, so there is really nothing special to report here."
        )
    )


def session(folder: Path, budget: int) -> tuple[list[int], list[float], ScriptedModel]:
    model = ScriptedModel(
        steps=[ScriptStep(text=f"Noted for topic {t}. Anything else?") for t in range(TURNS)]
    )
    rt = Runtime(
        settings=Settings(home=folder / "home", workspace=folder), models={"scripted": model}
    )
    agent = Agent(
        name="chat",
        model="scripted",
        working_memory=WorkingMemory(max_prompt_tokens=budget),
    )
    walls: list[float] = []

    async def talk() -> None:
        for t in range(1, TURNS + 1):
            started = time.perf_counter()
            await rt.run(agent, said(t), session="bench")
            walls.append(time.perf_counter() - started)

    try:
        asyncio.run(talk())
        sizes = []
        for turn in rt.store.sessions.turns("default", "bench"):
            for e in rt.store.journal.read(turn.run_id):
                if isinstance(e.payload, ModelRequested):
                    sizes.append(e.payload.prompt_tokens or 0)
    finally:
        rt.close()
    return sizes, walls, model


def recall(model: ScriptedModel) -> float:
    found = total = 0
    for turn in ASK:
        context = "\n".join(m.content or "" for m in model.requests[turn - 1].messages)
        found += sum(fact in context for fact in FACTS.values())
        total += len(FACTS)
    return found / total


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sizes, walls, model = session(Path(tmp) / "bounded", BUDGET)
        free_sizes, free_walls, _ = session(Path(tmp) / "unbounded", 2_000_000)
    note = f"{TURNS}-turn session, scripted model, budget {BUDGET} tokens (estimate chars/4)"
    late, early = statistics.median(walls[-20:]), statistics.median(walls[5:25])
    free_late = statistics.median(free_walls[-20:])
    metrics = {
        "working_prompt_tokens_t200": metric(sizes[-1], "tokens", f"<= {BUDGET}", note),
        "working_prompt_tokens_t10": metric(sizes[9], "tokens", "", note),
        "working_prompt_t200_over_t10": metric(sizes[-1] / sizes[9], "ratio", "bounded", note),
        "working_prompt_max_over_budget": metric(max(sizes) / BUDGET, "ratio", "<= 1", note),
        "unbounded_prompt_t200_over_t10": metric(
            free_sizes[-1] / free_sizes[9], "ratio", "", "same session, no budget (baseline)"
        ),
        "working_total_tokens_over_unbounded": metric(
            sum(sizes) / sum(free_sizes), "ratio", "< 1", "prompt tokens summed over the session"
        ),
        "working_turn_wall_late_over_early": metric(
            late / early, "ratio", "~1 (linear cost)", "median wall of turns 181-200 / 6-25"
        ),
        "unbounded_turn_wall_late_over_early": metric(
            free_late / statistics.median(free_walls[5:25]), "ratio", "", "baseline"
        ),
        "working_fact_recall_late": metric(
            recall(model), "fraction", "1.0", "planted facts of turns 3-25 in the prompt at 180-195"
        ),
    }
    path = merge_results("memory.json", metrics)
    for name, m in metrics.items():
        print(f"{name:40} {m['value']:>10} {m['unit']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
