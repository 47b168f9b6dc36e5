"""The local embedder (all-MiniLM-L6-v2 from its wheel, in onnxruntime) and the
OpenAI-compatible one against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tether.errors import ConfigError, ModelError, ModelUnavailable
from tether.memory import LocalEmbedder, OpenAIEmbedder, embed_async, make_embedder
from tether.memory._bert import encode
from tether.memory.embed import batches, best_precision, cpu_flags, model_zip_path

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "minilm_reference.json"


def test_vectors_are_unit_norm_384d_and_deterministic(embedder: LocalEmbedder) -> None:
    texts = ["The cat sits on the mat.", "Quarterly revenue grew by 12 percent.", "x"]
    a = embedder.embed(texts)
    assert a.shape == (3, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, embedder.embed(texts))


def _sharing(embedder: LocalEmbedder, **settings: Any) -> LocalEmbedder:
    """Another embedder with other settings over the same loaded weights (no second load)."""
    other = LocalEmbedder(**settings)
    other._loaded = embedder._model()
    return other


def test_padding_does_not_change_a_vector(embedder: LocalEmbedder) -> None:
    long = "a much longer sentence that forces padding of the short one in the same batch " * 3
    for e in (embedder, _sharing(embedder, precision="float32")):
        alone = e.embed(["short text"])[0]
        batched = e.embed([long, "short text"])[1]
        assert float(alone @ batched) > 0.99999
    # int8: each text is quantized on its own scale, so its batch changes nothing at all
    int8 = _sharing(embedder, precision="int8")
    alone, batched = int8.embed(["short text"])[0], int8.embed([long, "short text"])[1]
    assert np.array_equal(alone, batched)


def test_batches_are_by_length_under_the_row_and_token_caps() -> None:
    lengths = [120, 10, 130, 12, 11, 300]
    assert batches(lengths, 32, 1024) == [[1, 4, 3, 0, 2], [5]]
    assert batches(lengths, 32, 300) == [[1, 4, 3], [0, 2], [5]]
    assert batches(lengths, 2, 10**9) == [[1, 4], [3, 0], [2, 5]]
    assert batches([400], 32, 100) == [[0]]  # a text longer than the cap goes alone
    assert sorted(i for b in batches(lengths, 3, 250) for i in b) == list(range(6))


def test_the_token_cap_does_not_change_vectors(embedder: LocalEmbedder) -> None:
    texts = ["short one", "a somewhat longer sentence about durable agents " * 6, "mid " * 30]
    capped = _sharing(embedder, batch_tokens=64)
    whole = _sharing(embedder, batch_tokens=10**9)
    assert np.allclose(capped.embed(texts), whole.embed(texts), atol=1e-5)


def test_batches_encoded_in_parallel_give_the_same_vectors(embedder: LocalEmbedder) -> None:
    texts = [
        f"chunk {i}: " + "durable agents resume after a crash " * (1 + i % 7) for i in range(40)
    ]
    serial = _sharing(embedder, batch_tokens=128, workers=1)
    parallel = _sharing(embedder, batch_tokens=128, workers=3)
    lengths = [len(e.ids) for e in serial._model().tokenizer.encode_batch(texts)]
    assert len(batches(lengths, 32, 128)) > 3  # several batches to share out
    assert np.array_equal(serial.embed(texts), parallel.embed(texts))


def test_zero_embedding_workers_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="workers=0: use 1 or more"):
        LocalEmbedder(workers=0)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder: LocalEmbedder) -> None:
    v = embedder.embed(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The girl is carrying a baby.",
            "How do I resume a run after the process crashed?",
            "After a crash, the run continues from its last completed step.",
            "Bananas are rich in potassium.",
        ]
    )
    sim = v @ v.T
    assert sim[0, 1] > 0.6 > sim[0, 2]
    assert sim[3, 4] > sim[3, 5] + 0.3
    assert sim[0, 1] > sim[0, 3] and sim[3, 4] > sim[3, 0]


def test_matches_committed_reference_vectors(embedder: LocalEmbedder) -> None:
    """float32 matches sentence-transformers' vectors; the int8 default stays close to them."""
    ref = json.loads(REFERENCE.read_text())
    want = np.asarray(ref["vectors"], dtype=np.float32)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    exact = _sharing(embedder, precision="float32").embed(ref["texts"])
    assert ((exact * want).sum(axis=1)).min() > 0.99999
    assert np.abs(exact - want).max() < 1e-4
    cos = (_sharing(embedder, precision="int8").embed(ref["texts"]) * want).sum(axis=1)
    assert cos.min() > 0.97 and cos.mean() > 0.985


