"""Writes a GGUF file as a split model the way the common engine's gguf-split
lays one out: NAME-00001-of-0000N.gguf holds every metadata key, each part
states split.no (0-based), split.count and split.tensors.count, and holds its
own run of tensors with offsets into its own data section. Written from the
format description, independently of lineage's reader."""
import struct

from gguf_read import Reader, _LAYOUT


def _raw_layout(data):
    """(version, [raw key-value bytes], [(name, type, dims, bytes)], alignment)."""
    r = Reader(data)
    r.p = 4
    version, n_tensors, n_kv = r.take("I"), r.take("Q"), r.take("Q")
    kvs, align = [], 32
    for _ in range(n_kv):
        start = r.p
        k = r.string()
        v = r.value(r.take("I"))
        if k == "general.alignment":
            align = v
        kvs.append(data[start:r.p])
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("I")
        dims = [r.take("Q") for _ in range(nd)]
        t, off = r.take("I"), r.take("Q")
        infos.append((name, t, dims, off))
    base = (r.p + align - 1) // align * align
    tensors = []
    for name, t, dims, off in infos:
        n = 1
        for d in dims:
            n *= d
        be, bs = _LAYOUT[t]
        tensors.append((name, t, dims, data[base + off:base + off + n // be * bs]))
    return version, kvs, tensors, align


def kv_name(raw):
    """The key of one raw key-value record from _raw_layout."""
    n = struct.unpack_from("<Q", raw)[0]
    return raw[8:8 + n].decode()


def _string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv_u16(key, v):
    return _string(key) + struct.pack("<IH", 2, v)


def kv_i32(key, v):
    return _string(key) + struct.pack("<Ii", 5, v)


def write_gguf(path, version, kvs, tensors, align=32):
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)))
    for kv in kvs:
        out += kv
    off, offsets = 0, []
    for _, _, _, blob in tensors:
        offsets.append(off)
        off += (len(blob) + align - 1) // align * align
    for (name, t, dims, _), o in zip(tensors, offsets):
        out += _string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", t, o)
    out += b"\0" * ((-len(out)) % align)
    for _, _, _, blob in tensors:
        out += blob + b"\0" * ((-len(blob)) % align)
    with open(path, "wb") as f:
        f.write(out)


def split_gguf(src, prefix, n_parts, count_override=None, total_override=None):
    """Splits src into prefix-0000i-of-0000N.gguf; returns the part paths.
    The overrides write wrong split.count (in the last part) or
    split.tensors.count (everywhere) values, for error tests."""
    with open(src, "rb") as f:
        data = f.read()
    version, kvs, tensors, align = _raw_layout(data)
    per = (len(tensors) + n_parts - 1) // n_parts
    total = len(tensors) if total_override is None else total_override
    paths = []
    for i in range(n_parts):
        count = count_override if (count_override is not None and i == n_parts - 1) else n_parts
        keys = [kv_u16("split.no", i), kv_u16("split.count", count), kv_i32("split.tensors.count", total)]
        path = f"{prefix}-{i + 1:05d}-of-{n_parts:05d}.gguf"
        write_gguf(path, version, (kvs if i == 0 else []) + keys, tensors[i * per:(i + 1) * per], align)
        paths.append(path)
    return paths
