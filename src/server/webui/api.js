// Calls to the server's OpenAI-compatible API: the model list and streamed
// chat completions (server-sent events read from fetch's body stream).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(key) {
  const h = { "Content-Type": "application/json" };
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

async function failure(r) {
  let message = "HTTP " + r.status;
  try {
    const j = await r.json();
    if (j && j.error && typeof j.error.message === "string") message = j.error.message;
  } catch {
    // not JSON: keep the status
  }
  return new ApiError(r.status, message);
}

export async function listModels(key) {
  const r = await fetch("/v1/models", { headers: headers(key) });
  if (!r.ok) throw await failure(r);
  const j = await r.json();
  return Array.isArray(j.data) ? j.data : [];
}

// Posts a streaming chat request and calls onChunk(chunk, read) with each
// parsed chunk until the server's [DONE]; read counts the network reads, so
// chunks that came together can be told apart from chunks that came apart. Rejects with ApiError, or with an AbortError
// when signal is aborted (the server then cancels the request).
export async function streamChat(body, key, signal, onChunk) {
  const r = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers(key),
    body: JSON.stringify(body),
    signal,
  });
  if (!r.ok) throw await failure(r);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (let read = 1; ; read++) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = event
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, "").replace(/\r$/, ""))
        .join("\n");
      if (data === "") continue;  // a comment line that keeps the connection alive
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new ApiError(500, chunk.error.message || "the server reported an error");
      onChunk(chunk, read);
    }
  }
  throw new ApiError(0, "the answer ended before the server finished it");
}
