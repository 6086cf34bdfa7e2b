// API client: every call the page makes to /api/v1, with the token (asked for once on a 401,
// kept in sessionStorage for this tab, sent as Authorization: Bearer), JSON errors turned into
// ApiError (status, message, position in the query), and NDJSON read as a stream of objects.

const TOKEN_KEY = "logjet.token";

export class ApiError extends Error {
  constructor(status, message, position = null) {
    super(message);
    this.status = status;
    this.position = position;
  }
  // What a person reads: the status in words, then the server's reason.
  get plain() {
    const what = { 401: "Not signed in (401)", 403: "Forbidden (403)", 404: "Not found (404)",
      429: "Busy (429)", 503: "Timed out (503)" }[this.status];
    return what ? `${what}: ${this.message}` : this.message;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  tokenListeners.forEach((fn) => fn(""));
}

const tokenListeners = [];
export function onTokenChange(fn) {
  tokenListeners.push(fn);
}

let asking = null; // one prompt at a time, shared by every request that got a 401

function askForToken(reason) {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-reason").textContent = reason;
  input.value = "";
  dialog.returnValue = "";
  asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      asking = null;
      const value = dialog.returnValue === "ok" ? input.value.trim() : "";
      if (value) {
        sessionStorage.setItem(TOKEN_KEY, value);
        tokenListeners.forEach((fn) => fn(value));
      }
      resolve(value);
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return asking;
}

async function errorOf(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // not JSON: a proxy's page; the status says enough
  }
  const message = (body && body.error) || `${resp.status} ${resp.statusText}`;
  const err = new ApiError(resp.status, message, body ? body.position ?? null : null);
  err.retryAfter = Number(resp.headers.get("Retry-After")) || 0;
  return err;
}

// Queries the page runs at once: the server refuses more than query.max_concurrent (429), and
// one page (rows, histogram, facets) must not take every slot of a small host.
const MAX_QUERIES = 2;
const MAX_BUSY_RETRIES = 5;
let running = 0;
const waiting = [];

function wake() {
  const next = waiting.shift();
  if (next) next();
}

async function slot(signal) {
  while (running >= MAX_QUERIES) {
    await new Promise((resolve) => waiting.push(resolve));
    if (signal && signal.aborted) {
      wake(); // a search given up while it waited passes its turn on, or the next one waits forever
      throw new DOMException("aborted", "AbortError");
    }
  }
  running++;
}

function release() {
  running--;
  wake();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A query-like call (rows, aggregations, context): one of MAX_QUERIES slots, and a 429 (the
// server busy) is retried after its Retry-After a few times. The slot is held while the body is
// read: `consume` reads it.
export async function query(path, params, consume, signal = null) {
  await slot(signal);
  try {
    for (let busy = 0; ; busy++) {
      try {
        return await consume(await request(path, { params, signal }));
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 429 || busy >= MAX_BUSY_RETRIES) throw err;
        await sleep(1000 * (err.retryAfter || 1));
      }
    }
  } finally {
    release();
  }
}

// fetch with the token; on a 401 ask for a token (once) and try again with it.
export async function request(path, { method = "GET", params = null, body = null, signal = null } = {}) {
  const url = params ? `${path}?${new URLSearchParams(params)}` : path;
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    if (body !== null) headers["Content-Type"] = "application/json";
    const resp = await fetch(url, { method, headers, signal, body: body === null ? null : JSON.stringify(body) });
    if (resp.ok) return resp;
    const err = await errorOf(resp);
    if (resp.status !== 401 || attempt >= 2) throw err;
    if (t) sessionStorage.removeItem(TOKEN_KEY);
    const reason = t ? `The token was refused: ${err.message}.` : `This logjet needs a token: ${err.message}.`;
    if (!(await askForToken(reason))) throw err;
  }
}

export async function getJSON(path, params = null, signal = null) {
  return (await request(path, { params, signal })).json();
}

export async function sendJSON(method, path, body = null) {
  return (await request(path, { method, body })).json();
}

async function readNDJSON(resp, onBatch) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = rest + decoder.decode(value, { stream: true });
    const cut = text.lastIndexOf("\n");
    if (cut < 0) {
      rest = text;
      continue;
    }
    rest = text.slice(cut + 1);
    const batch = [];
    for (const line of text.slice(0, cut).split("\n")) {
      if (!line) continue;
      const obj = JSON.parse(line);
      if (typeof obj.error === "string" && Object.keys(obj).length === 2 && "position" in obj) {
        throw new ApiError(200, obj.error, obj.position);
      }
      batch.push(obj);
    }
    if (batch.length) onBatch(batch);
  }
}

// Objects of an NDJSON answer, handed to `onBatch` as they arrive (one array per network read).
// A final `{"error": ..., "position": ...}` line (a failure after the first row) is thrown.
// Not limited to the query slots: for the live tail, which stays open.
export async function streamNDJSON(path, params, onBatch, signal = null) {
  await readNDJSON(await request(path, { params, signal }), onBatch);
}

// Every object of a query's NDJSON answer.
export async function fetchNDJSON(path, params, signal = null) {
  const out = [];
  await query(path, params, (resp) => readNDJSON(resp, (batch) => { for (const o of batch) out.push(o); }), signal);
  return out;
}

export async function queryJSON(path, params, signal = null) {
  return query(path, params, (resp) => resp.json(), signal);
}
