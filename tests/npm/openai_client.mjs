// Drives a running `lineage serve` with the official OpenAI client, the
// library most users will point at it, and prints what the client made of
// each answer, for the end-to-end tests to check.
//
//   node openai_client.mjs BASE_URL API_KEY OPS_JSON
//       OPS_JSON: [{"op": "chat" | "completion" | "embeddings" | "models", "params": {...}},
//                  {"op": "parallel", "ops": [...]}]  (a parallel op runs its ops at once)
//       prints a JSON array with one result per op: what the client returned,
//       or {"error": {"status", "body"}} when it threw an API error.
import OpenAI from "openai";

const [baseURL, apiKey, opsJson] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });

async function chat(params) {
  if (!params.stream) {
    const r = await client.chat.completions.create(params);
    return { kind: "whole", response: r };
  }
  const stream = await client.chat.completions.create(params);
  let content = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  const logprobs = [];
  const calls = [];
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    const c = chunk.choices[0];
    if (c.delta && typeof c.delta.content === "string") content += c.delta.content;
    if (c.delta && c.delta.tool_calls) {
      for (const t of c.delta.tool_calls) {
        if (!calls[t.index]) calls[t.index] = { index: t.index, id: t.id, name: "", arguments: "" };
        if (t.function && t.function.name) calls[t.index].name += t.function.name;
        if (t.function && t.function.arguments) calls[t.index].arguments += t.function.arguments;
      }
    }
    if (c.logprobs && c.logprobs.content) logprobs.push(...c.logprobs.content);
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { kind: "stream", content, finish_reason: finish, usage, chunks, logprobs, tool_calls: calls };
}

async function completion(params) {
  if (!params.stream) {
    const r = await client.completions.create(params);
    return { kind: "whole", response: r };
  }
  const stream = await client.completions.create(params);
  let text = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    text += chunk.choices[0].text;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  return { kind: "stream", text, finish_reason: finish, usage, chunks };
}

async function run(op) {
  try {
    switch (op.op) {
      case "chat":
        return await chat(op.params);
      case "completion":
        return await completion(op.params);
      case "embeddings":
        return await client.embeddings.create(op.params);
      case "models": {
        const ids = [];
        for await (const m of client.models.list()) ids.push(m.id);
        return { ids };
      }
      case "parallel":
        return await Promise.all(op.ops.map(run));
      default:
        throw new Error(`unknown op ${op.op}`);
    }
  } catch (e) {
    if (e instanceof OpenAI.APIError) return { error: { status: e.status ?? null, body: e.error ?? null } };
    throw e;
  }
}

const results = [];
for (const op of JSON.parse(opsJson)) results.push(await run(op));
process.stdout.write(JSON.stringify(results));
