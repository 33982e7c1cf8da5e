/** Reads exact byte counts from a stream of buffers (for parsing tar without loading it). */
export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private buffer: Buffer = Buffer.alloc(0);
  private done = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    const piece = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.buffer = this.buffer.length === 0 ? piece : Buffer.concat([this.buffer, piece]);
    return true;
  }

  /** Exactly n bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.buffer.length < n && (await this.fill())) {}
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Yields the next n bytes in pieces as they arrive; stops early at the end of the stream. */
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffer.length === 0 && !(await this.fill())) return;
      const take = Math.min(left, this.buffer.length);
      const out = this.buffer.subarray(0, take);
      this.buffer = this.buffer.subarray(take);
      this.position += take;
      left -= take;
      yield out;
    }
  }

  async skip(n: number): Promise<number> {
    let skipped = 0;
    for await (const piece of this.pieces(n)) skipped += piece.length;
    return skipped;
  }

  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}
