/**
 * The contract every machine driver meets, as one shared suite (in the manner of Hono's adapter tests):
 * a driver's test file builds a harness for its kind of machine and calls runDriverContract. The suite
 * speaks only of behaviours ("a machine that serves until SIGTERM", "one that ignores SIGTERM", "one that
 * crashes"), so the same tests hold a container driver and a VM driver to the same promises.
 */
import { expect, test } from "vitest";
import type { MachineDriver, MachineSpec, MachineState } from "./driver.js";

export type Behaviour =
  /** Prints "hello <id>", runs until SIGTERM, then prints "bye <id>" and exits 0. */
  | "serve"
  /** Prints "ignoring <id>" and ignores SIGTERM. */
  | "ignore-term"
  /** Prints "tick N" every 100 ms. */
  | "ticker"
  /** Exits with status 3 shortly after every start. */
  | "crash-always"
  /** Exits with status 3 shortly after its first start only; runs on after a restart. */
  | "crash-once"
  /** Prints "hello <id>"; on SIGHUP prints "reloaded" and its params.json; runs until SIGTERM. */
  | "reload";

export interface DriverHarness {
  /** A new driver object over the same host state, as after an agent restart. */
  newDriver(): MachineDriver;
  /** A spec for a machine of this driver's kind with the behaviour; `name` is unique per test. */
  spec(name: string, behaviour: Behaviour, overrides?: Partial<MachineSpec>): MachineSpec;
  /** The backoff the harness's drivers use (initial delay), to bound the restart tests' timing. */
  readonly backoffInitialMs: number;
  /** Kills the machine's processes behind the driver's back (a crash). */
  crash(state: MachineState): Promise<void>;
}

