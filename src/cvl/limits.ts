/**
 * Limits that keep hostile or broken input from costing unbounded time or memory. Each one, when hit,
 * is a diagnostic naming the limit, never a crash.
 */
export const limits = {
  /** Largest CVL file read, in bytes. A 5,000-component file is about 2 MiB. */
  fileBytes: 16 * 1024 * 1024,
  /** Longest identifier (an Item), in characters. */
  identifierLength: 256,
  /** Longest string literal, in characters. */
  stringLength: 64 * 1024,
  /** Deepest nesting of maps inside maps. */
  mapDepth: 32,
  /** Most component instances one evaluation may create (guards against exponential composition). */
  instances: 200_000,
  /** Most strings in one evaluated parameter value (guards against exponential splicing). */
  valueStrings: 100_000,
  /** Longest evaluated string, in characters (maps of maps of references can grow fast). */
  valueLength: 1024 * 1024,
  /** Deepest chain of imports. */
  importDepth: 32,
  /**
   * Deepest nesting of components inside components, and of references through references (a = b; b = c;
   * ...). Real files nest a handful deep; this refuses hostile ones before they exhaust time or the stack.
   */
  nesting: 1000,
} as const;
