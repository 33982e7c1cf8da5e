/** A VMAppliance's vm that is no regular file: refused at once, naming the field and the path. */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CollectiveError } from "../errors.js";
import { publish } from "./publish.js";
import { makeRepository, TempDirs, vmCvl } from "./repo-test-kit.js";
import { readVmDescriptor } from "./vm-descriptor.js";

const temp = new TempDirs();
afterEach(() => temp.cleanup());

interface Case {
  readonly name: string;
  /** Makes the vm in the app directory; returns the name the CVL gives and the path the error names. */
  readonly make: (app: string) => { vm: string; path: string };
  readonly kind: string;
}

const cases: Case[] = [
  {
    name: "a FIFO",
    make: (app) => {
      execFileSync("mkfifo", [join(app, "vm.json")]);
      return { vm: "vm.json", path: join(app, "vm.json") };
    },
    kind: "a FIFO (named pipe)",
  },
  {
    name: "a symlink to a FIFO",
    make: (app) => {
      mkdirSync(join(app, "pipes"));
      execFileSync("mkfifo", [join(app, "pipes", "real.vmx")]);
      symlinkSync("pipes/real.vmx", join(app, "app.vmx"));
      return { vm: "app.vmx", path: join(app, "pipes", "real.vmx") };
    },
    kind: "a FIFO (named pipe)",
  },
  {
    name: "a directory",
    make: (app) => {
      mkdirSync(join(app, "vm.vmx"));
      return { vm: "vm.vmx", path: join(app, "vm.vmx") };
    },
    kind: "a directory",
  },
];

describe("publishing a VM appliance whose vm is not a regular file", () => {
  it.each(cases.map((c) => [c.name, c] as const))(
    "refuses %s at once with BAD_VM_DESCRIPTOR naming vm and the path, and leaves no version",
    async (_name, c) => {
      const base = temp.make("vm-descriptor");
      const app = join(base, "app");
      mkdirSync(app);
      const { vm, path } = c.make(app);
      const cvl = vmCvl(app, vm);
      const { repo, keyPath } = await makeRepository(base);
      const error = await publish({ repoDir: repo, cvlPath: cvl, keyPath }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CollectiveError);
      expect(error).toMatchObject({
        code: "BAD_VM_DESCRIPTOR",
        message: `${realpathSync(path)} (the VMAppliance's vm) is ${c.kind}, not a regular file`,
        hint: expect.stringMatching(/\.vmx file or a JSON VM descriptor/),
      });
      expect(readdirSync(join(repo, "versions"))).toEqual([]);
      expect(readdirSync(join(repo, "tmp"))).toEqual([]);
    },
    5000,
  );
});

describe("readVmDescriptor", () => {
  it("refuses a character device (reading /dev/zero would never end)", async () => {
    await expect(readVmDescriptor("/dev/zero")).rejects.toMatchObject({
      code: "BAD_VM_DESCRIPTOR",
      message: "/dev/zero (the VMAppliance's vm) is a character device, not a regular file",
    });
  }, 5000);

  it.each([
    ["empty", ""],
    ["blank", "\n  \n"],
  ])("refuses an %s descriptor (it was published as a VM of no disks)", async (_name, text) => {
    const dir = temp.make("vm-descriptor");
    writeFileSync(join(dir, "vm.vmx"), text);
    await expect(readVmDescriptor(join(dir, "vm.vmx"))).rejects.toMatchObject({
      code: "BAD_VM_DESCRIPTOR",
      message: `${join(dir, "vm.vmx")}: it is empty; a .vmx file or a JSON VM descriptor names the VM's disks, memory and cpus`,
    });
  });

  it("still reads a regular descriptor", async () => {
    const dir = temp.make("vm-descriptor");
    writeFileSync(join(dir, "vm.vmx"), 'memsize = "256"\nide0:0.fileName = "root.raw"\n');
    await expect(readVmDescriptor(join(dir, "vm.vmx"))).resolves.toEqual({
      machine: { memoryMiB: 256 },
      disks: [{ device: "ide0:0", file: "root.raw" }],
    });
  });
});
