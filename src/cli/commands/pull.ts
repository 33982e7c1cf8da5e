import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";
import { printJson } from "../output.js";

interface PullFlags {
  version?: string;
  key?: string;
  cache?: string;
  timeout?: string;
  json?: boolean;
}

export function registerPull(program: Command): void {
  program
    .command("pull")
    .description("fetch a version of an appliance through the host cache and write out its program disks")
    .argument("<repo-url>", "the repository: a path, file://, http:// or https:// URL")
    .argument("<dest>", "a new (or empty) directory to write the version into")
    .option(
      "--version <N>",
      "the version to pull (default: the newest that is not withdrawn; a withdrawn one can be named)",
    )
    .option("--key <ed25519:...>", "require the version to be signed by this key")
    .option("--cache <dir>", "the host cache (default: $COLLECTIVE_CACHE or /var/lib/collective/cache)")
    .option("--timeout <seconds>", "give up on a repository server that is silent this long", "30")
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      `
A container appliance's root filesystem is written into <dest>/ itself; a VM appliance's disks are
written as <dest>/<device>.img (sparse: zero blocks take no space), beside the version's CVL file and
VM descriptor. Several tree disks go into <dest>/<name>/.

Every chunk is fetched at most once per host: chunks already in the cache (from an earlier version or
another appliance) are reused, the rest are fetched in batched Range requests and checked against their
SHA-256 before they enter the cache. The manifest's signature is checked against the repository's keys
(or --key). Nothing appears in <dest> until everything has been fetched and written; a failed or
interrupted pull leaves <dest> untouched, and the next pull resumes from what the cache already holds.
A disk that fills up is an error (DISK_FULL) naming the cache's and the destination's disks.

A VM's disks, and the cache's copy of their chunks, are written with O_DIRECT (around the page cache)
where the filesystem allows it; COLLECTIVE_DIRECT_IO=0 turns that off. Their fetched data is
decompressed and checked on a second thread while the first receives and writes;
COLLECTIVE_VERIFY_THREAD=0 keeps it all on one thread (the second thread exits after 30 s idle).

Progress is shown on stderr when it is a terminal. The summary says how many bytes crossed the network
and how many were reused from the cache.

Exit status: 0 when the version was written, 1 on any error, 2 on a usage error.

Examples:
  cui pull /srv/repos/dns ./dns-latest
  cui pull https://apps.example.org/dns --version 3 /tmp/dns-3
  cui pull http://127.0.0.1:7080/dns --cache ~/.cache/collective --json /tmp/dns`,
    )
    .action(async (url: string, dest: string, flags: PullFlags) => {
      const version =
        flags.version === undefined
          ? undefined
          : parsePositive(flags.version, "--version", "a version number (1, 2, ...)");
      const timeoutSeconds = parsePositive(flags.timeout ?? "30", "--timeout", "a number of seconds");
      if (timeoutSeconds > 86_400) {
        throw new CollectiveError(
          "USAGE",
          `--timeout takes at most 86400 seconds (a day), not ${timeoutSeconds}`,
          {
            exitCode: 2,
          },
        );
      }
      const timeoutMs = timeoutSeconds * 1000;
      const { parsePublicKey } = await import("../../repo/keys.js");
      if (flags.key !== undefined) parsePublicKey(flags.key);
      const { openTransport } = await import("../../repo/open-transport.js");
      const { cacheDirFrom } = await import("../../cache/cache-dir.js");
      const { pullVersion } = await import("../../cache/pull.js");
      const { resolve } = await import("node:path");
      const transport = openTransport(url, { http: { idleTimeoutMs: timeoutMs } });
      const progress = progressLine(`pulling ${transport.url}`);
      const started = Date.now();
      // Ctrl-C or SIGTERM stops the pull, which removes its partial copy; a second one quits at once.
      const stop = new AbortController();
      const interrupt = (signal: NodeJS.Signals): void => {
        const status = signal === "SIGINT" ? 130 : 143;
        if (stop.signal.aborted) process.exit(status);
        process.stderr.write(`\nstopping: removing the partial copy (${signal} again quits at once)\n`);
        stop.abort(
          new CollectiveError("INTERRUPTED", `the pull of ${transport.url} was interrupted (${signal})`, {
            hint: `Nothing was written at ${resolve(dest)}. Run it again: chunks the cache recorded are not fetched again.`,
            exitCode: status,
          }),
        );
      };
      process.on("SIGINT", interrupt);
      process.on("SIGTERM", interrupt);
      try {
        const result = await pullVersion(transport, resolve(dest), {
          cacheDir: cacheDirFrom(flags.cache),
          version,
          pinnedKey: flags.key,
          onProgress: progress.update,
          signal: stop.signal,
        });
        progress.finish();
        const summary = {
          repository: result.repository,
          version: result.version,
          appliance: result.manifest.appliance.name,
          disks: result.disks,
          files: result.files,
          bytesFetched: transport.bytesReceived,
          bytesReused: result.transfer.reusedBytes,
          chunksFetched: result.transfer.fetchedChunks,
          chunksReused: result.transfer.reusedChunks,
          seconds: (Date.now() - started) / 1000,
          ...(result.tree ? { notApplied: notApplied(result.tree) } : {}),
        };
        if (flags.json) {
          printJson(summary);
          return;
        }
        const where =
          result.disks.map((disk) => `${disk.name} -> ${disk.path}`).join(", ") || "no program disks";
        process.stdout.write(
          `pulled ${summary.appliance} version ${summary.version} from ${summary.repository}: ${where}\n` +
            `  ${mib(summary.bytesFetched)} fetched, ${mib(summary.bytesReused)} reused from the cache, in ${summary.seconds.toFixed(1)} s\n`,
        );
        for (const note of summary.notApplied ?? []) process.stderr.write(`note: ${note}\n`);
      } finally {
        process.off("SIGINT", interrupt);
        process.off("SIGTERM", interrupt);
        progress.finish();
        (transport as { close?: () => void }).close?.();
      }
    });
}

function parsePositive(text: string, option: string, what: string): number {
  if (!/^[1-9][0-9]*$/.test(text)) {
    throw new CollectiveError("USAGE", `${option} takes ${what}, not ${JSON.stringify(text)}`, {
      exitCode: 2,
    });
  }
  return Number(text);
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function notApplied(report: {
  skippedDevices: number;
  skippedOwners: number;
  skippedXattrs: number;
}): string[] {
  const notes: string[] = [];
  if (report.skippedDevices > 0) notes.push(`${report.skippedDevices} device nodes not created (needs root)`);
  if (report.skippedOwners > 0)
    notes.push(`${report.skippedOwners} entries keep your ownership instead of the stored one (needs root)`);
  if (report.skippedXattrs > 0)
    notes.push(`${report.skippedXattrs} entries' extended attributes not applied`);
  return notes;
}

/** A one-line progress display on stderr, only when stderr is a terminal; redrawn at most 10 times a second. */
function progressLine(label: string): { update: (done: number, total: number) => void; finish: () => void } {
  const tty = Boolean(process.stderr.isTTY);
  let last = 0;
  let shown = false;
  return {
    update: (done, total) => {
      const now = Date.now();
      if (!tty || total === 0 || now - last < 100) return;
      last = now;
      shown = true;
      const percent = Math.min(100, Math.floor((done / total) * 100));
      process.stderr.write(`\r${label}: ${mib(done)} of ${mib(total)} (${percent}%)\x1b[K`);
    },
    finish: () => {
      if (shown) process.stderr.write("\r\x1b[K");
      shown = false;
    },
  };
}
