// The console's only way to the hub: the public /v1 API, documented at
// /v1/openapi.json. The API key lives in sessionStorage (this tab, until it
// is closed or the user signs out) and travels only in the Authorization
// header — never in a URL, so it appears in no log or history.

const KEY_SLOT = "order-hub.api-key";

export function storedKey() {
  return sessionStorage.getItem(KEY_SLOT);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_SLOT, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_SLOT);
}

/** An answer that was not 2xx: the status and the RFC 9457 problem document. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }

  /** Field-level problems (`pointer`, `code`, `message`), if the answer had them. */
  get problems() {
    return Array.isArray(this.problem.problems) ? this.problem.problems : [];
  }
}

/** Called with every 401, so the shell can send the user back to sign-in. */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

async function problemOf(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { title: response.statusText, detail: text.slice(0, 300) };
  }
}

/**
 * request("GET", "/v1/orders", {query: {status: "queued"}}) → parsed JSON.
 * Throws ApiError for any non-2xx answer and for network failures (status 0).
 */
export async function request(method, path, { body, query, headers = {}, key = storedKey(), signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const init = { method, headers: { Accept: "application/json", ...headers }, signal, cache: "no-store" };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { title: "Network error", detail: String(error.message || error) });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401 && key === storedKey()) onUnauthorized(problem);
    throw new ApiError(response.status, problem);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const del = (path, options) => request("DELETE", path, options);

/**
 * Follows an order's timeline over server-sent events
 * (`GET /v1/orders/{id}/events`). EventSource cannot send an Authorization
 * header, so the stream is read with fetch; on a dropped connection it
 * reconnects with `Last-Event-ID`, so every event arrives once, in order.
 *
 * `onEvent(event)` gets each timeline event; `onState("live"|"reconnecting")`
 * tells the page whether it is up to date. Returns a function that stops.
 */
export function followTimeline(orderId, afterSeq, { onEvent, onState = () => {} }) {
  const controller = new AbortController();
  let lastSeq = afterSeq;
  let delay = 500;

  async function connect() {
    while (!controller.signal.aborted) {
      try {
        const headers = { Accept: "text/event-stream", Authorization: `Bearer ${storedKey()}` };
        if (lastSeq > 0) headers["Last-Event-ID"] = String(lastSeq);
        const response = await fetch(`/v1/orders/${encodeURIComponent(orderId)}/events`, {
          headers,
          signal: controller.signal,
          cache: "no-store",
        });
        if (!response.ok) {
          const problem = await problemOf(response);
          if (response.status === 401) onUnauthorized(problem);
          if (response.status === 401 || response.status === 403 || response.status === 404) {
            onState("closed", new ApiError(response.status, problem));
            return;
          }
          throw new ApiError(response.status, problem);
        }
        onState("live");
        delay = 500;
        await readFrames(response.body, (frame) => {
          if (!frame.data) return;
          let event;
          try {
            event = JSON.parse(frame.data);
          } catch {
            return;
          }
          if (typeof event.seq === "number") {
            if (event.seq <= lastSeq) return;
            lastSeq = event.seq;
          }
          onEvent(event);
        });
      } catch (error) {
        if (controller.signal.aborted) return;
        onState("reconnecting", error);
      }
      if (controller.signal.aborted) return;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }

  connect();
  return () => controller.abort();
}

/** Splits a text/event-stream body into frames ({id, event, data}). */
async function readFrames(body, onFrame) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const frame = { data: "" };
      for (const line of raw.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") frame.data += (frame.data ? "\n" : "") + text;
        else if (field === "id" || field === "event") frame[field] = text;
      }
      onFrame(frame);
    }
  }
}

/**
 * Who `key` belongs to (`GET /v1/me`), with what the console lets the role
 * do: `may.subscribe` — customers manage their own webhooks, operators all.
 */
export async function whoAmI(key = storedKey()) {
  const me = await get("/v1/me", { key });
  me.may = { ...me.may, subscribe: me.role === "customer" || me.may.operate };
  return me;
}
