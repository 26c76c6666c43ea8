import type { WireError } from "./protocol.js";

/** The error codes of docs/PROTOCOL.md. */
export const ErrorCode = {
  /** The payload or the message is invalid. Not retryable. */
  Validation: "VALIDATION_ERROR",
  /** No handler is registered for the action. Not retryable. */
  InvalidAction: "INVALID_ACTION",
  /** No such request for this user (another user's request is not revealed). Not retryable. */
  NotFound: "NOT_FOUND",
  /** The token is bad. Not retryable. */
  Unauthorized: "UNAUTHORIZED",
  /** The request is not yours. Not retryable. */
  Forbidden: "FORBIDDEN",
  /** Over the 128 KB message limit or the 400 KB item limit. Not retryable. */
  PayloadTooLarge: "PAYLOAD_TOO_LARGE",
  /** Throttled. Retryable. */
  RateLimited: "RATE_LIMITED",
  /** The work ran out of time. Retryable. */
  Timeout: "TIMEOUT",
  /** Unexpected; the details are in the server's logs. Retryable. */
  InternalError: "INTERNAL_ERROR",
  /** A dependency of the server is down. Retryable. */
  ServiceUnavailable: "SERVICE_UNAVAILABLE",
  /** Cancelled by the client (streamer.cancel). Not retryable. */
  Cancelled: "CANCELLED",
} as const;

/** One of the protocol's error codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const retryableCodes: ReadonlySet<string> = new Set<string>([
  ErrorCode.RateLimited,
  ErrorCode.Timeout,
  ErrorCode.InternalError,
  ErrorCode.ServiceUnavailable,
]);

/** Reports whether PROTOCOL.md marks code as retryable. */
export function isRetryableCode(code: string): boolean {
  return retryableCodes.has(code);
}

/** What StreamerError's constructor takes besides the code and message. */
export interface StreamerErrorInit {
  /** The request the error is about. */
  requestId?: string;
  /** Machine-readable details the server sent. */
  details?: Record<string, unknown>;
  /** Whether the same request may be sent again; default: what PROTOCOL.md says of the code. */
  retryable?: boolean;
  /** When the server says to retry: milliseconds from when the error arrived. */
  retryAfterMs?: number;
}

/**
 * A failure reported by the server, with the protocol's code (or one the client applies
 * the protocol's rules to itself, such as PAYLOAD_TOO_LARGE before sending). A code
 * outside the table is kept as it is: a handler may define its own.
 */
export class StreamerError extends Error {
  /** The protocol's code, e.g. "VALIDATION_ERROR". */
  readonly code: ErrorCode | (string & {});
  /** Whether the same request may be sent again. */
  readonly retryable: boolean;
  /** When the server says to retry, in milliseconds from when the error arrived. */
  readonly retryAfterMs: number | undefined;
  /** Machine-readable details, e.g. {"field": "payload"}. */
  readonly details: Record<string, unknown> | undefined;
  /** The request the error is about, when there is one. */
  readonly requestId: string | undefined;

  constructor(code: string, message: string, init: StreamerErrorInit = {}) {
    super(`${code}: ${message}`);
    this.name = "StreamerError";
    this.code = code;
    this.retryable = init.retryable ?? isRetryableCode(code);
    this.retryAfterMs = init.retryAfterMs;
    this.details = init.details;
    this.requestId = init.requestId;
  }

  /** Builds the error a server message carries; now is when it arrived (ms since the epoch). */
  static fromWire(err: WireError | null | undefined, requestId: string, now = Date.now()): StreamerError {
    if (!err || typeof err.code !== "string") {
      return new StreamerError(ErrorCode.InternalError, "error without details", { requestId });
    }
    let retryAfterMs: number | undefined;
    const wait = err.retry?.retry_after_ms;
    const after = err.retry?.after ? Date.parse(err.retry.after) : NaN;
    if (typeof wait === "number" && Number.isFinite(wait)) {
      retryAfterMs = Math.max(0, wait); // a wait needs no agreement between the clocks
    } else if (!Number.isNaN(after)) {
      retryAfterMs = Math.max(0, after - now);
    }
    return new StreamerError(err.code, String(err.message ?? ""), {
      requestId,
      details: err.details ?? undefined,
      retryable: err.retry?.retryable,
      retryAfterMs,
    });
  }
}

/** Why a ConnectionError happened. */
export type ConnectionErrorReason =
  /** The first connection could not be opened (a refused token looks the same in a browser). */
  | "connect_failed"
  /** The socket dropped and every reconnect attempt failed. */
  | "reconnect_failed"
  /** close() was called. */
  | "closed"
  /** The operation needs an open socket and there is none right now. */
  | "not_connected";

/**
 * The client could not talk to the server: the call's request may go on there (reconnect
 * and resume it by its id). Browsers do not tell why a WebSocket handshake failed, so a
 * refused token (HTTP 401) and an unreachable server both give "connect_failed".
 */
export class ConnectionError extends Error {
  /** What went wrong. */
  readonly reason: ConnectionErrorReason;

  constructor(reason: ConnectionErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectionError";
    this.reason = reason;
  }
}

/**
 * Reports whether err is a StreamerError, and with a code whether it has that code:
 * `if (isStreamerError(e, ErrorCode.Cancelled)) ...`.
 */
export function isStreamerError(err: unknown, code?: string): err is StreamerError {
  return err instanceof StreamerError && (code === undefined || err.code === code);
}
