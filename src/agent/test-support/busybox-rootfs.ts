/**
 * Test fixture: a tiny container root filesystem from Debian's busybox-static (bin/busybox plus applet
 * symlinks), and optionally a host binary with its shared libraries (socat, to send sd_notify datagrams
 * from inside a container). Built once per test file in a temp dir; it plays the cached program tree.
 */
import { chmod, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { exec } from "../../sys/exec.js";

const applets = [
  "sh",
  "sleep",
  "nc",
  "httpd",
  "cat",
  "ls",
  "ip",
  "id",
  "echo",
  "touch",
  "stat",
  "wc",
  "mkdir",
  "rm",
  "test",
  "true",
  "false",
  "grep",
  "head",
  "tail",
  "dd",
  "sync",
  "printf",
  "kill",
  "ps",
  "date",
];

/** Builds the rootfs under `dir`; `extraBinaries` are host paths copied with their libraries. */
export async function buildBusyboxRootfs(
  dir: string,
  extraBinaries: readonly string[] = [],
): Promise<string> {
  for (const sub of ["bin", "etc", "tmp", "var", "run", "proc", "sys", "dev", "data"]) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await chmod(join(dir, "tmp"), 0o1777);
  await copyFile("/bin/busybox", join(dir, "bin", "busybox"));
  await chmod(join(dir, "bin", "busybox"), 0o755);
  for (const applet of applets) await symlink("busybox", join(dir, "bin", applet));
  await writeFile(
    join(dir, "etc", "passwd"),
    "root:x:0:0:root:/:/bin/sh\nservice:x:1000:1000:service:/:/bin/sh\n",
  );
  await writeFile(join(dir, "etc", "group"), "root:x:0:\nservice:x:1000:\n");
  for (const binary of extraBinaries) await copyWithLibraries(binary, dir);
  return dir;
}

async function copyWithLibraries(binary: string, root: string): Promise<void> {
  const { stdout } = await exec("ldd", [binary]);
  const files = [binary];
  for (const line of stdout.split("\n")) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line.trim());
    if (match?.[1] !== undefined) files.push(match[1]);
  }
  for (const file of files) {
    const target = join(root, file);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(file, target);
    await chmod(target, 0o755);
  }
}
