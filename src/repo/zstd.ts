/**
 * Zstandard through zstd-napi's native binding (node 20 has no zstd; the package builds from its bundled
 * C sources at install). The binding, not the package's index: that one also loads stream classes whose
 * transform pushes a whole input chunk's output at once, which a hostile archive could make gigabytes.
 * Loaded on first use, so commands that never touch zstd data do not load the addon.
 */
import { createRequire } from "node:module";

/** The part of the binding Collective uses: one-shot and streaming calls on reusable contexts. */
export interface ZstdBinding {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => ZstdDecoder;
  DParameter: { windowLogMax: number };
  compressBound(size: number): number;
}

export interface ZstdDecoder {
  /** One whole frame into dst; returns the bytes written, throws when dst is too small or src is bad. */
  decompress(dst: Uint8Array, src: Uint8Array): number;
  /** [0 at the end of a frame, bytes produced, bytes consumed]. */
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
  setParameter(param: number, value: number): void;
}

let binding: ZstdBinding | undefined;

export function zstdBinding(): ZstdBinding {
  binding ??= createRequire(import.meta.url)("zstd-napi/binding") as ZstdBinding;
  return binding;
}
