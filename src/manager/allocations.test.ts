import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Evaluation, evaluateFile } from "../cvl/index.js";
import { openDatabase } from "../state/database.js";
import { allocate, release } from "./allocations.js";
import { resolveParams } from "./resolve-params.js";

const acme = join(import.meta.dirname, "../cvl/testdata/paper/acme.cvl");

async function evaluateAcme(): Promise<Evaluation> {
  const result = await evaluateFile(acme);
  expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return result.evaluation!;
}

function insertInstance(db: ReturnType<typeof openDatabase>, id: string): void {
  db.prepare(
    "INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES (?, ?, 'X', 'running', '{}', '', '')",
  ).run(id, `/f/${id}.cvl`);
}

describe("allocate", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "cvt-alloc-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives the paper's Groupware one network, an address per interface and a public address for the export", async () => {
    const db = openDatabase(join(dir, "state.db"));
    insertInstance(db, "acme");
    const a = allocate(db, "acme", await evaluateAcme());
    expect([...a.networks]).toEqual([["", 4096]]);
    const byPath = Object.fromEntries(a.interfaces.map((i) => [i.path, `${i.network} ${i.ip} ${i.mac}`]));
    // f.ethernet0 is the VAN's defaultroute, so it gets .1; the others follow in order.
    expect(byPath).toEqual({
      "f.ethernet0": "van 10.16.0.1 02:c0:0a:10:00:01",
      "d.ethernet0": "van 10.16.0.2 02:c0:0a:10:00:02",
      "l.ethernet0": "van 10.16.0.3 02:c0:0a:10:00:03",
      "f.ethernet1": "public 10.15.255.2 02:c0:0a:0f:ff:02",
    });
    expect(a.topology.unconnected).toEqual([]);
    db.close();
  });

  it("fills pending values, percent-encoding them inside maps", async () => {
    const db = openDatabase(join(dir, "state.db"));
    insertInstance(db, "acme");
    const evaluation = await evaluateAcme();
    const a = allocate(db, "acme", evaluation);
    const d = evaluation.components.find((c) => c.path === "d")!;
    const resolved = resolveParams(d, a.values);
    expect(resolved.unresolved).toEqual([]);
    expect(resolved.params.dnshosts).toEqual([
      "name=l&ip=10%2E16%2E0%2E3",
      "name=d&ip=10%2E16%2E0%2E2",
      "name=f&ip=10%2E16%2E0%2E1",
    ]);
    expect(resolved.params["ethernet0.ip"]).toEqual(["10.16.0.2"]);
    expect(resolved.params["ethernet0.netmask"]).toEqual(["255.255.255.0"]);
    const root = evaluation.components.find((c) => c.path === "")!;
    expect(resolveParams(root, a.values).params.defaultroute).toEqual(["10.16.0.1"]);
    expect(resolveParams(root, a.values).params.subnet).toEqual(["10.16.0.0"]);
    db.close();
  });

  it("is idempotent and never hands out a network id or address twice", async () => {
    const db = openDatabase(join(dir, "state.db"));
    const evaluation = await evaluateAcme();
    insertInstance(db, "one");
    insertInstance(db, "two");
    const first = allocate(db, "one", evaluation);
    const again = allocate(db, "one", evaluation);
    expect(again.interfaces).toEqual(first.interfaces);
    const second = allocate(db, "two", evaluation);
    expect(second.networks.get("")).toBe(4097);
    const publicIps = [first, second].map((a) => a.interfaces.find((i) => i.network === "public")!.ip);
    expect(new Set(publicIps).size).toBe(2);
    release(db, "one");
    insertInstance(db, "three");
    expect(allocate(db, "three", evaluation).networks.get("")).toBe(4096);
    db.close();
  });

  it("keeps allocations unique when several processes allocate at once", async () => {
    const path = join(dir, "state.db");
    openDatabase(path).close();
    const script = `
      import { evaluateFile } from ${JSON.stringify(join(import.meta.dirname, "../../dist/src/cvl/index.js"))};
      import { openDatabase } from ${JSON.stringify(join(import.meta.dirname, "../../dist/src/state/database.js"))};
      import { allocate } from ${JSON.stringify(join(import.meta.dirname, "../../dist/src/manager/allocations.js"))};
      const db = openDatabase(process.argv[1]);
      const { evaluation } = await evaluateFile(process.argv[2]);
      for (let i = 0; i < 5; i++) {
        const id = process.argv[3] + "-" + i;
        db.prepare("INSERT INTO instances (id, file, object, desired, evaluation, created_at, updated_at) VALUES (?, ?, 'X', 'running', '{}', '', '')").run(id, "/f/" + id);
        allocate(db, id, evaluation);
      }
      db.close();`;
    const runs = ["p1", "p2", "p3", "p4"].map(
      (tag) =>
        new Promise<number>((resolve) => {
          const child = spawn(process.execPath, ["--input-type=module", "-e", script, path, acme, tag], {
            stdio: "inherit",
          });
          child.on("close", (code) => resolve(code ?? 1));
        }),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0]);
    const db = openDatabase(path);
    const vnis = db.prepare("SELECT vni FROM networks").all() as Array<{ vni: number }>;
    expect(vnis.length).toBe(20);
    expect(new Set(vnis.map((r) => r.vni)).size).toBe(20);
    const ips = db.prepare("SELECT network, vni, ip FROM addresses").all() as Array<{
      network: string;
      vni: number;
      ip: string;
    }>;
    expect(new Set(ips.map((r) => `${r.network}/${r.vni}/${r.ip}`)).size).toBe(ips.length);
    db.close();
  });
});
