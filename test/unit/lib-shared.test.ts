import { describe, expect, it } from "vitest";
import { splitDomainXml, virshCommand } from "../../lib/virsh.js";
import { loadYaml } from "../../lib/yaml-file.js";

describe("virsh commands", () => {
  it("selects the connection with -c only when a URI is given", () => {
    expect(virshCommand("qemu:///system", ["list"]).args).toEqual([
      "-c",
      "qemu:///system",
      "-q",
      "list",
    ]);
    expect(virshCommand(undefined, ["list"]).args).toEqual(["-q", "list"]);
    expect(virshCommand(undefined, ["start", "a"], true).mutates).toBe(true);
  });

  it("splits a batched dumpxml into one document per domain", () => {
    const out =
      "<domain type='kvm'>\n  <name>a</name>\n</domain>\n<domain>\n<name>b</name>\n</domain>\n\n";
    expect(splitDomainXml(out)).toEqual([
      "<domain type='kvm'>\n  <name>a</name>\n</domain>",
      "<domain>\n<name>b</name>\n</domain>",
    ]);
    expect(splitDomainXml("")).toEqual([]);
  });
});

describe("YAML files", () => {
  it("reports a syntax error in one line naming the file", () => {
    expect(() => loadYaml("/etc/x.yaml", "a: [1,\n")).toThrow(
      /^\/etc\/x\.yaml: not valid YAML: [^\n]+$/,
    );
  });

  it("returns the parsed document", () => {
    expect(loadYaml("f", "a: 1\n")).toEqual({ a: 1 });
  });
});
