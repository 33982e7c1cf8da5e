import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkPublicPool, publicPoolConflicts } from "./host-conflicts.js";
import { PRODUCTION_NAMING } from "./host-names.js";
import { parsePublicPool } from "./public-pool.js";

const dir = mkdtempSync(join(tmpdir(), "cvt-conflicts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function resolvConf(text: string): string {
  const path = join(dir, `resolv-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, text);
  return path;
}

describe("public pool conflicts", () => {
  it("refuses a pool that holds the host's DNS server, naming it", async () => {
    const resolv = resolvConf("# comment\nnameserver 10.200.7.53\nnameserver fd00::1\n");
    const pool = parsePublicPool("10.200.7.0/24");
    expect(await publicPoolConflicts(pool, PRODUCTION_NAMING, { resolvConf: resolv })).toEqual([
      "the DNS server 10.200.7.53 (/etc/resolv.conf)",
    ]);
    await expect(checkPublicPool(pool, PRODUCTION_NAMING, { resolvConf: resolv })).rejects.toThrow(
      /public pool 10\.200\.7\.0\/24 contains .*DNS server 10\.200\.7\.53/,
    );
  });

  it("refuses a pool that overlaps a network of one of the host's own interfaces", async () => {
    // The loopback address is on every host: a pool covering 127.0.0.0/24 overlaps it.
    const conflicts = await publicPoolConflicts(parsePublicPool("127.0.0.0/24"), PRODUCTION_NAMING, {
      resolvConf: resolvConf(""),
    });
    expect(conflicts).toContain("the address 127.0.0.1 of lo");
  });

  it("accepts a pool that nothing on the host uses", async () => {
    expect(
      await publicPoolConflicts(parsePublicPool("10.201.99.0/24"), PRODUCTION_NAMING, {
        resolvConf: resolvConf("nameserver 10.1.2.3\n"),
      }),
    ).toEqual([]);
  });
});
