"""numpy decoders of the GGUF block types, written from the format description
(DESIGN.md and the block comments), independent of lineage's C++ kernels.

Every decoder takes the raw bytes of a tensor and returns float32 values in
file order, computed with the same float32 operations in the same order as a
straightforward dequantizer (scale times value, minus or plus the offset), so
results are exact, not approximate.
"""
import numpy as np

F32 = np.float32


def _blocks(data, fields):
    return np.frombuffer(data, dtype=np.dtype(fields))


def _half(a):
    return a.astype(np.float16).astype(F32) if a.dtype != np.float16 else a.astype(F32)


def _nibbles(qs):
    """(n, 16) bytes of a 32-value block -> (n, 32) values 0..15 in value order."""
    return np.concatenate([qs & 15, qs >> 4], axis=1)


def _fifth_bits(qh):
    """(n,) little-endian u32 -> (n, 32) bit j of each."""
    return ((qh[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)


def decode_f32(data):
    return np.frombuffer(data, dtype="<f4").astype(F32)


def decode_f16(data):
    return np.frombuffer(data, dtype="<f2").astype(F32)


def decode_q8_0(data):
    b = _blocks(data, [("d", "<f2"), ("qs", "i1", 32)])
    return (b["qs"].astype(F32) * _half(b["d"])[:, None]).ravel()


def decode_q4_0(data):
    b = _blocks(data, [("d", "<f2"), ("qs", "u1", 16)])
    q = _nibbles(b["qs"]).astype(np.int32) - 8
    return (q.astype(F32) * _half(b["d"])[:, None]).ravel()


def decode_q4_1(data):
    b = _blocks(data, [("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)])
    q = _nibbles(b["qs"]).astype(F32)
    return (q * _half(b["d"])[:, None] + _half(b["m"])[:, None]).ravel()


def decode_q5_0(data):
    b = _blocks(data, [("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
    q = (_nibbles(b["qs"]) | (_fifth_bits(b["qh"]) << 4)).astype(np.int32) - 16
    return (q.astype(F32) * _half(b["d"])[:, None]).ravel()


def decode_q5_1(data):
    b = _blocks(data, [("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
    q = (_nibbles(b["qs"]) | (_fifth_bits(b["qh"]) << 4)).astype(F32)
    return (q * _half(b["d"])[:, None] + _half(b["m"])[:, None]).ravel()


def _two_bit_planes(qs):
    """(n, 64) bytes -> (n, 256): value 128h + 32j + l is bits 2j.. of byte 32h + l."""
    out = np.empty((qs.shape[0], 256), dtype=np.uint8)
    for h in range(2):
        for j in range(4):
            out[:, 128 * h + 32 * j:128 * h + 32 * j + 32] = (qs[:, 32 * h:32 * h + 32] >> (2 * j)) & 3
    return out


def decode_q2_k(data):
    b = _blocks(data, [("scales", "u1", 16), ("qs", "u1", 64), ("d", "<f2"), ("dmin", "<f2")])
    q = _two_bit_planes(b["qs"]).reshape(-1, 16, 16)
    dl = _half(b["d"])[:, None] * (b["scales"] & 15).astype(F32)
    ml = _half(b["dmin"])[:, None] * (b["scales"] >> 4).astype(F32)
    return (dl[:, :, None] * q.astype(F32) - ml[:, :, None]).ravel()


def q3_k_scales(packed):
    """(n, 12) bytes -> (n, 16) signed scales."""
    sc = np.empty((packed.shape[0], 16), dtype=np.int32)
    for j in range(16):
        low = packed[:, j] & 15 if j < 8 else packed[:, j - 8] >> 4
        high = (packed[:, 8 + j % 4] >> (2 * (j // 4))) & 3
        sc[:, j] = (low.astype(np.int32) | (high.astype(np.int32) << 4)) - 32
    return sc


def decode_q3_k(data):
    b = _blocks(data, [("hmask", "u1", 32), ("qs", "u1", 64), ("scales", "u1", 12), ("d", "<f2")])
    low = _two_bit_planes(b["qs"]).astype(np.int32)
    # Value 32k + l takes bit k of hmask[l].
    high = ((b["hmask"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1).reshape(-1, 256)
    q = (low | (high.astype(np.int32) << 2)) - 4
    dl = _half(b["d"])[:, None] * q3_k_scales(b["scales"]).astype(F32)
    return (dl[:, :, None] * q.reshape(-1, 16, 16).astype(F32)).ravel()


def k4_scales(packed):
    """Q4_K / Q5_K: (n, 12) bytes -> (n, 8) scales and (n, 8) mins, 6 bits each."""
    p = packed.astype(np.int32)
    sc = np.empty((p.shape[0], 8), dtype=np.int32)
    mn = np.empty_like(sc)
    for j in range(8):
        if j < 4:
            sc[:, j] = p[:, j] & 63
            mn[:, j] = p[:, j + 4] & 63
        else:
            sc[:, j] = (p[:, j + 4] & 15) | ((p[:, j - 4] >> 6) << 4)
            mn[:, j] = (p[:, j + 4] >> 4) | ((p[:, j] >> 6) << 4)
    return sc, mn


def _k4_apply(b, q):
    sc, mn = k4_scales(b["scales"])
    dl = _half(b["d"])[:, None] * sc.astype(F32)
    ml = _half(b["dmin"])[:, None] * mn.astype(F32)
    return (dl[:, :, None] * q.reshape(-1, 8, 32).astype(F32) - ml[:, :, None]).ravel()


def _k4_nibbles(qs):
    """(n, 128) bytes -> (n, 256): chunk c holds the low nibbles of bytes 32c.. then the high ones."""
    parts = []
    for c in range(4):
        chunk = qs[:, 32 * c:32 * c + 32]
        parts += [chunk & 15, chunk >> 4]
    return np.concatenate(parts, axis=1)


def decode_q4_k(data):
    b = _blocks(data, [("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qs", "u1", 128)])
    return _k4_apply(b, _k4_nibbles(b["qs"]))


def decode_q5_k(data):
    b = _blocks(data, [("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qh", "u1", 32), ("qs", "u1", 128)])
    # The fifth bit of value 32k + l (k = 2c for low nibbles, 2c + 1 for high) is bit k of qh[l].
    top = ((b["qh"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1).reshape(-1, 256)
    return _k4_apply(b, _k4_nibbles(b["qs"]) | (top << 4))


def decode_q6_k(data):
    b = _blocks(data, [("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", "<f2")])
    q = np.empty((b.shape[0], 256), dtype=np.int32)
    for h in range(2):
        ql = b["ql"][:, 64 * h:64 * h + 64].astype(np.int32)
        qh = b["qh"][:, 32 * h:32 * h + 32].astype(np.int32)
        base = 128 * h
        q[:, base:base + 32] = (ql[:, :32] & 15) | ((qh & 3) << 4)
        q[:, base + 32:base + 64] = (ql[:, 32:] & 15) | (((qh >> 2) & 3) << 4)
        q[:, base + 64:base + 96] = (ql[:, :32] >> 4) | (((qh >> 4) & 3) << 4)
        q[:, base + 96:base + 128] = (ql[:, 32:] >> 4) | (((qh >> 6) & 3) << 4)
    q -= 32
    d = _half(b["d"])[:, None] * b["scales"].astype(F32)
    return (d[:, :, None] * q.reshape(-1, 16, 16).astype(F32)).ravel()


DECODERS = {0: decode_f32, 1: decode_f16, 2: decode_q4_0, 3: decode_q4_1, 6: decode_q5_0, 7: decode_q5_1,
            8: decode_q8_0, 10: decode_q2_k, 11: decode_q3_k, 12: decode_q4_k, 13: decode_q5_k, 14: decode_q6_k}
TYPE_NAMES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K",
              12: "Q4_K", 13: "Q5_K", 14: "Q6_K"}


def quantize_q8_0(x):
    """The reference Q8_0 quantizer: scale amax / 127 (F16), values roundf(x / scale)."""
    x = x.astype(F32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = amax / F32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    v = x * inv[:, None]
    # roundf: halves away from zero; v - trunc(v) is exact in float32.
    t = np.trunc(v)
    q = t + np.sign(v) * (np.abs(v - t) >= F32(0.5))
    out = np.zeros(x.shape[0], dtype=np.dtype([("d", "<f2"), ("qs", "i1", 32)]))
    out["d"] = d.astype(np.float16)
    out["qs"] = q.astype(np.int8)
    return out.tobytes()
