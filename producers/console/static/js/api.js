// The gateway's public API with the tenant key. The key lives in sessionStorage only (gone when the
// tab closes) and travels in the Authorization header, never in a URL. Streams are read with fetch,
// not EventSource: EventSource cannot send an Authorization header.

const STORE = "multillm.key";

export const session = {
  get: () => sessionStorage.getItem(STORE),
  set: (key) => sessionStorage.setItem(STORE, key),
  clear: () => sessionStorage.removeItem(STORE),
};

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (error && (error.code || error.type)) || `http_${status}`;
  }
}

function headers(key) {
  return { authorization: `Bearer ${key || session.get()}`, "content-type": "application/json" };
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: the status says enough */ }
  return new ApiError(response.status, body && body.error);
}

export async function api(path, { method = "GET", body, key, signal } = {}) {
  const response = await fetch(path, { method, headers: headers(key), signal,
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// Server-sent events (the WHATWG format) from a fetch body: yields {id, data} with data parsed as JSON.
// Lines may end in \r\n (sse-starlette's default), \n or \r; a \r at a chunk's end waits for the next
// chunk, which may start with its \n.
export async function* events(path, { signal } = {}) {
  const response = await fetch(path, { headers: headers(), signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let id = null;
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const held = buffer.endsWith("\r") ? "\r" : "";
    const lines = buffer.slice(0, buffer.length - held.length).replace(/\r\n?/g, "\n").split("\n");
    buffer = lines.pop() + held;
    for (const line of lines) {
      if (line === "") {
        if (data.length) yield { id, data: JSON.parse(data.join("\n")) };
        data = [];
      } else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("id:")) id = line.slice(3).trim();
    }
  }
}
