/**
 * A container's root filesystem is an overlay over the shared program tree. Listed in /proc/filesystems is
 * not enough (the upper dir's filesystem may refuse), so mount a tiny one for real, copy up a file, and
 * unmount it; the temp dir goes whatever happens.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Check, type CheckResult, result, rootFirst, tryCommand } from "./check.js";
import type { DoctorContext } from "./context.js";

const name = "overlayfs";

export const overlayfsCheck: Check = {
  name,
  run: async (ctx) => {
    const filesystems = await readFile(ctx.files.procFilesystems, "utf8").catch(() => "");
    const listed = /\toverlay$/m.test(filesystems);
    const failure = await tryOverlayMount(ctx);
    if (failure === undefined) {
      const how = listed ? "" : " (the module loaded on demand)";
      return result(name, true, "ok", `a test overlay mounted and copied up in ${ctx.scratchDir}${how}`);
    }
    if (!listed && failure.status !== "missing") {
      const detail = `not in ${ctx.files.procFilesystems}; ${failure.detail}`;
      return result(name, true, "missing", detail, rootFirst(ctx, "modprobe overlay"));
    }
    return result(name, true, failure.status, failure.detail, failure.fix);
  },
};

type Failure = Pick<CheckResult, "detail" | "status"> & { fix: string };

async function tryOverlayMount(ctx: DoctorContext): Promise<Failure | undefined> {
  let dir: string;
  try {
    dir = await mkdtemp(join(ctx.scratchDir, ".cui-doctor-overlay-"));
  } catch (error) {
    return {
      status: "broken",
      detail: `cannot make a temp dir: ${(error as Error).message}`,
      fix: `make ${ctx.scratchDir} writable`,
    };
  }
  const lower = join(dir, "lower");
  const upper = join(dir, "upper");
  const work = join(dir, "work");
  const merged = join(dir, "merged");
  let mounted = false;
  try {
    await Promise.all([lower, upper, work, merged].map((d) => mkdir(d)));
    await writeFile(join(lower, "probe"), "lower");
    const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
    const mount = await tryCommand(
      ctx,
      ctx.commands.mount,
      ["-t", "overlay", "cui-doctor", "-o", options, merged],
      {},
      "mount -t overlay",
    );
    if (mount.kind === "missing")
      return { status: "missing", detail: mount.message, fix: "apt-get install mount" };
    if (mount.kind === "failed")
      return { status: "broken", detail: mount.message, fix: rootFirst(ctx, "modprobe overlay") };
    mounted = true;
    // Writing through the overlay must copy up and leave the lower file alone.
    await writeFile(join(merged, "probe"), "upper");
    const [below, above] = await Promise.all([
      readFile(join(lower, "probe"), "utf8"),
      readFile(join(upper, "probe"), "utf8"),
    ]);
    if (below !== "lower" || above !== "upper")
      return { status: "broken", detail: "copy-up did not work", fix: "a kernel with a working overlayfs" };
    return undefined;
  } catch (error) {
    return {
      status: "broken",
      detail: (error as Error).message,
      fix: rootFirst(ctx, "a kernel with a working overlayfs"),
    };
  } finally {
    if (mounted) await unmount(ctx, merged);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Unmounts, lazily if something holds it, so rm never walks into a live mount. */
async function unmount(ctx: DoctorContext, path: string): Promise<void> {
  const plain = await tryCommand(ctx, ctx.commands.umount, [path]);
  if (plain.kind !== "ok") await tryCommand(ctx, ctx.commands.umount, ["-l", path]);
}
