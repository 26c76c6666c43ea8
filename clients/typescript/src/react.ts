/**
 * @streamer-go/client/react: a provider that hands a StreamerClient to a component tree,
 * and hooks to run calls and show the connection's state. React 18 or later.
 *
 * @packageDocumentation
 */
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactElement,
  type ReactNode,
} from "react";

import type { CallOptions, StreamerCall } from "./call.js";
import type { ConnectionState, StreamerClient } from "./client.js";
import type { Progress } from "./progress.js";

const ClientContext = createContext<StreamerClient | null>(null);

/** Props of StreamerProvider. */
export interface StreamerProviderProps {
  /** The client the hooks below use; the provider does not close it. */
  client: StreamerClient;
  children?: ReactNode;
}

/** Makes client available to useStreamerClient, useConnectionState and useStreamerCall below it. */
export function StreamerProvider({ client, children }: StreamerProviderProps): ReactElement {
  return createElement(ClientContext.Provider, { value: client }, children);
}

/** Returns the client of the nearest StreamerProvider; throws outside one. */
export function useStreamerClient(): StreamerClient {
  const client = useContext(ClientContext);
  if (!client) {
    throw new Error("streamer: useStreamerClient needs a <StreamerProvider client={...}> above it");
  }
  return client;
}

/** Returns the connection's state and re-renders when it changes: connecting, open, reconnecting, closed. */
export function useConnectionState(): ConnectionState {
  const client = useStreamerClient();
  const subscribe = useCallback((onChange: () => void) => client.on("state", onChange), [client]);
  const state = () => client.state;
  return useSyncExternalStore(subscribe, state, state);
}

/** The state of a useStreamerCall hook: idle, running (with progress), done, or error. */
export type CallState<T> =
  | { state: "idle"; id?: undefined; progress?: undefined; acknowledged?: undefined; result?: undefined; error?: undefined }
  | { state: "running"; id: string; progress: Progress | undefined; acknowledged: boolean; result?: undefined; error?: undefined }
  | { state: "done"; id: string; progress: Progress | undefined; acknowledged: boolean; result: T; error?: undefined }
  | { state: "error"; id: string; progress: Progress | undefined; acknowledged: boolean; result?: undefined; error: Error };

/** Options of one run: the CallOptions the hook does not set itself. */
export type RunOptions = Pick<CallOptions, "id" | "signal">;

/** What useStreamerCall returns: the call's state, and what to do with it. */
export type UseStreamerCall<T> = CallState<T> & {
  /**
   * Starts a call of the hook's action with payload. One call at a time: a run while
   * another is going cancels that one, whose outcome is then ignored.
   */
  run(payload?: unknown, options?: RunOptions): StreamerCall<T>;
  /** Cancels the running call (streamer.cancel); it ends in the error state with CANCELLED. */
  cancel(): void;
  /** Cancels the running call, if any, and goes back to idle. */
  reset(): void;
};

/**
 * Runs calls of action through the provider's client and tracks the latest one: idle,
 * then running with its progress, then done with its result or error (a StreamerError
 * with the protocol's code, or a ConnectionError). A call still running when the
 * component unmounts is cancelled.
 */
export function useStreamerCall<T = unknown>(action: string): UseStreamerCall<T> {
  const client = useStreamerClient();
  const [state, setState] = useState<CallState<T>>({ state: "idle" });
  const current = useRef<StreamerCall<T> | null>(null);

  const run = useCallback(
    (payload?: unknown, options: RunOptions = {}): StreamerCall<T> => {
      current.current?.cancel();
      const update = (call: StreamerCall<T>, next: CallState<T>) => {
        if (current.current === call) {
          setState(next);
        }
      };
      let latest: Progress | undefined;
      const call: StreamerCall<T> = client.call<T>(action, payload, {
        ...options,
        onProgress: (progress) => {
          latest = progress;
          update(call, { state: "running", id: call.id, progress, acknowledged: call.acknowledged });
        },
        onStatus: (status) => {
          if (status === "PENDING" || status === "PROCESSING") {
            update(call, { state: "running", id: call.id, progress: latest, acknowledged: call.acknowledged });
          }
        },
      });
      current.current = call;
      setState({ state: "running", id: call.id, progress: undefined, acknowledged: false });
      call.result.then(
        (result) => update(call, { state: "done", id: call.id, progress: latest, acknowledged: call.acknowledged, result }),
        (error: unknown) =>
          update(call, {
            state: "error",
            id: call.id,
            progress: latest,
            acknowledged: call.acknowledged,
            error: error instanceof Error ? error : new Error(String(error)),
          }),
      );
      return call;
    },
    [client, action],
  );

  const cancel = useCallback(() => current.current?.cancel(), []);
  const reset = useCallback(() => {
    current.current?.cancel();
    current.current = null;
    setState({ state: "idle" });
  }, []);

  useEffect(
    () => () => {
      current.current?.cancel();
      current.current = null;
    },
    [],
  );

  return { ...state, run, cancel, reset };
}
