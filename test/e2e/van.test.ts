/**
 * The example VAN end to end, through the CLI and a real daemon: 5 container appliances in 3 waves on
 * real bridges, namespaces and nftables; the web pages fetched from the host through the firewall's
 * public address; a name resolved by the DNS appliance from inside another component; data on a data
 * disk surviving stop and start; and after the stop, nothing of the utility left on the machine.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  emptyObjects,
  ensureRootfs,
  eventually,
  type HostObjects,
  httpGet,
  run,
  type StatusJson,
  Utility,
  vanMachines,
  vanSource,
  writeFile,
} from "./kit.js";

const utility = new Utility("van");
let file = "";
let before: HostObjects;

beforeAll(async () => {
  await ensureRootfs();
  file = writeFile(utility.dir, "demo.cvl", vanSource());
  before = await utility.snapshot();
  await utility.init();
}, 120_000);

afterAll(async () => {
  await utility.cleanup();
}, 60_000);

function publicAddress(status: StatusJson): string {
  const f = status.appliances[0]!.components.find((c) => c.path === "f")!;
  return f.interfaces.ethernet1!.ip;
}

describe("the example VAN", { timeout: 120_000 }, () => {
  let status: StatusJson;

  test("starts through the CLI, every component running, with its addresses", async () => {
    const started = await utility.cui("start", file);
    expect(started.stderr).not.toMatch(/error/i);
    expect(started.code).toBe(0);
    // Progress lines, wave by wave: d before the web servers, the web servers before the firewall.
    const order = (path: string) => started.stderr.indexOf(`] ${path}: running`);
    expect(order("d")).toBeGreaterThanOrEqual(0);
    for (const w of ["h", "www", "blog"]) expect(order(w)).toBeGreaterThan(order("d"));
    for (const w of ["h", "www", "blog"]) expect(order("f")).toBeGreaterThan(order(w));

    status = await utility.status(file);
    expect(status.appliances).toHaveLength(1);
    const appliance = status.appliances[0]!;
    expect(appliance).toMatchObject({ file, name: "Demo", state: "running" });
    const machines = appliance.components.filter((c) => c.kind !== "van");
    expect(machines.map((c) => c.path).sort()).toEqual(vanMachines);
    const subnet = machines[0]!.interfaces.ethernet0!.ip.split(".").slice(0, 3).join(".");
    const ips = new Set<string>();
    const macs = new Set<string>();
    for (const c of appliance.components) {
      expect(c.state, c.path).toBe("running");
      expect(c.restarts, c.path).toBe(0);
      expect(Number.isNaN(Date.parse(c.since))).toBe(false);
      if (c.kind === "van") continue;
      expect(c.kind).toBe("container");
      expect(c.interfaces.ethernet0!.ip.startsWith(`${subnet}.`)).toBe(true);
      for (const i of Object.values(c.interfaces)) {
        expect(i.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
        ips.add(i.ip);
        macs.add(i.mac);
      }
    }
    expect(ips.size).toBe(6);
    expect(macs.size).toBe(6);
    // The gateway is the VAN's default route (.1) and has a public address from this utility's pool.
    expect(machines.find((c) => c.path === "f")!.interfaces.ethernet0!.ip).toBe(`${subnet}.1`);
    expect(publicAddress(status).startsWith(`${utility.publicNet}.`)).toBe(true);

    // One runc container per machine component, each running.
    const containers = await utility.containers();
    expect([...containers.keys()].sort()).toEqual(
      vanMachines.map((p) => `${appliance.instance}.${p}`).sort(),
    );
    for (const c of containers.values()) expect(c.status).toBe("running");
  });

  test("serves both web pages from the host through the firewall's public address", async () => {
    const address = publicAddress(status);
    const www = await httpGet(address, 80);
    expect(www.status).toBe(200);
    expect(www.body).toContain("<h1>Welcome to the Collective</h1>");
    expect(www.body).toContain("acme.example");
    const blog = await httpGet(address, 8080);
    expect(blog.status).toBe(200);
    expect(blog.body).toContain("<h1>A blog</h1>");
  });

  test("resolves components' names through the DNS appliance from inside another component", async () => {
    const appliance = status.appliances[0]!;
    const ip = (path: string) => appliance.components.find((c) => c.path === path)!.interfaces.ethernet0!.ip;
    const dns = ip("d");
    const lookup = await utility.exec(`${appliance.instance}.www`, "nslookup", "f.acme.example", dns);
    expect(lookup.code, lookup.stderr).toBe(0);
    expect(lookup.stdout).toContain(ip("f"));
    const short = await utility.exec(`${appliance.instance}.blog`, "nslookup", "h", dns);
    expect(short.stdout).toContain(ip("h"));
  });

  test("the DHCP appliance keeps running (it needs CAP_NET_RAW, and declares it)", async () => {
    const instance = status.appliances[0]!.instance;
    // Give a crash-looping process time to show: the driver restarts it with backoff.
    await new Promise((r) => setTimeout(r, 1500));
    const containers = await utility.containers();
    expect(containers.get(`${instance}.h`)?.status).toBe("running");
    const logs = await utility.cui("logs", file, "h");
    expect(logs.stdout).toContain("udhcpd: started");
    expect(logs.stdout).not.toMatch(/not permitted/);
    const again = await utility.status(file);
    expect(again.appliances[0]!.components.find((c) => c.path === "h")).toMatchObject({
      state: "running",
      restarts: 0,
    });
  });

  test("data written to a data disk survives stop and start", async () => {
    const instance = status.appliances[0]!.instance;
    const marker = `kept-${Date.now()}`;
    const wrote = await utility.exec(`${instance}.www`, "sh", "-c", `echo ${marker} > /srv/www/marker.txt`);
    expect(wrote.code, wrote.stderr).toBe(0);
    const firstPage = (await httpGet(publicAddress(status), 80)).body;

    const stopped = await utility.cui("stop", file);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect((await utility.status(file)).appliances[0]!.state).toBe("stopped");
    expect((await utility.snapshot()).mounts).toEqual(before.mounts);

    const restarted = await utility.cui("start", file);
    expect(restarted.code, restarted.stderr).toBe(0);
    status = await utility.status(file);
    const address = publicAddress(status);
    const read = await eventually("the marker over HTTP", 10_000, async () => {
      const r = await httpGet(address, 80, "/marker.txt");
      return r.status === 200 ? r : undefined;
    });
    expect(read.body.trim()).toBe(marker);
    // The page written at first start is the same file, not a new one.
    expect((await httpGet(address, 80)).body).toBe(firstPage);
  });

  test("stop leaves the machine exactly as before", async () => {
    const during = await utility.snapshot();
    expect(during.netns).toHaveLength(5);
    expect(during.runcContainers).toHaveLength(5);
    expect(during.loopDevices).toHaveLength(2); // www's and blog's data disks
    expect(during.nftTables.length).toBeGreaterThan(0);

    const stopped = await utility.cui("stop", file);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout).toMatch(/stopped 5 component\(s\)/);
    // Reverse order: the firewall stops first, the DNS server last.
    expect(stopped.stderr.indexOf("f: stopped")).toBeLessThan(stopped.stderr.indexOf("www: stopping"));
    expect(stopped.stderr.indexOf("d: stopping")).toBeGreaterThan(stopped.stderr.indexOf("www: stopped"));

    const after = await utility.snapshot();
    expect(after).toEqual(before);
    // Nothing with this utility's prefix or under its state directory remains (cgroup parent aside,
    // which holds no container).
    expect({ ...after, cgroups: [] }).toEqual(emptyObjects());
    expect(after.cgroups).toEqual([]);
    // The host no longer routes the public address to a bridge of the utility (this network's
    // catch-all answers HTTP anywhere, so "no answer" cannot be the test).
    const route = await run("ip", ["route", "get", publicAddress(status)]);
    expect(route.stdout).not.toContain(utility.prefix);
  });
});
