"""The hand-written ONNX messages (tether/memory/_onnx_proto.py), run by onnxruntime: every
field kind the int8 encoder uses (int, float and ints attributes, symbolic and fixed dims,
initializers of each dtype, a contrib-domain op) must mean what the numpy reference computes."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tether.memory import _onnx_proto as proto
from tether.memory._bert_onnx import quantize_columns

RNG = np.random.default_rng(3)


def _run(model: bytes, **inputs: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, inputs)]


def test_a_graph_with_every_field_kind_runs_as_numpy_says() -> None:
    x = RNG.standard_normal((1, 5, 8)).astype(np.float32)
    w = RNG.standard_normal((8, 6)).astype(np.float32)
    q, scale = quantize_columns(w)
    gamma, beta = np.full(6, 1.5, np.float32), np.full(6, -0.25, np.float32)
    nodes = [
        proto.node(
            "DynamicQuantizeMatMul",
            ["x", "wq", "ws", "wz"],
            ["y"],
            "com.microsoft",
        ),
        proto.node("LayerNormalization", ["y", "g", "b"], ["n"], axis=-1, epsilon=1e-3),
        proto.node("Split", ["n", "halves"], ["n1", "n2"], axis=-1),
        proto.node("Transpose", ["n1"], ["t"], perm=[0, 2, 1]),
        proto.node("Cast", ["t"], ["out"], to=proto.INT64),
    ]
    inits = [
        proto.tensor("wq", q),
        proto.tensor("ws", scale),
        proto.tensor("wz", np.zeros(6, np.int8)),
        proto.tensor("g", gamma),
        proto.tensor("b", beta),
        proto.tensor("halves", np.array([3, 3], np.int64)),
    ]
    model = proto.model(
        name="check",
        nodes=nodes,
        initializers=inits,
        inputs=[proto.value_info("x", proto.FLOAT, [1, "T", 8])],
        outputs=[
            proto.value_info("out", proto.INT64, [1, 3, "T"]),
            proto.value_info("n2", proto.FLOAT, [1, "T", 3]),
        ],
        opsets={"": 18, "com.microsoft": 1},
    )
    out, n2 = _run(model, x=x * 4)
    y = (x * 4) @ w
    mean, var = y.mean(-1, keepdims=True), y.var(-1, keepdims=True)
    n = (y - mean) / np.sqrt(var + 1e-3) * gamma + beta
    assert np.abs(n2 - n[..., 3:]).max() < 0.1  # int8 rounding of x and w
    assert out.dtype == np.int64 and out.shape == (1, 3, 5)
    assert np.abs(out - np.trunc(n[..., :3].transpose(0, 2, 1))).max() <= 1


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**40, -1, -(2**63)])
def test_varints_round_trip_protobuf_style(n: int) -> None:
    data, value, shift = proto._varint(n), 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
    assert all(b & 0x80 for b in data[:-1]) and not data[-1] & 0x80
    assert value == n % 2**64 and len(data) <= 10
