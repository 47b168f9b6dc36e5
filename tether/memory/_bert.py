"""A BERT encoder forward pass in numpy (float32): all-MiniLM-L6-v2 without torch.

Pure functions over a dict of weights (the safetensors names of ``BertModel``). Per layer the
query, key and value projections are one fused matmul, attention is a batched matmul over
``(batch, heads, tokens, head_dim)``, and GELU is the exact erf form (as in BERT) with a
vectorized erf accurate to 1.5e-7 (kept clear of denormal floats: see ``_erf``). Sentence
embeddings are the mask-weighted mean of the last hidden states, L2-normalized
(sentence-transformers' Pooling + Normalize modules).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, kw_only=True)
class Layer:
    qkv_w: F32  # (hidden, 3 * hidden), transposed for x @ w
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1_g: F32
    ln1_b: F32
    up_w: F32
    up_b: F32
    down_w: F32
    down_b: F32
    ln2_g: F32
    ln2_b: F32


@dataclass(frozen=True, kw_only=True)
class BertWeights:
    word: F32
    position: F32
    token_type: F32
    ln_g: F32
    ln_b: F32
    layers: tuple[Layer, ...]
    heads: int
    eps: float = 1e-12

    @property
    def dim(self) -> int:
        return int(self.word.shape[1])


def weights_from_tensors(t: dict[str, npt.NDArray[np.float32]], *, heads: int) -> BertWeights:
    """Arrange ``BertModel`` tensors for the forward pass (float32, matmul-ready layouts)."""

    def f(name: str) -> F32:
        return np.ascontiguousarray(t[name], dtype=np.float32)

    layers = []
    count = 1 + max(int(k.split(".")[2]) for k in t if k.startswith("encoder.layer."))
    for i in range(count):
        p = f"encoder.layer.{i}."
        att = p + "attention."
        qkv_w = np.concatenate([f(f"{att}self.{n}.weight") for n in ("query", "key", "value")])
        qkv_b = np.concatenate([f(f"{att}self.{n}.bias") for n in ("query", "key", "value")])
        layers.append(
            Layer(
                qkv_w=np.ascontiguousarray(qkv_w.T),
                qkv_b=qkv_b,
                out_w=np.ascontiguousarray(f(att + "output.dense.weight").T),
                out_b=f(att + "output.dense.bias"),
                ln1_g=f(att + "output.LayerNorm.weight"),
                ln1_b=f(att + "output.LayerNorm.bias"),
                up_w=np.ascontiguousarray(f(p + "intermediate.dense.weight").T),
                up_b=f(p + "intermediate.dense.bias"),
                down_w=np.ascontiguousarray(f(p + "output.dense.weight").T),
                down_b=f(p + "output.dense.bias"),
                ln2_g=f(p + "output.LayerNorm.weight"),
                ln2_b=f(p + "output.LayerNorm.bias"),
            )
        )
    return BertWeights(
        word=f("embeddings.word_embeddings.weight"),
        position=f("embeddings.position_embeddings.weight"),
        token_type=f("embeddings.token_type_embeddings.weight"),
        ln_g=f("embeddings.LayerNorm.weight"),
        ln_b=f("embeddings.LayerNorm.bias"),
        layers=tuple(layers),
        heads=heads,
    )


def _layer_norm(x: F32, g: F32, b: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    out: F32 = centered / np.sqrt(var + eps) * g + b
    return out


def _erf(x: F32) -> F32:
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7, in place on temporaries. |x| is capped at
    # 4 (erf(4) is 1 in float32): beyond it exp(-x²) is a denormal float, and arithmetic on
    # denormals made this function 3-5x slower (it was half the encoder's time).
    a = np.abs(x)
    np.minimum(a, np.float32(4.0), out=a)
    t = a * np.float32(0.3275911)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    p = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += np.float32(c)
        p *= t
    np.multiply(a, a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a
    np.subtract(np.float32(1.0), p, out=p)
    out: F32 = np.copysign(p, x, out=p)
    return out


def _gelu(x: F32) -> F32:
    out = _erf(x * np.float32(0.7071067811865476))
    out += np.float32(1.0)
    out *= x
    out *= np.float32(0.5)
    return out


def _layer(x: F32, bias: F32, w: Layer, heads: int, eps: float) -> F32:
    batch, tokens, hidden = x.shape
    hd = hidden // heads
    qkv = x @ w.qkv_w + w.qkv_b  # (B, T, 3H)
    qkv = qkv.reshape(batch, tokens, 3, heads, hd).transpose(2, 0, 3, 1, 4)  # (3, B, h, T, d)
    q, k, v = qkv[0], qkv[1], qkv[2]
    scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1.0 / np.sqrt(hd)) + bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden)
    x = _layer_norm(ctx @ w.out_w + w.out_b + x, w.ln1_g, w.ln1_b, eps)
    up = _gelu(x @ w.up_w + w.up_b)
    return _layer_norm(up @ w.down_w + w.down_b + x, w.ln2_g, w.ln2_b, eps)


def embed_tokens(weights: BertWeights, ids: I64) -> F32:
    """The encoder's input: word + position + token-type embeddings, layer-normalized (B, T, H)."""
    x = weights.word[ids] + weights.position[: ids.shape[1]] + weights.token_type[0]
    return _layer_norm(x.astype(np.float32), weights.ln_g, weights.ln_b, weights.eps)


def pool(x: F32, mask: I64) -> F32:
    """Unit-norm mask-weighted mean of the last hidden states (B, H)."""
    m = mask.astype(np.float32)
    pooled = (x * m[:, :, None]).sum(axis=1) / np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    out: F32 = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def encode(weights: BertWeights, ids: I64, mask: I64) -> F32:
    """Unit-norm mean-pooled sentence embeddings for a padded batch ``ids``/``mask`` (B, T)."""
    x = embed_tokens(weights, ids)
    # (B, 1, 1, T) additive attention bias: padding gets no attention
    bias = ((1.0 - mask.astype(np.float32)) * np.float32(-1e9))[:, None, None, :]
    for layer in weights.layers:
        x = _layer(x, bias, layer, weights.heads, weights.eps)
    return pool(x, mask)
