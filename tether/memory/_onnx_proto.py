"""The few ONNX protobuf messages the int8 encoder's graph needs, written by hand.

The ``onnx`` package would build them too, but importing it loads ``ml_dtypes``, whose C
extension held the GIL for ~2 s on the 2-core machine: long enough to starve a worker's lease
heartbeat. The wire format is protobuf's (varints and length-delimited fields), the field numbers
those of ``onnx.proto3`` (onnx/onnx.proto: ModelProto, GraphProto, NodeProto, AttributeProto,
TensorProto, ValueInfoProto); tests/memory/test_onnx_proto.py runs what they describe in
onnxruntime.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# TensorProto.DataType
FLOAT, UINT8, INT8, INT32, INT64 = 1, 2, 3, 6, 7
_DTYPES = {
    np.dtype(np.float32): FLOAT,
    np.dtype(np.uint8): UINT8,
    np.dtype(np.int8): INT8,
    np.dtype(np.int32): INT32,
    np.dtype(np.int64): INT64,
}
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64s as two's complement, as protobuf does
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def _all(field: int, messages: Iterable[bytes]) -> bytes:
    return b"".join(_bytes(field, m) for m in messages)


def tensor(name: str, array: npt.NDArray[Any]) -> bytes:
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian)."""
    a = np.ascontiguousarray(array)
    dims = b"".join(_int(1, d) for d in a.shape)
    raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    return dims + _int(2, _DTYPES[a.dtype]) + _bytes(8, name) + _bytes(9, raw)


def attribute(name: str, value: int | float | Sequence[int]) -> bytes:
    """AttributeProto: name (1), f (2), i (3), ints (8), type (20)."""
    if isinstance(value, bool) or isinstance(value, int):
        return _bytes(1, name) + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, float):
        return _bytes(1, name) + _float(2, value) + _int(20, _ATTR_FLOAT)
    return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)


def node(
    op: str, inputs: Sequence[str], outputs: Sequence[str], domain: str = "", **attrs: Any
) -> bytes:
    """NodeProto: input (1), output (2), op_type (4), attribute (5), domain (7)."""
    return (
        b"".join(_bytes(1, i) for i in inputs)
        + b"".join(_bytes(2, o) for o in outputs)
        + _bytes(4, op)
        + _all(5, (attribute(k, v) for k, v in attrs.items()))
        + (_bytes(7, domain) if domain else b"")
    )


def value_info(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    """ValueInfoProto name (1), type (2): TypeProto.tensor_type (1): elem_type (1), shape (2)
    of dims (1), each dim_value (1) or dim_param (2)."""
    dims = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(
    *,
    name: str,
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    opsets: dict[str, int],
    ir_version: int = 9,
) -> bytes:
    """ModelProto: ir_version (1), graph (7), opset_import (8: domain 1, version 2). GraphProto:
    node (1), name (2), initializer (5), input (11), output (12)."""
    graph = (
        _all(1, nodes)
        + _bytes(2, name)
        + _all(5, initializers)
        + _all(11, inputs)
        + _all(12, outputs)
    )
    opset = _all(8, ((_bytes(1, d) if d else b"") + _int(2, v) for d, v in opsets.items()))
    return _int(1, ir_version) + _bytes(7, graph) + opset
