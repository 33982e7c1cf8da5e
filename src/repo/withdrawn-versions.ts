/**
 * The versions a publisher withdrew, read from the repository itself: the signed notices beside the
 * versions (withdrawals/N.json + .sig), each verified as `cui versions` and the resolvers verify them.
 * The daemon hands this to the blacklist (manager/blacklist.ts), which treats a withdrawn version as
 * blacklisted. Read fresh on every check: a withdrawal counts from the moment it is published.
 */
import { mapConcurrent } from "./map-concurrent.js";
import { openTransport } from "./open-transport.js";
import { RepoReader } from "./repo-reader.js";
import type { RepoTransport } from "./transport.js";

/** How many notices are read at once from one repository. */
const CONCURRENCY = 8;

export class RepositoryWithdrawals {
  constructor(private readonly open: (repository: string) => RepoTransport = openTransport) {}

  /** Withdrawn versions (of `versions`, or of every version) and the publisher's reasons. */
  async withdrawn(repository: string, versions?: readonly number[]): Promise<Map<number, string>> {
    const transport = this.open(repository);
    try {
      const reader = new RepoReader(transport);
      await reader.descriptor();
      let wanted = versions;
      if (wanted === undefined) {
        const latest = await reader.latestVersion();
        wanted = Array.from({ length: latest }, (_, i) => i + 1);
      }
      const notices = await mapConcurrent(wanted, CONCURRENCY, (version) => reader.withdrawal(version));
      const out = new Map<number, string>();
      notices.forEach((notice, i) => {
        if (notice) out.set(wanted[i]!, typeof notice.reason === "string" ? notice.reason : "");
      });
      return out;
    } finally {
      (transport as { close?: () => void }).close?.();
    }
  }
}
