/**
 * How the repository layer reads a repository's files, wherever it lives. A repository is a directory of
 * static files, so reading one means: fetch a whole small file (a manifest, the repository descriptor), or
 * fetch byte ranges of a large one (chunks inside pack files). Implementations: file (a local directory)
 * and http (any static web server that honours Range, or `cui repo serve`).
 */
export interface ByteRange {
  /** First byte, inclusive. */
  readonly offset: number;
  readonly length: number;
}

export interface RepoTransport {
  /** The repository's canonical URL, e.g. file:///srv/repos/dns or https://example.org/dns. */
  readonly url: string;
  /**
   * Reads a whole file of the repository, by its path relative to the repository root ("repo.json").
   * Throws CollectiveError("REPO_NOT_FOUND") when absent, and other CollectiveErrors for I/O failures.
   * maxBytes guards against a server answering with garbage of unbounded size. A Buffer of its own (the
   * caller may keep it; no copy is needed).
   */
  readFile(path: string, options?: { maxBytes?: number; signal?: AbortSignal }): Promise<Buffer>;
  /**
   * Reads byte ranges of one file; returns one buffer per range, in order: views of the buffers the
   * transport read into, which come from `options.allocate` when given (a caller that reuses its buffers
   * spares the kernel from handing out fresh memory for every batch) and are then the caller's.
   */
  readRanges(path: string, ranges: readonly ByteRange[], options?: ReadRangesOptions): Promise<Uint8Array[]>;
}

export interface ReadRangesOptions {
  readonly signal?: AbortSignal;
  /** A buffer of at least `length` bytes for one span of coalesced ranges; Buffer.allocUnsafe when absent. */
  readonly allocate?: (length: number) => Buffer;
}
