import type { Command } from "commander";
import { CollectiveError } from "../../errors.js";

interface ServeFlags {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  log?: boolean;
}

/** `cui repo` is shared with `cui repo verify` (another module): find it or create it. */
function repoCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "repo") ??
    program.command("repo").description("work on repositories: verify them, serve them over HTTP")
  );
}

export function registerRepoServe(program: Command): void {
  repoCommand(program)
    .command("serve")
    .description("serve a directory of repositories over HTTP(S), as any static web server would")
    .argument("<dir>", "the directory to serve: a repository, or a directory holding several")
    .option("--listen <addr:port>", "address and port to listen on", "127.0.0.1:7080")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (needs --tls-key)")
    .option("--tls-key <file>", "the certificate's PEM private key")
    .option("--log", "print one line per request on stderr")
    .addHelpText(
      "after",
      `
Serves the files under <dir> read-only, with what hosts need to fetch efficiently: Range requests,
HEAD, ETag and Last-Modified. Directories are not listed; dotfiles, a repository's tmp/ and locks/, and
anything a symlink would reach outside <dir> are not served. A repository at <dir>/dns is fetched as
http://ADDR:PORT/dns. nginx or Apache serving the same directory works just as well.

On SIGTERM or SIGINT the server stops accepting connections and lets transfers in flight finish (for
up to 10 seconds) before it exits.

Examples:
  cui repo serve /srv/repos
  cui repo serve /srv/repos --listen 0.0.0.0:8080
  cui repo serve /srv/repos --listen [::1]:8443 --tls-cert cert.pem --tls-key key.pem
  cui pull http://127.0.0.1:7080/dns ./dns`,
    )
    .action(async (dir: string, flags: ServeFlags) => {
      const { host, port } = parseListen(flags.listen);
      if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
        throw new CollectiveError("USAGE", "--tls-cert and --tls-key go together", {
          hint: "Give both for HTTPS, or neither for HTTP.",
          exitCode: 2,
        });
      }
      const { openRegularFile } = await import("../../fs-safety/regular-file.js");
      const { createSecureContext } = await import("node:tls");
      const { startRepoServer } = await import("../../repo/serve.js");
      const readPem = async (path: string, what: string): Promise<Buffer> => {
        const cannot = (why: string): CollectiveError =>
          new CollectiveError("SERVE_TLS", `cannot read the TLS ${what} ${path}: ${why}`, {
            hint: "Give PEM files readable by this user.",
          });
        // A regular file of sane size: a fifo or /dev/zero would be read forever.
        const { handle, size } = await openRegularFile(path, () => cannot("not a regular file")).catch(
          (error: NodeJS.ErrnoException) => {
            throw error instanceof CollectiveError ? error : cannot(error.code ?? error.message);
          },
        );
        try {
          if (size > 1024 * 1024) throw cannot(`${size} bytes is too big for a PEM file`);
          return await handle.readFile();
        } finally {
          await handle.close();
        }
      };
      let tls: { cert: Buffer; key: Buffer } | undefined;
      if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
        tls = { cert: await readPem(flags.tlsCert, "certificate"), key: await readPem(flags.tlsKey, "key") };
        try {
          createSecureContext(tls); // checked here: bad PEM, or a key that is not the certificate's
        } catch (error) {
          throw new CollectiveError(
            "SERVE_TLS",
            `the TLS certificate ${flags.tlsCert} and key ${flags.tlsKey} cannot be used: ${(error as Error).message}`,
            {
              hint: "Give a PEM certificate and the PEM private key it was made for (--tls-cert, --tls-key).",
            },
          );
        }
      }
      const server = await startRepoServer({
        root: dir,
        host,
        port,
        ...(tls ? { tls } : {}),
        ...(flags.log ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
      });
      process.stderr.write(`serving ${dir} at ${server.url} (SIGTERM or Ctrl-C stops)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off("SIGTERM", stop);
          process.off("SIGINT", stop);
          process.stderr.write("stopping: finishing transfers in flight\n");
          void server.close(10_000).then(resolve);
        };
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
      });
    });
}

/** "ADDR:PORT", "[IPv6]:PORT" or ":PORT" (loopback). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new CollectiveError("USAGE", `--listen takes ADDR:PORT, not ${JSON.stringify(text)}`, {
      hint: "For example 127.0.0.1:7080, 0.0.0.0:8080 or [::1]:7080.",
      exitCode: 2,
    });
  }
  return { host: match[1] ?? (match[2] || "127.0.0.1"), port };
}
