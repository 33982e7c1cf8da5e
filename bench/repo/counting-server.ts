/**
 * `cui repo serve`'s server over the benchmark directory, counting the body bytes it sends: what a host
 * fetched. Every repository benchmark (repo-bench, compare, floors) serves its tools through one.
 */
import { startRepoServer } from "../../src/repo/serve.js";
import type { ByteCounter } from "./tools.js";

export interface CountingServer extends ByteCounter {
  close(): Promise<void>;
}

export async function startCountingServer(root: string): Promise<CountingServer> {
  let counted = 0;
  const server = await startRepoServer({
    root,
    host: "127.0.0.1",
    port: 0,
    log: (line) => {
      counted += Number(line.split(" ")[4] ?? 0); // the access log's fifth field: body bytes sent
    },
  });
  return {
    url: server.url,
    reset: () => {
      counted = 0;
    },
    get bytes() {
      return counted;
    },
    close: () => server.close(1000),
  };
}
