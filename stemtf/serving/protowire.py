"""The few protobuf wire-format pieces needed to write and read a ``PredictionLog`` by hand.

``tensorflow-serving-api`` (which ships the generated ``PredictionLog`` classes) is an optional
extra, so the warm-up file is encoded here from the field numbers of TF Serving's ``.proto``
files (``tensorflow_serving/apis/{prediction_log,predict,model}.proto``):

- ``PredictionLog.predict_log = 6`` (a ``PredictLog``)
- ``PredictLog.request = 1`` (a ``PredictRequest``)
- ``PredictRequest.model_spec = 1``, ``PredictRequest.inputs = 2`` (``map<string, TensorProto>``,
  on the wire a repeated entry message with ``key = 1``, ``value = 2``)
- ``ModelSpec.name = 1``, ``ModelSpec.signature_name = 3``

The ``TensorProto`` itself is serialised by TensorFlow's own protobuf class.
"""

from __future__ import annotations

__all__ = [
    "PREDICTION_LOG_PREDICT_LOG",
    "PREDICT_LOG_REQUEST",
    "PREDICT_REQUEST_MODEL_SPEC",
    "PREDICT_REQUEST_INPUTS",
    "MODEL_SPEC_NAME",
    "MODEL_SPEC_SIGNATURE_NAME",
    "encode_predict_log",
    "decode_predict_log",
    "parse_fields",
]

PREDICTION_LOG_PREDICT_LOG = 6
PREDICT_LOG_REQUEST = 1
PREDICT_REQUEST_MODEL_SPEC = 1
PREDICT_REQUEST_INPUTS = 2
MAP_ENTRY_KEY = 1
MAP_ENTRY_VALUE = 2
MODEL_SPEC_NAME = 1
MODEL_SPEC_SIGNATURE_NAME = 3

_VARINT = 0
_I64 = 1
_LEN = 2
_I32 = 5


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | _LEN) + _varint(len(payload)) + payload


def _string_field(number: int, text: str) -> bytes:
    # proto3 leaves empty strings off the wire
    return _len_field(number, text.encode()) if text else b""


def encode_predict_log(model_name: str, signature_name: str, inputs: dict[str, bytes]) -> bytes:
    """Serialise ``PredictionLog{predict_log{request{model_spec, inputs}}}``.

    Parameters
    ----------
    model_name, signature_name
        The request's ``ModelSpec``.
    inputs
        Input name -> serialised ``tensorflow.TensorProto``.

    Returns
    -------
    bytes
        The message, field by field in field-number order (as protobuf serialises it).
    """
    spec = _string_field(MODEL_SPEC_NAME, model_name) + _string_field(
        MODEL_SPEC_SIGNATURE_NAME, signature_name
    )
    request = _len_field(PREDICT_REQUEST_MODEL_SPEC, spec)
    for key in sorted(inputs):
        entry = _string_field(MAP_ENTRY_KEY, key) + _len_field(MAP_ENTRY_VALUE, inputs[key])
        request += _len_field(PREDICT_REQUEST_INPUTS, entry)
    predict_log = _len_field(PREDICT_LOG_REQUEST, request)
    return _len_field(PREDICTION_LOG_PREDICT_LOG, predict_log)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def parse_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Split one message into ``(field_number, value)`` pairs in wire order.

    Length-delimited values are returned as bytes, varints as ints, fixed-width as raw bytes.
    Raises ValueError for malformed input.
    """
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire == _LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (_I64, _I32):
            width = 8 if wire == _I64 else 4
            value, pos = data[pos : pos + width], pos + width
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, value))
    if pos != len(data):
        raise ValueError("trailing bytes")
    return out


def _only(fields: list[tuple[int, int | bytes]], number: int, what: str) -> bytes:
    values = [v for n, v in fields if n == number]
    if len(values) != 1 or not isinstance(values[0], bytes):
        raise ValueError(f"expected one {what}, found {len(values)}")
    return values[0]


def decode_predict_log(data: bytes) -> tuple[str, str, dict[str, bytes]]:
    """Inverse of :func:`encode_predict_log`: ``(model_name, signature_name, inputs)``.

    Raises ValueError when ``data`` is not a ``PredictionLog`` holding a predict request.
    """
    log = parse_fields(data)
    predict_log = parse_fields(_only(log, PREDICTION_LOG_PREDICT_LOG, "predict_log"))
    request = parse_fields(_only(predict_log, PREDICT_LOG_REQUEST, "request"))
    spec = parse_fields(_only(request, PREDICT_REQUEST_MODEL_SPEC, "model_spec"))
    name = b"".join(v for n, v in spec if n == MODEL_SPEC_NAME and isinstance(v, bytes))
    sig = b"".join(v for n, v in spec if n == MODEL_SPEC_SIGNATURE_NAME and isinstance(v, bytes))
    inputs = {}
    for number, entry in request:
        if number == PREDICT_REQUEST_INPUTS and isinstance(entry, bytes):
            fields = parse_fields(entry)
            key = b"".join(v for n, v in fields if n == MAP_ENTRY_KEY and isinstance(v, bytes))
            inputs[key.decode()] = _only(fields, MAP_ENTRY_VALUE, "map value")
    return name.decode(), sig.decode(), inputs
