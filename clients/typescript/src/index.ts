/**
 * @streamer-go/client: the browser and Node client of a Streamer WebSocket API
 * (docs/PROTOCOL.md). Connect with a token, call actions, follow their progress, get
 * exactly one outcome per call; the client keeps the socket alive, reconnects and
 * resumes calls in flight, and reassembles results split into parts.
 *
 * @packageDocumentation
 */
export {
  StreamerClient,
  defaults,
  type ClientOptions,
  type ConnectionState,
  type ResumeOptions,
  type StateChange,
  type TokenSource,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.js";
export type { CallOptions, CallResponse, StreamerCall } from "./call.js";
export type { Progress } from "./progress.js";
export {
  ConnectionError,
  ErrorCode,
  StreamerError,
  isRetryableCode,
  isStreamerError,
  type ConnectionErrorReason,
  type StreamerErrorInit,
} from "./errors.js";
export {
  IDLE_TIMEOUT_MS,
  MAX_CONNECTION_MS,
  MAX_ID_LENGTH,
  MAX_MESSAGE_BYTES,
  MAX_RESULT_PARTS,
  isValidId,
  type RequestStatus,
} from "./protocol.js";
