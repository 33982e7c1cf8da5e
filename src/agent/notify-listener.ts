/**
 * The host end of the sd_notify protocol: a unix datagram socket bound into the container, named by
 * $NOTIFY_SOCKET. Node cannot receive unix datagrams, so socat receives them and prints them; the
 * listener exists only until READY=1 arrives. Its pid is recorded so that a restarted agent can end the
 * listener an earlier one left behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, stat, unlink } from "node:fs/promises";
import { CollectiveError } from "../errors.js";

export interface NotifyListener {
  readonly pid: number | undefined;
  close(): void;
}

/** Whether READY=1 is one of the newline-separated assignments in what socat printed so far. */
export function hasReady(received: string): boolean {
  return received.split(/\n/).some((line) => line.trim() === "READY=1");
}

/**
 * Listens on `socketPath` (owned by `owner`, so that a service not running as root can send) and calls
 * onReady once. Resolves once the socket exists.
 */
export async function listenForNotify(
  socketPath: string,
  owner: { uid: number; gid: number },
  onReady: () => void,
): Promise<NotifyListener> {
  await unlink(socketPath).catch(() => undefined);
  const address = `UNIX-RECV:${socketPath},user=${owner.uid},group=${owner.gid},mode=0600`;
  const child: ChildProcess = spawn("socat", ["-u", address, "STDOUT"], {
    stdio: ["ignore", "pipe", "ignore"],
    shell: false,
  });
  let received = "";
  let done = false;
  const close = (): void => {
    done = true;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    if (done) return;
    // Datagrams arrive without separators; systemd's clients end each assignment with a newline or send
    // one per datagram, so a line-wise look is enough.
    received = (received + chunk).slice(-4096);
    if (hasReady(received.replace(/READY=1(?=[A-Z])/g, "READY=1\n"))) {
      close();
      onReady();
    }
  });
  child.on("error", () => undefined);
  child.unref();
  (child.stdout as { unref?: () => void } | null)?.unref?.();
  await waitForSocket(socketPath, child);
  return { pid: child.pid, close };
}

async function waitForSocket(socketPath: string, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if ((await stat(socketPath).catch(() => undefined))?.isSocket()) return;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new CollectiveError("NOTIFY_SOCKET_FAILED", `socat did not create the notify socket ${socketPath}`, {
    hint: "Install socat (apt-get install socat): the sd_notify readiness protocol needs it.",
  });
}

/** Ends a listener left by an earlier agent, if that pid is still socat on this socket. */
export async function endStaleListener(pid: number | undefined, socketPath: string): Promise<void> {
  if (pid === undefined) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (cmdline.startsWith("socat\0") && cmdline.includes(socketPath)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
