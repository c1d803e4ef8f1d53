// Reads a GGUF file with @huggingface/gguf, an independent reader, and
// prints its metadata (arrays as their lengths and first items) and tensor
// infos as JSON, so tests can check that other readers take lineage's files.
import { gguf } from "@huggingface/gguf";

const { metadata, tensorInfos } = await gguf(process.argv[2], { allowLocalFile: true });
const meta = {};
for (const [k, v] of Object.entries(metadata)) {
  if (Array.isArray(v)) meta[k] = { length: v.length, head: v.slice(0, 8).map((x) => (typeof x === "bigint" ? Number(x) : x)) };
  else meta[k] = typeof v === "bigint" ? Number(v) : v;
}
const tensors = tensorInfos.map((t) => ({
  name: t.name,
  shape: t.shape.map((d) => Number(d)),
  dtype: t.dtype,
  offset: Number(t.offset),
}));
process.stdout.write(JSON.stringify({ metadata: meta, tensors }));
