import { describe, expect, test } from "vitest";
import type { StartMachineRequest } from "../agent/host-agent.js";
import { type DesiredComponent, paramChanges, planUpdate, type RunningComponent } from "./update-plan.js";

function request(
  overrides: { params?: Record<string, string[]>; memoryMiB?: number; program?: string } = {},
) {
  return {
    spec: {
      id: "i.www",
      programPath: overrides.program ?? "/cache/web/1",
      stateDir: "/state/instances/i/machines/i.www",
      process: { args: ["/appliance/run"] },
      memoryMiB: overrides.memoryMiB ?? 32,
      params: overrides.params ?? { title: ["Welcome"] },
    },
    interfaces: [],
  } as StartMachineRequest;
}

function running(
  path: string,
  version: number | null,
  req: StartMachineRequest | null = request(),
): RunningComponent {
  return {
    path,
    kind: "container",
    repository: version === null ? null : "/repos/web",
    version,
    request: req,
    sensitive: [],
  };
}

function desired(
  path: string,
  version: number | null,
  req: StartMachineRequest | undefined = request(),
  more: Partial<DesiredComponent> = {},
): DesiredComponent {
  return {
    path,
    kind: "container",
    repository: version === null ? null : "/repos/web",
    version,
    image: null,
    request: req,
    sensitive: [],
    reloads: true,
    ...more,
  };
}

const plan = (r: RunningComponent[], d: DesiredComponent[], only?: string) =>
  planUpdate({
    running: r,
    desired: d,
    only,
    startOrder: [d.map((c) => c.path)],
    runningStartOrder: [r.map((c) => c.path)],
  });

describe("planUpdate", () => {
  test.each([
    {
      name: "same version, same parameters: untouched",
      r: running("www", 1),
      d: desired("www", 1),
      action: "none",
      reason: /unchanged/,
    },
    {
      name: "a new version: update, with the versions",
      r: running("www", 1),
      d: desired("www", 2),
      action: "update",
      reason: /version 1 -> version 2/,
    },
    {
      name: "parameters only, appliance reloads: reconfigure without a restart",
      r: running("www", 1),
      d: desired("www", 1, request({ params: { title: ["New"] } })),
      action: "reconfigure",
      reason: /parameters changed \(title\); delivered without a restart/,
    },
    {
      name: "parameters only, appliance cannot reload: update (restart)",
      r: running("www", 1),
      d: desired("www", 1, request({ params: { title: ["New"] } }), { reloads: false }),
      action: "update",
      reason: /cannot reload/,
    },
    {
      name: "memory changed: a restart, named by its CVL parameter",
      r: running("www", 1),
      d: desired("www", 1, request({ memoryMiB: 64 })),
      action: "update",
      reason: /^memory changed; that takes a restart/,
    },
    {
      name: "a local image moved: a new program",
      r: running("www", null, request({ program: "/src/web/rootfs" })),
      d: desired("www", null, request({ program: "/src/web/rootfs" }), { image: "/src/web2/rootfs" }),
      action: "update",
      reason: /a local image -> a local image/,
    },
  ])("$name", ({ r, d, action, reason }) => {
    const [a] = plan([r], [d]);
    expect(a?.action).toBe(action);
    expect(a?.reason).toMatch(reason);
  });

  test("new components start, removed ones go to the attic (after the rest), VANs only stop", () => {
    const actions = plan(
      [running("old", 1), { ...running("net", null, null), kind: "van" }],
      [desired("new", 1, undefined)],
    );
    expect(actions.map((a) => [a.action, a.path])).toEqual([
      ["start", "new"],
      ["stop", "net"],
      ["attic", "old"],
    ]);
  });

  test("a selected component: the others are untouched, with the reason", () => {
    const actions = plan(
      [running("www", 1), running("blog", 1)],
      [desired("www", 2), desired("blog", 2)],
      "www",
    );
    expect(actions.find((a) => a.path === "www")?.action).toBe("update");
    expect(actions.find((a) => a.path === "blog")).toMatchObject({ action: "none", reason: /not selected/ });
  });

  test("parameter changes show old and new values; sensitive ones by name only", () => {
    expect(paramChanges({ a: ["1"], b: ["x"] }, { a: ["2"], c: ["y"] }, ["pw"], [])).toEqual({
      a: { old: ["1"], new: ["2"] },
      b: { old: ["x"], new: null },
      c: { old: null, new: ["y"] },
      pw: { old: ["(sensitive)"], new: null },
    });
  });
});
