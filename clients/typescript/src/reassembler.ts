import { MAX_RESULT_PARTS, type ResultMessage } from "./protocol.js";

/** The most characters of reassembled JSON text per result (the Go client's bound). */
const MAX_RESULT_CHARS = 16 * 1024 * 1024;

/** The most results held partly received at once. */
const MAX_PENDING = 100;

/** The outcome of adding a result message: still waiting, or the whole result. */
export type Reassembled = { done: false } | { done: true; message: ResultMessage };

interface Partial {
  parts: (string | undefined)[];
  got: number;
  chars: number;
  last?: ResultMessage;
}

/**
 * Puts split results back together (PROTOCOL.md, "Large results"): the `data_part`
 * strings of a result's parts, in `index` order, are the JSON text of its `data`. A
 * whole result comes straight back. A malformed part (bad index or count, a count that
 * disagrees with earlier parts, a duplicate, a bound exceeded, text that is not JSON)
 * throws and drops what was held for that request. It is bounded: the protocol's 1,024
 * parts per result, 16 Mi characters per result and 100 results partly received at once.
 */
export class Reassembler {
  readonly #pending = new Map<string, Partial>();

  /** Takes one result message; see the class comment. */
  add(msg: ResultMessage): Reassembled {
    const part = msg.part;
    if (!part) {
      return { done: true, message: msg };
    }
    const id = msg.request_id;
    const { index, count } = part;
    if (
      !Number.isInteger(index) ||
      !Number.isInteger(count) ||
      count < 1 ||
      count > MAX_RESULT_PARTS ||
      index < 0 ||
      index >= count
    ) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: bad result part ${index} of ${count} (max ${MAX_RESULT_PARTS} parts)`);
    }
    let st = this.#pending.get(id);
    if (!st) {
      if (this.#pending.size >= MAX_PENDING) {
        throw new Error(`streamer: request ${id}: too many split results in progress`);
      }
      st = { parts: new Array<string | undefined>(count), got: 0, chars: 0 };
      this.#pending.set(id, st);
    }
    if (st.parts.length !== count) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: part count ${count}, earlier parts said ${st.parts.length}`);
    }
    if (st.parts[index] !== undefined) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: duplicate part ${index}`);
    }
    const text = typeof msg.data_part === "string" ? msg.data_part : "";
    st.chars += text.length;
    if (st.chars > MAX_RESULT_CHARS) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: result over ${MAX_RESULT_CHARS} characters`);
    }
    st.parts[index] = text;
    st.got++;
    if (index === count - 1) {
      st.last = msg;
    }
    if (st.got < count) {
      return { done: false };
    }
    this.#pending.delete(id);
    let data: unknown;
    try {
      data = JSON.parse(st.parts.join(""));
    } catch (err) {
      throw new Error(`streamer: request ${id}: the reassembled result is not JSON`, { cause: err });
    }
    const whole: ResultMessage = { ...(st.last ?? msg), type: "result", data };
    delete whole.part;
    delete whole.data_part;
    return { done: true, message: whole };
  }

  /** Drops the parts held for a request: it ended, or the answers will come again (a resume). */
  discard(requestId: string): void {
    this.#pending.delete(requestId);
  }

  /** Reports whether parts of a request's result are held, waiting for the rest. */
  holds(requestId: string): boolean {
    return this.#pending.has(requestId);
  }
}
