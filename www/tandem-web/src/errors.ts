// The errors the engine throws on purpose, by class: an app tells a wrong token from a rate
// limit from a network failure with `instanceof` (or `code`), the same in the page and behind
// the engine's Web Worker (where they cross postMessage as plain objects and are rebuilt).

/** The base of every error the engine throws on purpose. */
export class TandemError extends Error {
  override name = "TandemError";
  /** Machine-readable: the worker's error code where it gave one (`model_not_found`, `rate_limited`…), else the engine's. */
  readonly code: string;
  /** The HTTP status involved, if any. */
  readonly status: number | null;

  constructor(message: string, options: { code: string; status?: number | null; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.status = options.status ?? null;
  }
}

/** The worker refused the client token (401) or the token may not do this (403). */
export class AuthError extends TandemError {
  override name = "AuthError";
}

/** The worker or its upstream is rate limited (429). */
export class RateLimitError extends TandemError {
  override name = "RateLimitError";
  /** Seconds to wait before trying again, when the worker said (`Retry-After`). */
  readonly retryAfter: number | null;

  constructor(message: string, options: { code: string; status?: number | null; retryAfter?: number | null }) {
    super(message, options);
    this.retryAfter = options.retryAfter ?? null;
  }
}

/**
 * The cloud could not be reached before it answered: a network failure, no response headers
 * within `cloudTimeoutMs`, or the worker's upstream failing (502, 503, 504). With a local model
 * loaded the engine answers locally instead, and says so.
 */
export class CloudUnreachable extends TandemError {
  override name = "CloudUnreachable";
}

/** Any other refusal or failure of the cloud: an unknown model (404), a bad request, a cut stream. */
export class CloudError extends TandemError {
  override name = "CloudError";
}

/** A model or its manifest could not be loaded: HTTP errors, malformed files. */
export class ModelLoadError extends TandemError {
  override name = "ModelLoadError";
}

/** A downloaded model file does not match the manifest's sha256; it is not used. */
export class IntegrityError extends TandemError {
  override name = "IntegrityError";
}

/** The caller aborted (a signal, or leaving a stream early). `name` is `"AbortError"`, as `fetch`'s. */
export class AbortError extends TandemError {
  override name = "AbortError";
}

/** The error for an HTTP refusal of the worker, from its status, body and `Retry-After`. */
export function cloudError(what: string, status: number, body: string, retryAfter: string | null): TandemError {
  let code = `http_${status}`;
  let message = body.slice(0, 300);
  try {
    const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } };
    code = parsed.error?.code ?? code;
    message = parsed.error?.message ?? message;
  } catch {
    // not the worker's JSON error shape: keep the text
  }
  const text = `${what}: the worker answered ${status}${message ? `: ${message}` : ""}`;
  if (status === 401 || status === 403) return new AuthError(text, { code, status });
  if (status === 429) {
    const seconds = retryAfter === null ? NaN : Number(retryAfter);
    return new RateLimitError(text, { code, status, retryAfter: Number.isFinite(seconds) ? seconds : null });
  }
  if (status === 502 || status === 503 || status === 504) return new CloudUnreachable(text, { code, status });
  return new CloudError(text, { code, status });
}

/** An error as it crosses postMessage. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  status?: number | null;
  retryAfter?: number | null;
}

/** `err` as a plain object for postMessage. */
export function toWire(err: unknown): WireError {
  const e = err as Partial<TandemError & RateLimitError> | null;
  return { name: e?.name ?? "Error", message: e?.message ?? String(err), code: e?.code, status: e?.status, retryAfter: e?.retryAfter };
}

const CLASSES: Record<string, new (message: string, options: { code: string; status?: number | null }) => TandemError> = {
  AuthError,
  CloudUnreachable,
  CloudError,
  ModelLoadError,
  IntegrityError,
  AbortError,
  TandemError,
};

/** The error `toWire` described, rebuilt as its class (an unknown one as an `Error` with its name). */
export function fromWire(w: WireError): Error {
  if (w.name === "RateLimitError") return new RateLimitError(w.message, { code: w.code ?? "rate_limited", status: w.status, retryAfter: w.retryAfter });
  const Class = CLASSES[w.name];
  if (Class) return new Class(w.message, { code: w.code ?? w.name, status: w.status });
  return Object.assign(new Error(w.message), { name: w.name });
}
