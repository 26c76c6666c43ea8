// The wire protocol of docs/PROTOCOL.md (v1): limits, system actions, the messages a
// Streamer stack sends, and the frames a client sends.

/** API Gateway's WebSocket message limit (128 KB, hard): no frame larger than this is sent. */
export const MAX_MESSAGE_BYTES = 128 * 1024;

/** API Gateway closes a socket that has heard nothing from its client for this long (10 min). */
export const IDLE_TIMEOUT_MS = 10 * 60 * 1000;

/** API Gateway closes every socket this long after it opened (2 h), whatever the traffic. */
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

/** The longest request id the protocol accepts. */
export const MAX_ID_LENGTH = 128;

/** The most parts a split result may have. */
export const MAX_RESULT_PARTS = 1024;

/** System actions; no handler may be registered under the `streamer.` prefix. */
export const SystemAction = {
  Status: "streamer.status",
  Cancel: "streamer.cancel",
  Ping: "streamer.ping",
} as const;

/** The prefix of every reserved action name. */
export const RESERVED_PREFIX = "streamer.";

/** The state of a request on the server. */
export type RequestStatus = "PENDING" | "PROCESSING" | "COMPLETED" | "FAILED" | "CANCELLED";

/** The error object of an `error` message and of a failed or cancelled `status`. */
export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  /** `retry_after_ms` (the wait, no clock needed) is preferred to `after` (a server time) when both are present. */
  retry?: { retryable: boolean; after?: string; retry_after_ms?: number; max_tries?: number; attempt?: number };
}

/** `ack`: an async request was queued. */
export interface AckMessage {
  type: "ack";
  request_id: string;
  action: string;
  status: RequestStatus;
}

/** `progress`: one progress update of a request. */
export interface ProgressMessage {
  type: "progress";
  request_id: string;
  percentage: number;
  message: string;
  metadata?: Record<string, unknown>;
  timestamp: string;
}

/** `result`: the terminal message of a successful request, whole or one part of it. */
export interface ResultMessage {
  type: "result";
  request_id: string;
  action?: string;
  success: boolean;
  data?: unknown;
  metadata?: Record<string, unknown>;
  duration_ms: number;
  part?: { index: number; count: number };
  data_part?: string;
}

/** `error`: the terminal message of a failed request, or the answer to a refused frame. */
export interface ErrorMessage {
  type: "error";
  request_id: string;
  error: WireError | null;
}

/** `status`: the answer to streamer.status and streamer.cancel, and to an id sent again. */
export interface StatusMessage {
  type: "status";
  request_id: string;
  status: RequestStatus;
  percentage: number;
  message: string;
  result: unknown;
  error: WireError | null;
}

/** `pong`: the answer to streamer.ping. */
export interface PongMessage {
  type: "pong";
}

/** Any message a Streamer stack sends. */
export type ServerMessage = AckMessage | ProgressMessage | ResultMessage | ErrorMessage | StatusMessage | PongMessage;

/**
 * Reports whether id is a request id the protocol accepts: 1 to 128 characters of
 * `[A-Za-z0-9._:-]`.
 */
export function isValidId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && /^[A-Za-z0-9._:-]+$/.test(id);
}

/** The client-to-server frame of an action; payload undefined sends none. */
export function encodeFrame(action: string, id: string, payload: unknown): string {
  const frame: { action: string; id: string; payload?: unknown } = { action, id };
  if (payload !== undefined) {
    frame.payload = payload;
  }
  return JSON.stringify(frame);
}

/** The frame of a system action about request id (streamer.status, streamer.cancel). */
export function systemFrame(action: string, id: string): string {
  return JSON.stringify({ action, payload: { id } });
}

/** The streamer.ping frame. */
export const PING_FRAME = JSON.stringify({ action: SystemAction.Ping });

const utf8 = new TextEncoder();

/** The size of a frame on the wire: its UTF-8 bytes. */
export function byteLength(frame: string): number {
  return utf8.encode(frame).length;
}

/**
 * Parses one message from the server, or returns undefined for text that is not a JSON
 * object with a string `type`. (API Gateway's own messages, such as an integration
 * timeout, have no type and concern no request the client can name.)
 */
export function parseServerMessage(text: string): ServerMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || typeof (value as { type?: unknown }).type !== "string") {
    return undefined;
  }
  return value as ServerMessage;
}
