/**
 * The canary test of sensitive parameters (issue: "a sensitive value exists in plain text only in the
 * user agent's memory, on the wire to the utility, and inside the appliance"). Every sensitive parameter
 * of the example VAN gets a unique canary; then start, status, plan, update, logs, a failing start, a
 * daemon restart and stop run through the real CLI, user agent and runc; then the state directory, the
 * daemon's log, the host cache, every /proc/PID/cmdline and environ on the machine and everything the
 * CLI and the API printed are searched for each canary, also base64, hex and percent-encoded: the only
 * hits allowed are the appliance's own secret files.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { apiClient } from "../../src/daemon/client.js";
import { ensureRootfs, eventually, run, type StatusJson, Utility, vanSource } from "./kit.js";

const utility = new Utility("secrets");
const canaries = {
  // busybox httpd reads its password from a config line, where # starts a comment: none here.
  site: "Kx9!canary-site/ü+=",
  blog: "Zq7%canary-blog&=/",
  blog2: "Wv3!canary-blog2?+",
};
const transcript: string[] = [];
let file = "";

const env = () => ({
  ...utility.env,
  COLLECTIVE_AGENT_DIR: join(utility.dir, "agent"),
  HOME: join(utility.dir, "home"),
});

async function cui(args: string[], stdin?: string) {
  const r = await run(
    process.execPath,
    [join(import.meta.dirname, "../../bin/cui.js"), "--state-dir", utility.stateDir, ...args],
    env(),
    stdin,
  );
  transcript.push(r.stdout, r.stderr);
  return r;
}

async function cuiOk(args: string[], stdin?: string) {
  const r = await cui(args, stdin);
  if (r.code !== 0) throw new Error(`cui ${args.join(" ")} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** Every form a canary could leak in. */
function forms(value: string): string[] {
  const bytes = Buffer.from(value);
  return [
    value,
    bytes.toString("base64"),
    bytes.toString("base64url"),
    bytes.toString("hex"),
    encodeURIComponent(value),
    JSON.stringify(value).slice(1, -1),
  ];
}

/** Files under `root` (not following links), skipping the appliances' own secret files. */
function filesUnder(root: string, out: string[] = []): string[] {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(root, name);
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info) continue;
    if (info.isDirectory()) {
      // A machine's secrets directory is its tmpfs of secret files, the one place values may be.
      if (name === "secrets" && path.includes("/machines/")) continue;
      filesUnder(path, out);
    } else if (info.isFile() && info.size < 64 * 1024 * 1024) out.push(path);
  }
  return out;
}

/**
 * Every file under the state directory with its bytes. The daemon may be writing as we look (a
 * record's `.tmp` renamed into place between the listing and the read): then the whole directory is
 * listed again, so a value that moved under a new name is still read.
 */
function stateFiles(): [string, Buffer][] {
  for (let attempt = 1; ; attempt++) {
    const read: [string, Buffer][] = [];
    let vanished = false;
    for (const path of filesUnder(utility.stateDir)) {
      try {
        read.push([path, readFileSync(path)]);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT" || attempt === 5) throw error;
        vanished = true;
        break;
      }
    }
    if (!vanished) return read;
  }
}

/** Where each canary was found, as "what: where". */
function leaks(extra: Record<string, string> = {}): string[] {
  const found: string[] = [];
  const needles = Object.entries(canaries).flatMap(([name, value]) =>
    forms(value).map((f) => [name, f] as const),
  );
  const check = (where: string, text: Buffer | string) => {
    const haystack = typeof text === "string" ? text : text.toString("latin1") + text.toString("utf8");
    for (const [name, needle] of needles) if (haystack.includes(needle)) found.push(`${name}: ${where}`);
  };
  for (const [path, bytes] of stateFiles()) check(path, bytes);
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    for (const what of ["cmdline", "environ"]) {
      try {
        check(`/proc/${pid}/${what}`, readFileSync(`/proc/${pid}/${what}`));
      } catch {
        // gone, or not ours to read
      }
    }
  }
  check("the CLI's output", transcript.join("\n"));
  for (const [where, text] of Object.entries(extra)) check(where, text);
  return found;
}

async function apiResponses(): Promise<Record<string, string>> {
  const client = apiClient({ stateDir: utility.stateDir, autoStart: false });
  const q = `file=${encodeURIComponent(file)}`;
  const out: Record<string, string> = {};
  for (const path of [
    "/v1/status",
    `/v1/plan?${q}`,
    `/v1/update/plan?${q}`,
    `/v1/history?${q}`,
    `/v1/secrets/needs?${q}`,
  ]) {
    out[`GET ${path}`] = JSON.stringify(await client.call("GET", path));
  }
  return out;
}

