/**
 * Container images (OCI image layout, `docker save` archive, OCI archive) as a tree: finds the image
 * manifest, applies its layers with whiteouts, and keeps the image config's defaults.
 */
import { CollectiveError } from "../errors.js";
import type { BlobSource } from "./blob-source.js";
import type { ChunkStore } from "./chunk-store.js";
import { decompressed } from "./compressed-stream.js";
import type { ImageConfig } from "./format.js";
import { LayerStack } from "./layer-apply.js";
import { readTar } from "./tar-reader.js";
import type { TreeBuilder } from "./tree-builder.js";

interface Descriptor {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

function parseJson<T>(bytes: Buffer, what: string, label: string): T {
  try {
    return JSON.parse(bytes.toString("utf8")) as T;
  } catch {
    throw new CollectiveError("BAD_IMAGE", `${label}: ${what} is not valid JSON`);
  }
}

function blobPath(digest: string, label: string): string {
  if (!DIGEST.test(digest))
    throw new CollectiveError("BAD_IMAGE", `${label}: "${digest}" is not a sha256 digest`);
  return `blobs/sha256/${digest.slice(7)}`;
}

/** Picks the manifest for linux/amd64 (or the only one) from an OCI index, following nested indexes. */
async function ociManifest(
  blobs: BlobSource,
  index: { manifests?: Descriptor[] },
): Promise<{ config: string; layers: string[] }> {
  const list = index.manifests ?? [];
  const chosen =
    list.length === 1
      ? list[0]
      : (list.find((m) => m.platform?.os === "linux" && m.platform.architecture === "amd64") ??
        list.find((m) => m.platform === undefined));
  if (chosen === undefined) {
    throw new CollectiveError(
      "BAD_IMAGE",
      `${blobs.label}: the image index lists ${list.length} manifests and none is for linux/amd64`,
    );
  }
  const body = parseJson<{
    mediaType?: string;
    manifests?: Descriptor[];
    config?: Descriptor;
    layers?: Descriptor[];
  }>(await blobs.read(blobPath(chosen.digest, blobs.label)), "the image manifest", blobs.label);
  if (body.manifests !== undefined) return ociManifest(blobs, body);
  if (body.config === undefined)
    throw new CollectiveError("BAD_IMAGE", `${blobs.label}: the image manifest has no config`);
  return {
    config: blobPath(body.config.digest, blobs.label),
    layers: (body.layers ?? []).map((l) => blobPath(l.digest, blobs.label)),
  };
}

async function imageLayout(blobs: BlobSource): Promise<{ config: string; layers: string[] }> {
  if (await blobs.has("manifest.json")) {
    const list = parseJson<Array<{ Config?: string; Layers?: string[] }>>(
      await blobs.read("manifest.json"),
      "manifest.json",
      blobs.label,
    );
    if (!Array.isArray(list) || list.length !== 1 || typeof list[0]?.Config !== "string") {
      throw new CollectiveError(
        "BAD_IMAGE",
        `${blobs.label}: manifest.json must describe exactly one image`,
        {
          hint: "save a single image: docker save IMAGE -o image.tar",
        },
      );
    }
    return { config: list[0].Config, layers: list[0].Layers ?? [] };
  }
  if (await blobs.has("index.json")) {
    return ociManifest(blobs, parseJson(await blobs.read("index.json"), "index.json", blobs.label));
  }
  throw new CollectiveError(
    "BAD_IMAGE",
    `${blobs.label} has neither manifest.json (docker save) nor index.json (OCI)`,
  );
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as string[]) : undefined;
}

export async function addImage(
  blobs: BlobSource,
  store: ChunkStore,
  tree: TreeBuilder,
  progress?: (bytes: number) => void,
): Promise<ImageConfig> {
  const layout = await imageLayout(blobs);
  const config =
    parseJson<{ config?: Record<string, unknown> }>(
      await blobs.read(layout.config),
      "the image config",
      blobs.label,
    ).config ?? {};
  const stack = new LayerStack(tree, store, progress);
  for (const layer of [...layout.layers].reverse()) {
    const label = `${blobs.label}: layer ${layer}`;
    await stack.apply(readTar(decompressed(blobs.open(layer), label), label), label, { whiteouts: true });
  }
  const result: ImageConfig = {};
  const entrypoint = stringList(config.Entrypoint);
  const cmd = stringList(config.Cmd);
  const env = stringList(config.Env);
  if (entrypoint) result.entrypoint = entrypoint;
  if (cmd) result.cmd = cmd;
  if (env) result.env = env;
  if (typeof config.WorkingDir === "string" && config.WorkingDir !== "")
    result.workingDir = config.WorkingDir;
  if (typeof config.User === "string" && config.User !== "") result.user = config.User;
  return result;
}
