/**
 * Progress of a long operation, per component: on a terminal, one line per component rewritten in
 * place; otherwise (a pipe, CI) plain timestamped lines, one per change.
 */
export class ProgressView {
  private readonly states = new Map<string, string>();
  private drawn = 0;
  private readonly started = Date.now();

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  private get live(): boolean {
    return Boolean(this.stream.isTTY) && process.env.TERM !== "dumb";
  }

  update(event: Record<string, unknown>): void {
    const component = String(event.component ?? "?");
    const text = `${String(event.state ?? "")}${event.detail ? ` (${String(event.detail)})` : ""}`;
    this.states.set(component, text);
    if (!this.live) {
      const seconds = ((Date.now() - this.started) / 1000).toFixed(1).padStart(5);
      this.stream.write(`[${seconds}s] ${component}: ${text}\n`);
      return;
    }
    if (this.drawn > 0) this.stream.write(`\u001b[${this.drawn}A`);
    const width = Math.max(...[...this.states.keys()].map((k) => k.length));
    for (const [name, state] of this.states)
      this.stream.write(`\u001b[2K  ${name.padEnd(width)}  ${state}\n`);
    this.drawn = this.states.size;
  }
}
