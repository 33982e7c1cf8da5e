/** The repository commands as a user runs them: what they print and their exit status. */
import { execFileSync } from "node:child_process";
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCui } from "../cli/run-in-process.js";
import { containerCvl, TempDirs } from "./repo-test-kit.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

/** cui in this process: its exit status and what it printed. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { status, stdout, stderr } = await runCui(args);
  return { code: status, out: stdout, err: stderr };
}

describe("cui create, publish, versions, repo verify, channel", () => {
  it("runs the whole cycle and prints what a user needs", async () => {
    const base = temp.make("cli");
    const key = join(base, "keys", "publisher.key");
    const repo = join(base, "repo");
    const created = await run(["create", "--key", key, repo]);
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/^created repository .*\npublisher key: ed25519:[A-Za-z0-9+/]{43}=\n$/);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(repo, "repo.json"), "utf8")).keys).toEqual([
      created.out.split("publisher key: ")[1]!.trim(),
    ]);

    const app = join(base, "app");
    mkdirSync(join(app, "rootfs"), { recursive: true });
    writeFileSync(join(app, "rootfs", "hello"), "hello\n");
    const cvl = containerCvl(app, "rootfs", "Hello");
    expect(await run(["publish", "--key", key, repo, cvl])).toMatchObject({ code: 0, out: "1\n" });
    expect(await run(["publish", "--key", key, repo, cvl])).toMatchObject({ code: 0, out: "2\n" });

    const table = await run(["versions", repo]);
    expect(table.code).toBe(0);
    expect(table.out.split("\n")[0]).toMatch(/^VERSION\s+DATE\s+KIND\s+SIZE\s+NEW\s+SIGNER$/);
    expect(table.out).toMatch(/\n1\s+\S+ \S+\s+container\s+6 B\s+/);
    const listed = JSON.parse((await run(["versions", repo, "--json"])).out);
    expect(
      listed.versions.map((v: { version: number; withdrawn: boolean }) => [v.version, v.withdrawn]),
    ).toEqual([
      [1, false],
      [2, false],
    ]);

    const verified = await run(["repo", "verify", repo]);
    expect(verified).toMatchObject({
      code: 0,
      out: expect.stringMatching(/2 versions, 1 packs, \d+ chunks checked, 0 problems/),
    });

    const feed = readFileSync(join(repo, "feed.xml"), "utf8");
    expect(feed).toContain('<rss version="2.0" xmlns:collective="urn:collective:feed:1">');
    expect(feed.match(/<item>/g)).toHaveLength(2);

    const channel = join(base, "channel.xml");
    expect((await run(["channel", "build", channel, repo])).code).toBe(0);
    const items = JSON.parse((await run(["channel", "list", channel, "--json"])).out).items;
    expect(items.map((i: { name: string; version: number }) => `${i.name} ${i.version}`)).toEqual([
      "Hello 2",
      "Hello 1",
    ]);
    expect((await run(["channel", "list", channel])).out).toMatch(/^APPLIANCE\s+VERSION/);
  });

  it("exits 1 with a message naming the problem", async () => {
    const base = temp.make("cli-errors");
    const missing = await run(["versions", join(base, "nothing")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: .*nothing is not a repository/);
    const repo = join(base, "repo");
    await run(["create", "--key", join(base, "k"), repo]);
    const app = join(base, "app");
    mkdirSync(join(app, "rootfs"), { recursive: true });
    writeFileSync(join(app, "rootfs", "x"), "x");
    await run(["publish", "--key", join(base, "k"), repo, containerCvl(app, "rootfs")]);
    writeFileSync(join(repo, "versions/1/manifest.json"), "{}");
    const verify = await run(["repo", "verify", repo]);
    expect(verify.code).toBe(1);
    expect(verify.err).toMatch(/version 1: .*signature does not verify/);
    // Each problem names the repository once (its message names it; the line adds no second prefix).
    for (const line of verify.err.trim().split("\n")) expect(line.split(`file://${repo}`)).toHaveLength(2);
    expect((await run(["create", "--key", join(base, "k"), repo])).err).toMatch(/already a repository/);
  });

  // Each of these escaped as "internal error (a bug in cui ...)" with a stack trace. In each, BASE/file
  // is a plain file and BASE/repo a repository.
  const badPaths: Array<{ name: string; args: string[]; says: string }> = [
    {
      name: "cui create into a directory under a file",
      args: ["create", "--key", "BASE/k", "BASE/file/repo"],
      says: "error: cannot create a repository at BASE/file/repo: ENOTDIR: not a directory",
    },
    {
      name: "cui create with a key file under a file",
      args: ["create", "--key", "BASE/file/key", "BASE/new"],
      says: "error: cannot create the publisher key BASE/file/key: EEXIST: file already exists",
    },
    {
      name: "cui channel build into a file under a file",
      args: ["channel", "build", "BASE/file/channel.xml", "BASE/repo"],
      says: "error: cannot write the channel BASE/file/channel.xml: ",
    },
    {
      name: "cui pull from a directory that is no repository",
      args: ["pull", "--cache", "BASE/cache", "BASE", "BASE/out"],
      says: "error: file://BASE is not a repository (it has no repo.json)",
    },
  ];
  it.each(badPaths)(
    "$name: a message naming the path, exit status 1, nothing made",
    async ({ args, says }) => {
      const base = temp.make("cli-paths");
      writeFileSync(join(base, "file"), "not a directory\n");
      expect((await run(["create", "--key", join(base, "k"), join(base, "repo")])).code).toBe(0);
      const result = await run(args.map((arg) => arg.replace("BASE", base)));
      expect(result.code).toBe(1);
      expect(result.err).toContain(says.replaceAll("BASE", base));
      expect(result.err).not.toContain("internal error");
      expect(readdirSync(base).sort()).toEqual(["file", "k", "repo"]);
    },
  );

  it("cui channel build writes through a symlink to a file and refuses devices, fifos and dangling links", async () => {
    const base = temp.make("cli-channel-out");
    const repo = join(base, "repo");
    expect((await run(["create", "--key", join(base, "k"), repo])).code).toBe(0);
    writeFileSync(join(base, "real.xml"), "old\n");
    symlinkSync("real.xml", join(base, "link.xml"));
    const linked = await run(["channel", "build", join(base, "link.xml"), repo]);
    expect(linked.code).toBe(0);
    expect(lstatSync(join(base, "link.xml")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(base, "real.xml"), "utf8")).toContain("<rss");
    execFileSync("mknod", [join(base, "null"), "c", "1", "3"]);
    execFileSync("mkfifo", [join(base, "fifo")]);
    symlinkSync("nowhere.xml", join(base, "dangling.xml"));
    for (const [name, what] of [
      ["null", "a character device"],
      ["fifo", "a FIFO (named pipe)"],
      ["dangling.xml", "a symlink to nothing"],
    ]) {
      const refused = await run(["channel", "build", join(base, name!), repo]);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain(
        `error: cannot write the channel ${join(base, name!)}: it is ${what}, not a file`,
      );
    }
    expect(lstatSync(join(base, "null")).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(base, "dangling.xml")).isSymbolicLink()).toBe(true);
  });

  it("cui publish into a repository whose tmp/ is a file says so and publishes nothing", async () => {
    const base = temp.make("cli-publish-tmp");
    const repo = join(base, "repo");
    expect((await run(["create", "--key", join(base, "k"), repo])).code).toBe(0);
    rmSync(join(repo, "tmp"), { recursive: true });
    writeFileSync(join(repo, "tmp"), "in the way\n");
    mkdirSync(join(base, "app", "rootfs"), { recursive: true });
    writeFileSync(join(base, "app", "rootfs", "x"), "x");
    const published = await run([
      "publish",
      "--key",
      join(base, "k"),
      repo,
      containerCvl(join(base, "app"), "rootfs"),
    ]);
    expect(published.code).toBe(1);
    expect(published.err).toMatch(
      new RegExp(
        `^error: publishing into ${repo} failed on .*: EEXIST: file already exists, mkdir '${repo}/tmp'; nothing was published`,
      ),
    );
    expect(readdirSync(join(repo, "versions"))).toEqual([]);
  });

  it("cui channel build lists a repository named twice once", async () => {
    const base = temp.make("cli-channel-twice");
    const repo = join(base, "repo");
    expect((await run(["create", "--key", join(base, "k"), repo])).code).toBe(0);
    mkdirSync(join(base, "app", "rootfs"), { recursive: true });
    writeFileSync(join(base, "app", "rootfs", "x"), "x");
    const cvl = containerCvl(join(base, "app"), "rootfs");
    expect((await run(["publish", "--key", join(base, "k"), repo, cvl])).code).toBe(0);
    const built = await run(["channel", "build", join(base, "channel.xml"), repo, `file://${repo}`, repo]);
    expect(built.out).toBe(`wrote ${join(base, "channel.xml")}: 1 versions of 1 repositories\n`);
    const listed = JSON.parse((await run(["channel", "list", join(base, "channel.xml"), "--json"])).out);
    expect(listed.items).toHaveLength(1);
  });

  it.each(["ftp://example.org/channel.xml", "mailto:ops@example.org"])(
    "cui channel list %s says its scheme is not supported",
    async (location) => {
      const listed = await run(["channel", "list", location]);
      expect(listed.code).toBe(1);
      expect(listed.err).toContain(
        `error: cannot read the channel ${location}: the scheme ${location.split(":")[0]}: is not supported`,
      );
    },
  );
});
