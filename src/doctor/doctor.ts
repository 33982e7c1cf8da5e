/**
 * `cui doctor`: can this host run appliances? Runs every check (in parallel: they touch disjoint things and
 * each cleans up after itself) and never needs the daemon.
 */

import { cgroupsCheck } from "./cgroups.js";
import { type Check, type CheckResult, result } from "./check.js";
import { type DoctorOptions, doctorContext } from "./context.js";
import { kvmCheck } from "./kvm.js";
import { loopDevicesCheck } from "./loop-devices.js";
import { mkfsCheck } from "./mkfs.js";
import { namespacesCheck } from "./namespaces.js";
import { networkCheck } from "./network.js";
import { nftablesCheck } from "./nftables.js";
import { overlayfsCheck } from "./overlayfs.js";
import { qemuImgCheck, qemuSystemCheck } from "./qemu.js";
import { rootCheck } from "./root.js";
import { runcCheck } from "./runc.js";
import { diskSpaceCheck, stateDirCheck } from "./state-dir.js";

export type { CheckResult, CheckStatus } from "./check.js";
export type { DoctorOptions } from "./context.js";

export interface DoctorReport {
  /** Every required check passed (warnings allowed). */
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
}

/** In the order the report shows them. */
const checks: readonly Check[] = [
  rootCheck,
  runcCheck,
  namespacesCheck,
  overlayfsCheck,
  loopDevicesCheck,
  networkCheck,
  nftablesCheck,
  cgroupsCheck,
  mkfsCheck,
  kvmCheck,
  qemuSystemCheck,
  qemuImgCheck,
  stateDirCheck,
  diskSpaceCheck,
];

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const ctx = doctorContext(options);
  const results = (await Promise.all(checks.map((check) => guarded(check, ctx)))).flat();
  return { ok: results.every(passes), checks: results };
}

export function passes(check: CheckResult): boolean {
  return !check.required || check.status === "ok" || check.status === "warning";
}

/** A check that throws is a bug in it; report it as a broken check rather than lose the whole report. */
async function guarded(check: Check, ctx: ReturnType<typeof doctorContext>): Promise<readonly CheckResult[]> {
  try {
    const outcome = await check.run(ctx);
    return Array.isArray(outcome) ? outcome : [outcome as CheckResult];
  } catch (error) {
    return [
      result(
        check.name,
        true,
        "broken",
        `the check itself failed: ${(error as Error).message}`,
        "report this as a bug in cui doctor",
      ),
    ];
  }
}