/** Waits until `predicate` holds for the machine's state, polling inspect. */
export async function eventually(
  driver: MachineDriver,
  id: string,
  predicate: (state: MachineState | undefined) => boolean,
  timeoutMs = 10_000,
): Promise<MachineState | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await driver.inspect(id);
    if (predicate(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(
        `machine ${id} did not reach the expected state in ${timeoutMs} ms: ${JSON.stringify(state)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Everything the machine printed so far. */
export async function logText(driver: MachineDriver, id: string, tail?: number): Promise<string> {
  let text = "";
  for await (const chunk of driver.logs(id, tail === undefined ? {} : { tail })) text += chunk;
  return text;
}

/** Waits until the log contains `needle`. */
export async function logContains(
  driver: MachineDriver,
  id: string,
  needle: string,
  timeoutMs = 10_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await logText(driver, id);
    if (text.includes(needle)) return text;
    if (Date.now() > deadline)
      throw new Error(`log of ${id} never contained ${JSON.stringify(needle)}:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let counter = 0;
function unique(base: string): string {
  counter += 1;
  return `${base}-${counter}`;
}

export function runDriverContract(harness: () => DriverHarness): void {
  test("start, inspect, list, stop and remove", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("life"), "serve");
    const started = await driver.start(spec);
    expect(started.status).toBe("running");
    expect(started.pid).toBeGreaterThan(0);
    expect(started.ready).toBe(true); // nothing declared: running counts as ready
    expect((await driver.list()).map((state) => state.id)).toContain(spec.id);
    await logContains(driver, spec.id, `hello ${spec.id}`);
    await driver.stop(spec.id);
    const stopped = await driver.inspect(spec.id);
    expect(stopped?.status).toBe("stopped");
    expect(stopped?.pid).toBeUndefined();
    await driver.remove(spec.id);
    expect(await driver.inspect(spec.id)).toBeUndefined();
    expect((await driver.list()).map((state) => state.id)).not.toContain(spec.id);
  });

  test("start is idempotent; stop and remove are idempotent, also for unknown machines", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("idem"), "serve");
    const first = await driver.start(spec);
    const second = await driver.start(spec);
    expect(second.pid).toBe(first.pid);
    await driver.stop(spec.id);
    await driver.stop(spec.id);
    await driver.remove(spec.id);
    await driver.remove(spec.id);
    await driver.stop(unique("never-started"));
    await driver.remove(unique("never-started"));
    expect(await driver.inspect(spec.id)).toBeUndefined();
  });

  test("a stopped machine starts again", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("again"), "serve");
    const first = await driver.start(spec);
    await driver.stop(spec.id);
    const second = await driver.start(spec);
    expect(second.status).toBe("running");
    expect(second.pid).not.toBe(first.pid);
    await driver.remove(spec.id);
  });

  test("stop is graceful: SIGTERM first, and a machine that exits on it stops at once", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("graceful"), "serve", { stopTimeoutSec: 20 });
    await driver.start(spec);
    await logContains(driver, spec.id, `hello ${spec.id}`);
    const began = Date.now();
    await driver.stop(spec.id);
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(await logText(driver, spec.id)).toContain(`bye ${spec.id}`);
    await driver.remove(spec.id);
  });

  test("stop kills a machine that ignores SIGTERM after the stop timeout", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("stubborn"), "ignore-term", { stopTimeoutSec: 1 });
    await driver.start(spec);
    await logContains(driver, spec.id, `ignoring ${spec.id}`);
    const began = Date.now();
    await driver.stop(spec.id);
    const took = Date.now() - began;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(8_000);
    expect((await driver.inspect(spec.id))?.status).toBe("stopped");
    // The timeout given to stop overrides the spec's.
    await driver.start(spec);
    await logContains(driver, spec.id, `ignoring ${spec.id}`);
    const again = Date.now();
    await driver.stop(spec.id, { timeoutSec: 0 });
    expect(Date.now() - again).toBeLessThan(1_000 + 4_000);
    await driver.remove(spec.id);
  });

  test("logs: everything, the last lines, and following", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("ticker"), "ticker");
    await driver.start(spec);
    await logContains(driver, spec.id, "tick 3");
    const last = await logText(driver, spec.id, 1);
    expect(last.trim().split("\n")).toHaveLength(1);
    expect(last).toMatch(/^tick \d+\n$/);
    const controller = new AbortController();
    let followed = "";
    const seen = /tick (\d+)/g;
    const startAt = Math.max(
      ...[...(await logText(driver, spec.id)).matchAll(seen)].map((m) => Number(m[1])),
    );
    for await (const chunk of driver.logs(spec.id, { follow: true, tail: 0, signal: controller.signal })) {
      followed += chunk;
      if (followed.includes(`tick ${startAt + 3}`)) controller.abort();
    }
    expect(followed).toContain(`tick ${startAt + 3}`);
    await driver.remove(spec.id);
  });

  test("a crash is noticed; with restart policy no the machine stays exited", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("crash-no"), "crash-always", { restart: "no" });
    await driver.start(spec);
    const exited = await eventually(driver, spec.id, (state) => state?.status === "exited");
    expect(exited?.lastExit?.reason).toBeTruthy();
    expect(exited?.restarts).toBe(0);
    await expect(driver.waitUntilReady(spec.id, { timeoutMs: 1_000 })).rejects.toMatchObject({
      code: "MACHINE_EXITED",
    });
    await driver.remove(spec.id);
  });

  test("crashes are restarted with growing backoff (on-failure)", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("crash-loop"), "crash-always", { restart: "on-failure" });
    await driver.start(spec);
    const seenAt: number[] = [];
    let restarts = 0;
    const deadline = Date.now() + 20_000;
    while (restarts < 3 && Date.now() < deadline) {
      const state = await driver.inspect(spec.id);
      if ((state?.restarts ?? 0) > restarts) {
        restarts = state!.restarts;
        seenAt.push(Date.now());
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(restarts).toBeGreaterThanOrEqual(3);
    // Restart n waits initial × 2^(n-1) after the crash before it, so the gaps grow.
    const slack = 60; // the poll above sees a restart up to 20 ms late
    expect(seenAt[1]! - seenAt[0]!).toBeGreaterThanOrEqual(h.backoffInitialMs * 2 - slack);
    expect(seenAt[2]! - seenAt[1]!).toBeGreaterThanOrEqual(h.backoffInitialMs * 4 - slack);
    await driver.stop(spec.id, { timeoutSec: 1 });
    expect((await driver.inspect(spec.id))?.status).toBe("stopped");
    const after = (await driver.inspect(spec.id))?.restarts;
    await new Promise((resolve) => setTimeout(resolve, h.backoffInitialMs * 3));
    expect((await driver.inspect(spec.id))?.restarts).toBe(after); // a stopped machine is not restarted
    await driver.remove(spec.id);
  });

  test("a machine that crashed once is restarted and then keeps running", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("crash-once"), "crash-once", { restart: "always" });
    await driver.start(spec);
    const running = await eventually(
      driver,
      spec.id,
      (state) => state?.restarts === 1 && state.status === "running",
    );
    await new Promise((resolve) => setTimeout(resolve, h.backoffInitialMs * 4));
    const later = await driver.inspect(spec.id);
    expect(later?.status).toBe("running");
    expect(later?.restarts).toBe(1);
    expect(later?.pid).toBe(running?.pid);
    await driver.remove(spec.id);
  });

  test("a new driver adopts running machines and can stop them", async () => {
    const h = harness();
    const first = h.newDriver();
    const spec = h.spec(unique("adopt"), "serve");
    const started = await first.start(spec);
    await first.close(); // the agent goes away; the machine keeps running
    const second = h.newDriver();
    const adopted = (await second.list()).find((state) => state.id === spec.id);
    expect(adopted?.status).toBe("running");
    expect(adopted?.pid).toBe(started.pid);
    await second.stop(spec.id);
    expect((await second.inspect(spec.id))?.status).toBe("stopped");
    await second.remove(spec.id);
  });

  test("a crash while no driver watched is restarted by the driver that adopts the machine", async () => {
    const h = harness();
    const first = h.newDriver();
    const spec = h.spec(unique("orphan"), "serve", { restart: "always" });
    const started = await first.start(spec);
    await first.close();
    await h.crash(started);
    const second = h.newDriver();
    await second.list();
    const restarted = await eventually(
      second,
      spec.id,
      (state) => state?.status === "running" && state.pid !== started.pid,
    );
    expect(restarted?.restarts).toBe(1);
    await second.remove(spec.id);
  });

  test("reconfigure delivers new parameters to the same process (SIGHUP or a reload command)", async () => {
    const h = harness();
    const driver = h.newDriver();
    const spec = h.spec(unique("reload"), "reload", { params: { greeting: ["old"] } });
    const started = await driver.start(spec);
    await logContains(driver, spec.id, `hello ${spec.id}`);
    await driver.reconfigure(spec.id, { params: { greeting: ["new"] }, reload: { kind: "signal" } });
    const log = await logContains(driver, spec.id, '"new"');
    expect(log).toContain("reloaded");
    await driver.reconfigure(spec.id, {
      params: { greeting: ["newer"] },
      reload: { kind: "exec", command: ["/bin/sh", "-c", "grep -q newer /run/collective/params.json"] },
    });
    await expect(
      driver.reconfigure(spec.id, {
        params: { greeting: ["newest"] },
        reload: { kind: "exec", command: ["/bin/sh", "-c", "exit 4"] },
      }),
    ).rejects.toThrow(/reload command .* exited with status 4/);
    const after = await driver.inspect(spec.id);
    expect(after?.pid).toBe(started.pid);
    expect(after?.since).toBe(started.since);
    await driver.stop(spec.id);
    await expect(driver.reconfigure(spec.id, { params: {}, reload: { kind: "signal" } })).rejects.toThrow(
      /only a running machine is reconfigured/,
    );
    await driver.remove(spec.id);
  });
}