/** GET /admin/ through the firewall, with basic authentication when a password is given. */
function adminStatus(ip: string, password?: string): Promise<number> {
  return new Promise((done, fail) => {
    const headers: Record<string, string> = password
      ? { authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}` }
      : {};
    const req = request({ host: ip, port: 80, path: "/admin/", headers, timeout: 5000 }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("error", fail);
    req.end();
  });
}

function source(blogPasswordScope = ""): string {
  return vanSource(`  www.adminpw = sitepw;\n${blogPasswordScope}`).replace(
    "Demo extends VANAppliance {\n",
    'Demo extends VANAppliance {\n  var "required" "sensitive" sitepw;\n',
  );
}

beforeAll(async () => {
  await ensureRootfs();
  await utility.init();
  file = join(utility.dir, "demo.cvl");
  writeFileSync(file, source());
  await cuiOk(["agent", "start"]);
  await cuiOk(["agent", "unlock", "--password-stdin"], "the-agent-password\n");
  await cuiOk(["secret", "set", file, "sitepw"], canaries.site);
  await cuiOk(["secret", "set", file, "blog.adminpw"], canaries.blog);
}, 180_000);

afterAll(async () => {
  await cui(["stop", file]);
  await cui(["agent", "stop"]);
  await utility.cleanup();
}, 120_000);

describe("sensitive parameters", () => {
  let status: StatusJson;

  test("a start delivers each value as a file inside its appliance, and only there", async () => {
    await cuiOk(["start", file]);
    status = JSON.parse((await cuiOk(["status", file, "--json"])).stdout) as StatusJson;
    const appliance = status.appliances[0]!;
    const secretsOf = (path: string) => appliance.components.find((c) => c.path === path)?.secrets;
    expect(secretsOf("www")).toBe("held");
    expect(secretsOf("blog")).toBe("held");
    expect(secretsOf("d")).toBe("none");
    const www = await utility.exec(`${appliance.instance}.www`, "cat", "/run/collective/secrets/adminpw");
    expect(www.stdout).toBe(canaries.site);
    const listing = await utility.exec(
      `${appliance.instance}.www`,
      "ls",
      "-l",
      "/run/collective/secrets/adminpw",
    );
    expect(listing.stdout).toMatch(/^-r-------- /);
    // The appliance uses it: /admin answers 401 without the password and 200 with it.
    const ip = appliance.components.find((c) => c.path === "f")!.interfaces.ethernet1!.ip;
    expect(await adminStatus(ip)).toBe(401);
    expect(await adminStatus(ip, canaries.site)).toBe(200);
  }, 120_000);

  test("status, plan, logs and history show names, never values", async () => {
    await cuiOk(["status", file]);
    await cuiOk(["plan", file]);
    await cuiOk(["plan", file, "--json"]);
    await cuiOk(["update", file, "--dry-run", "--json"]);
    await cuiOk(["logs", file, "www"]);
    await cuiOk(["logs", file, "blog"]);
    await cuiOk(["eval", file, "--json"]);
    const list = await cuiOk(["secret", "list", file]);
    expect(list.stdout).toContain("sitepw");
    expect(leaks(await apiResponses())).toEqual([]);
  }, 60_000);

  test("a changed value is delivered by an update without a restart, masked in the plan", async () => {
    const before = (await utility.containers()).get(`${status.appliances[0]!.instance}.blog`)!.pid;
    await cuiOk(["secret", "set", file, "blog.adminpw"], canaries.blog2);
    const r = await cuiOk(["update", file, "--yes", "--json"]);
    const result = JSON.parse(r.stdout) as {
      actions: Array<{ action: string; path: string; params: Record<string, unknown> }>;
    };
    const blog = result.actions.find((a) => a.path === "blog")!;
    expect(blog.action).toBe("reconfigure");
    expect(blog.params.adminpw).toEqual({ old: ["(sensitive)"], new: ["(sensitive, changed)"] });
    const after = (await utility.containers()).get(`${status.appliances[0]!.instance}.blog`)!.pid;
    expect(after).toBe(before);
    const file2 = await utility.exec(
      `${status.appliances[0]!.instance}.blog`,
      "cat",
      "/run/collective/secrets/adminpw",
    );
    expect(file2.stdout).toBe(canaries.blog2);
    expect(leaks(await apiResponses())).toEqual([]);
  }, 120_000);

  test("failing starts name what is missing and show no value", async () => {
    // No value for a required sensitive parameter, and no terminal to ask on.
    const other = join(utility.dir, "other.cvl");
    writeFileSync(
      other,
      source()
        .replace("Demo extends", "Other extends")
        .replace(/vanIF = .*\n/, "")
        .replace(/f\.services[^;]*;\n/, ""),
    );
    const missing = await cui(["start", other]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("sitepw");
    expect(missing.stderr).toContain("cui secret set");
    // With the values, but a component that cannot start (its image is missing).
    await cuiOk(["secret", "set", other, "sitepw"], canaries.site);
    writeFileSync(
      other,
      readFileSync(other, "utf8").replace(
        "www.adminpw = sitepw;",
        'www.adminpw = sitepw;\n  www.image = "no-such-dir";',
      ),
    );
    const failed = await cui(["start", other]);
    expect(failed.code).not.toBe(0);
    expect(leaks()).toEqual([]);
  }, 120_000);

  test("after a daemon restart the values are gone from the utility, and status says what that means", async () => {
    await cuiOk(["daemon", "stop"]);
    await eventually("the daemon has exited", 30_000, async () =>
      utility.daemonPid() === undefined ? true : undefined,
    );
    const restarted = JSON.parse((await cuiOk(["status", file, "--json"])).stdout) as StatusJson;
    const www = restarted.appliances[0]!.components.find((c) => c.path === "www")!;
    expect(www.state).toBe("running");
    expect(www.secrets).toBe("forgotten");
    expect((await cuiOk(["status", file])).stdout).toMatch(
      /no longer holds the sensitive values of blog, www/,
    );
    // `cui start` of the running appliance gives them again.
    const again = await cuiOk(["start", file]);
    expect(again.stderr).toContain("held again");
    const held = JSON.parse((await cuiOk(["status", file, "--json"])).stdout) as StatusJson;
    expect(held.appliances[0]!.components.find((c) => c.path === "www")!.secrets).toBe("held");
    expect(leaks(await apiResponses())).toEqual([]);
  }, 120_000);

  test("after a stop nothing anywhere holds a value", async () => {
    await cuiOk(["stop", file]);
    await cuiOk(["agent", "lock"]);
    expect(leaks()).toEqual([]);
  }, 60_000);
});
