/**
 * The user agent's protocol: one JSON object per line over its unix socket, a response line per request
 * line, in order. Requests and responses carry values and passwords, so neither side ever logs a line or
 * quotes one in an error (even JSON.parse's message quotes its input).
 */
import type { SecretRef, StoreListing } from "./store.js";

export type AgentRequest =
  | { cmd: "status" }
  /** Opens the store; with create, makes a new one when none exists. */
  | { cmd: "unlock"; password: string; create?: boolean }
  | { cmd: "lock" }
  | { cmd: "get"; refs: readonly SecretRef[] }
  | { cmd: "set"; ref: SecretRef; value: string; scope?: string }
  | { cmd: "rm"; ref: SecretRef }
  | { cmd: "rm-shared"; scope: string; name: string }
  | { cmd: "list" }
  | { cmd: "passwd"; old: string; new: string }
  | { cmd: "stop" };

export interface AgentStatus {
  readonly locked: boolean;
  readonly store: string;
  readonly storeExists: boolean;
  readonly pid: number;
  /** Entries in the unlocked store (own values + links + shared values). */
  readonly entries?: number;
}

export interface GetResult {
  readonly values: Array<SecretRef & { value: string; scope?: string }>;
  /** Parameters without a value; `scope` when the parameter is linked to a scope whose value is gone. */
  readonly missing: Array<SecretRef & { scope?: string }>;
}

export interface SetResult {
  readonly unlinkedFrom?: string;
}

export interface RmResult {
  readonly removed: boolean;
  /** For rm-shared: how many parameters used the shared value. */
  readonly links?: number;
}

/** The response type of each command. */
export interface AgentResponses {
  status: AgentStatus;
  unlock: { created: boolean; entries: number };
  lock: { wasLocked: boolean };
  get: GetResult;
  set: SetResult;
  rm: RmResult;
  "rm-shared": RmResult;
  list: StoreListing;
  passwd: Record<string, never>;
  stop: Record<string, never>;
}

export type AgentReply =
  | ({ ok: true } & Record<string, unknown>)
  | { ok: false; error: { code: string; message: string; hint?: string } };

/** A request line may carry a 64 KiB value, JSON-escaped: this is plenty and bounds memory. */
export const MAX_LINE_BYTES = 1024 * 1024;

/** Splits a byte stream into lines; calls onLine per complete line, onOverflow once when a line is too long. */
export function lineSplitter(
  onLine: (line: string) => void,
  onOverflow: () => void,
): (chunk: Buffer) => void {
  let pending: Buffer[] = [];
  let size = 0;
  let overflowed = false;
  return (chunk) => {
    if (overflowed) return;
    let start = 0;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, i));
      onLine(Buffer.concat(pending).toString("utf8"));
      pending = [];
      size = 0;
      start = i + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      size += chunk.length - start;
      if (size > MAX_LINE_BYTES) {
        overflowed = true;
        pending = [];
        onOverflow();
      }
    }
  };
}