def test_the_float32_graph_matches_the_numpy_reference_pass(embedder: LocalEmbedder) -> None:
    """The onnxruntime float32 graph against the readable numpy pass, on a padded batch."""
    texts = ["short text", "a longer sentence about durable agents and their budgets " * 4]
    loaded = embedder._model()
    encodings = loaded.tokenizer.encode_batch(texts)
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(texts), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, e in enumerate(encodings):
        ids[r, : len(e.ids)], mask[r, : len(e.ids)] = e.ids, 1
    want = encode(loaded.weights, ids, mask)
    got = _sharing(embedder, precision="float32").embed(texts)
    assert np.abs(got - want).max() < 1e-5


def test_int8_keeps_the_neighbours_of_float32(embedder: LocalEmbedder) -> None:
    texts = [
        f"note {i}: " + " ".join(["durable", "agents", "crash", "budget", "memory"][i % 5 :] * 4)
        for i in range(12)
    ]
    exact = _sharing(embedder, precision="float32").embed(texts)
    fast = _sharing(embedder, precision="int8").embed(texts)
    assert ((exact * fast).sum(axis=1)).min() > 0.97
    # each text's nearest other text is the same under both precisions
    nearest = [np.argsort(-(m @ m.T), axis=1)[:, 1] for m in (exact, fast)]
    assert (nearest[0] == nearest[1]).mean() >= 0.9


def test_unknown_precision_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="precision='fp16': use one of auto, int8, float32"):
        LocalEmbedder(precision="fp16")  # type: ignore[arg-type]


def test_auto_precision_is_int8_only_with_int8_dot_products() -> None:
    assert best_precision({"avx2", "fma", "avx512_vnni"}) == "int8"
    assert best_precision({"fp", "asimd", "asimddp"}) == "int8"  # Arm dotprod
    assert best_precision({"avx2", "fma"}) == "float32"
    assert best_precision(set()) == "float32"
    here = LocalEmbedder().precision
    assert here == best_precision(cpu_flags()) and here in ("int8", "float32")


def test_empty_input_and_async(embedder: LocalEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)
    import asyncio

    out = asyncio.run(embed_async(embedder, ["hello"]))
    assert np.array_equal(out, embedder.embed(["hello"]))


def test_model_is_found_without_importing_the_wheels_package() -> None:
    code = (
        "import sys; from tether.memory.embed import model_zip_path; p = model_zip_path(); "
        "print(p.name, 'all_minilm_l6_v2' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["model.zip", "False"]
    assert model_zip_path().stat().st_size > 50_000_000


def test_unknown_embedding_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="TETHER_EMBED_MODEL"):
        make_embedder("hub:some/model")
    assert isinstance(make_embedder("local:all-minilm-l6-v2"), LocalEmbedder)


class _Stub(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"boom")
            return
        # reversed order on purpose: the client must sort by index
        data = [
            {"index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in reversed(list(enumerate(body["input"])))
        ]
        payload = json.dumps({"object": "list", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub_url() -> Iterator[str]:
    _Stub.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_openai_compatible_endpoint(stub_url: str) -> None:
    emb = OpenAIEmbedder("tiny", base_url=stub_url, api_key="sk-test", batch_size=2)
    try:
        out = emb.embed(["a", "bbb", "cc"])
    finally:
        emb.close()
    assert emb.model == "openai:tiny"
    assert [r["body"]["input"] for r in _Stub.requests] == [["a", "bbb"], ["cc"]]
    assert {r["path"] for r in _Stub.requests} == {"/v1/embeddings"}
    assert {r["auth"] for r in _Stub.requests} == {"Bearer sk-test"}
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert out[1, 0] / out[1, 1] == pytest.approx(3.0)  # rows in input order


def test_openai_endpoint_errors(stub_url: str) -> None:
    emb = OpenAIEmbedder("broken", base_url=stub_url)
    with pytest.raises(ModelError, match="answered 500"):
        emb.embed(["a"])
    emb.close()
    gone = OpenAIEmbedder("tiny", base_url="http://127.0.0.1:9/v1", timeout_s=2)
    with pytest.raises(ModelUnavailable, match="unreachable"):
        gone.embed(["a"])
    gone.close()
