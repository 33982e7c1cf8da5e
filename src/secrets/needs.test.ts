import { describe, expect, it } from "vitest";
import { evaluateFile } from "../cvl/index.js";
import { secretNeeds, sensitiveParams } from "./needs.js";

const text = `CVL = "0.8";
Db extends ContainerAppliance {
  var "sensitive" password, dsn, replica;
  var user;
  image = "db.tar";
  user = "app";
  dsn = { user => user, password => password };
}
Site extends VANAppliance {
  var "sensitive" secret;
  Db db;
  db.password = secret;
  vanIF = "db.ethernet0";
}`;

describe("sensitive parameters of an appliance", () => {
  it("tells sources (which need a value) from parameters that carry another's secret", async () => {
    const { evaluation } = await evaluateFile("/srv/site.cvl", { text, object: "Site" });
    expect(sensitiveParams(evaluation!.components)).toEqual([
      { component: "", param: "secret", path: "secret", sources: ["secret"] },
      { component: "db", param: "password", path: "db.password", sources: ["secret"] },
      { component: "db", param: "dsn", path: "db.dsn", sources: ["secret"] },
      { component: "db", param: "replica", path: "db.replica", sources: ["db.replica"] },
    ]);
    expect(secretNeeds("/srv/site.cvl", evaluation!.components)).toEqual([
      { file: "/srv/site.cvl", component: "", param: "secret" },
      { file: "/srv/site.cvl", component: "db", param: "replica" },
    ]);
  });
});
