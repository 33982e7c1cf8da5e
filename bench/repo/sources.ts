/**
 * The benchmark's inputs: the appliance pair from ../shared/bench/make-appliance-pair.sh (v1 and v2 as a
 * tree and as an ext4 image, with a known amount of new information in v2), and a 1 GiB image for the
 * memory bound.
 */
import { access, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./measure.js";
import { discard } from "./trash.js";

export interface Pair {
  readonly dir: string;
  readonly newInformationBytes: number;
}

export async function makePair(script: string, out: string, source: string): Promise<Pair> {
  const { code, stdout, stderr } = await run("bash", [script, out, source]);
  if (code !== 0) throw new Error(`${script} failed:\n${stderr}`);
  const match = /new_information_bytes=(\d+)/.exec(stdout);
  if (match === null) throw new Error(`${script} did not print new_information_bytes:\n${stdout}`);
  return { dir: out, newInformationBytes: Number(match[1]) };
}

/** A 1 GiB ext4 image holding v1's tree plus 700 MiB of random bytes (incompressible, no holes there). */
export async function makeBigImage(pair: Pair): Promise<string> {
  const image = join(pair.dir, "big.img");
  if (
    await access(image).then(
      () => true,
      () => false,
    )
  )
    return image;
  const source = join(pair.dir, "big-src");
  await rm(source, { recursive: true, force: true });
  await mkdir(source);
  await must(run("cp", ["-al", join(pair.dir, "v1"), join(source, "v1")]));
  await must(
    run("dd", ["if=/dev/urandom", `of=${join(source, "random.bin")}`, "bs=1M", `count=700`, "status=none"]),
  );
  await must(
    run("mkfs.ext4", ["-q", "-F", "-d", source, image, "1024M"], {
      ...process.env,
      E2FSPROGS_FAKE_TIME: "1700000000",
    }),
  );
  await discard(source, join(pair.dir, "trash"));
  return image;
}

/** Writes a CVL file (and for images a VM descriptor) beside the inputs, as `cui publish` requires. */
export async function writeApplianceFiles(
  dir: string,
  name: string,
  input: string,
  form: "tree" | "image",
): Promise<string> {
  const cvl = join(dir, `${name}.cvl`);
  if (form === "tree") {
    await writeFile(cvl, `Bench extends ContainerAppliance { image = "${input}"; }\n`);
  } else {
    await writeFile(
      join(dir, `${name}.json`),
      JSON.stringify({
        format: "collective-vm",
        memoryMiB: 512,
        cpus: 1,
        disks: [{ device: "virtio0", file: input }],
      }),
    );
    await writeFile(cvl, `Bench extends VMAppliance { vm = "${name}.json"; }\n`);
  }
  return cvl;
}

async function must(result: Promise<{ code: number; stderr: string }>): Promise<void> {
  const { code, stderr } = await result;
  if (code !== 0) throw new Error(stderr);
}
