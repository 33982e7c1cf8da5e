/**
 * The commands that change a host's network: `ip`, `bridge` and `nft`, run in the host's namespace, or in
 * a named namespace that plays the host (tests, and two "hosts" on one machine for VXLAN). Argument arrays
 * only; callers validate every name before it gets here.
 */
import { type ExecOptions, type ExecResult, exec, execJson } from "../sys/exec.js";
import { checkId } from "../sys/names.js";

export class HostCommands {
  /** @param hostNetns a named namespace to act in instead of the caller's own (the real host). */
  constructor(readonly hostNetns?: string) {
    if (hostNetns !== undefined) checkId(hostNetns, "host namespace");
  }

  private nsArgs(): string[] {
    return this.hostNetns === undefined ? [] : ["-n", this.hostNetns];
  }

  ip(args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return exec("ip", [...this.nsArgs(), ...args], options);
  }

  ipJson<T>(args: readonly string[]): Promise<T> {
    return execJson<T>("ip", [...this.nsArgs(), "-j", ...args]);
  }

  /** `ip` inside an appliance's namespace (named, under /run/netns). */
  ipIn(netns: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return exec("ip", ["-n", netns, ...args], options);
  }

  ipJsonIn<T>(netns: string, args: readonly string[]): Promise<T> {
    return execJson<T>("ip", ["-n", netns, "-j", ...args]);
  }

  bridge(args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return exec("bridge", [...this.nsArgs(), ...args], options);
  }

  bridgeJson<T>(args: readonly string[]): Promise<T> {
    return execJson<T>("bridge", [...this.nsArgs(), "-j", ...args]);
  }

  nft(args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    if (this.hostNetns === undefined) return exec("nft", args, options);
    return exec("ip", ["netns", "exec", this.hostNetns, "nft", ...args], options);
  }

  nftJson<T>(args: readonly string[]): Promise<T> {
    if (this.hostNetns === undefined) return execJson<T>("nft", ["-j", ...args]);
    return execJson<T>("ip", ["netns", "exec", this.hostNetns, "nft", "-j", ...args]);
  }
}
