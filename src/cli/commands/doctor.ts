import type { Command } from "commander";
import { ExitCode, printJson } from "../output.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check that this host can run appliances, and say what is missing and how to get it")
    .option("--json", "print as JSON")
    .addHelpText(
      "after",
      `
Every check is tried for real where it can be, and whatever it creates (a temp dir, an overlay mount,
an nft table, a network namespace) is removed again, even when it fails. The daemon is not needed.
Run it as root: most kernel checks need root, as do cui start, stop and daemon.

Checks (* = optional: a failure is only a warning):
  root                  running as root
  runc                  runc --version works (crun is not used)
  namespaces            net, pid and mnt namespaces in /proc/self/ns
  overlayfs             in /proc/filesystems, and a tiny overlay mounts, copies up and unmounts
  loop devices          /dev/loop-control, and losetup -f finds a free device
  iproute2              ip -V works
  network namespaces, bridges, veth pairs, vxlan, tap devices*, firewall rules
                        each made for real in a throwaway network namespace
  nftables              nft --version, and a uniquely named table is created and deleted
  cgroups               v1, hybrid or v2 (reported), with the memory controller
  mkfs.ext4             e2fsprogs, to format data disks
  kvm*                  /dev/kvm works: qemu-system-x86_64 -accel kvm starts and keeps running
                        (without qemu: unknown; VM appliances fall back to TCG)
  qemu-system-x86_64*   for VM appliances
  qemu-img*             for disk conversion
  state directory       writable, or creatable (see --state-dir)
  disk space*           at least 1 GiB free for the state directory

Status: ok, missing, broken, or warning (an optional check failed, or space is low). Below the table,
the fix for each check that is not ok: a Debian package (apt-get install ...) or a kernel module
(modprobe ...).

Exit status: 0 when every required check passes (warnings allowed), 1 otherwise.

JSON (--json):
  { "ok": bool, "checks": [ { "name", "status", "required", "detail", "fix" } ] }
  (fix is null for a check that passed)

Examples:
  sudo cui doctor
  sudo cui doctor --json | jq -r '.checks[] | select(.status != "ok") | .fix'
  sudo cui --state-dir /srv/collective doctor`,
    )
    .action(async (options: { json?: boolean }, command: Command) => {
      const { stateDir } = command.optsWithGlobals<{ stateDir?: string }>();
      const { statePaths } = await import("../../daemon/paths.js");
      const { runDoctor } = await import("../../doctor/doctor.js");
      const report = await runDoctor({ stateDir: statePaths(stateDir).root });
      if (options.json) printJson(report);
      else {
        const { renderReport } = await import("../../doctor/render.js");
        process.stdout.write(renderReport(report));
      }
      if (!report.ok) process.exitCode = ExitCode.failed;
    });
}
