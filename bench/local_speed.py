"""Generation speed of the embedded model: raw llama-cpp-python vs through ``LocalModel``.

Both paths get the same chat messages (the ones tether renders), the same seed and the same
``max_tokens``; runs are interleaved and medians compared. Each path has its own ``Llama``
(same file and settings), so the KV-prefix cache of one cannot favour the other.

    python bench/local_speed.py   # prints JSON
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "Write a long, detailed story about a dragon who learns to bake bread."


async def _measure(path: Path, n_tokens: int, repeats: int) -> dict[str, Any]:
    from tether.models import LocalModel, _llama, _prompt
    from tether.types import ModelRequest, ModelSettings, UserMessage

    llama_cpp = _llama.import_llama_cpp()  # sets OMP_WAIT_POLICY=PASSIVE first
    from tether.settings import load_settings

    n_threads = load_settings().n_threads  # tether's default (or TETHER_N_THREADS)
    raw = llama_cpp.Llama(model_path=str(path), n_ctx=4096, n_threads=n_threads, verbose=False)
    model = LocalModel("local:bench", path, n_threads=n_threads, n_ctx=4096)
    request = ModelRequest(
        messages=(UserMessage(content=PROMPT),),
        settings=ModelSettings(temperature=0.0, max_tokens=n_tokens, seed=0),
    )
    messages = _prompt.render_messages(request.messages)

    def run_raw() -> tuple[int, float]:
        started = time.perf_counter()
        out = raw.create_chat_completion(
            messages=messages, temperature=0.0, max_tokens=n_tokens, seed=0
        )
        return int(out["usage"]["completion_tokens"]), time.perf_counter() - started

    async def run_tether() -> tuple[int, float]:
        started = time.perf_counter()
        response = await model.request(request)
        return response.usage.output_tokens, time.perf_counter() - started

    run_raw()  # warm-up: load, first prompt evaluation
    await run_tether()
    raw_rates: list[float] = []
    tether_rates: list[float] = []
    tokens: set[int] = set()
    for _ in range(repeats):
        for rates, (n, elapsed) in (
            (raw_rates, run_raw()),
            (tether_rates, await run_tether()),
        ):
            tokens.add(n)
            rates.append(n / elapsed)
    raw.close()
    raw_rate, tether_rate = statistics.median(raw_rates), statistics.median(tether_rates)
    return {
        "raw_tokens_per_s": round(raw_rate, 2),
        "tether_tokens_per_s": round(tether_rate, 2),
        "ratio": round(tether_rate / raw_rate, 4),
        "completion_tokens": sorted(tokens),
        "repeats": repeats,
    }


def measure_tokens_per_s_ratio(path: Path, n_tokens: int = 128, repeats: int = 3) -> dict[str, Any]:
    """Median generation tokens/s, raw and through tether, and their ratio (tether / raw)."""
    return asyncio.run(_measure(Path(path), n_tokens, repeats))


if __name__ == "__main__":
    from tether.models import default_model_path

    print(json.dumps(measure_tokens_per_s_ratio(default_model_path()), indent=2))
