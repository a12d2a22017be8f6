import { describe, expect, it } from "vitest";
import {
  addToIpGroup,
  createIpGroup,
  deleteIpGroup,
  removeFromIpGroup,
} from "../../vmctl/net/ip-groups.js";
import { EMPTY_STORE, type StoreData } from "../../vmctl/net/model.js";

const empty = (): StoreData => structuredClone(EMPTY_STORE);

describe("IP groups", () => {
  it("stores CIDRs normalised and sorted, a single address as /32", () => {
    const d = createIpGroup(empty(), "office", ["203.0.113.7", "198.51.100.0/24"]);
    expect(d.ipGroups).toEqual([{ name: "office", cidrs: ["198.51.100.0/24", "203.0.113.7/32"] }]);
    const d2 = addToIpGroup(d, "office", ["192.0.2.0/28"]);
    expect(d2.ipGroups[0]?.cidrs).toEqual(["192.0.2.0/28", "198.51.100.0/24", "203.0.113.7/32"]);
    expect(removeFromIpGroup(d2, "office", ["203.0.113.7"]).ipGroups[0]?.cidrs).toEqual([
      "192.0.2.0/28",
      "198.51.100.0/24",
    ]);
  });

  it("refuses bad input in one line naming the value", () => {
    const d = createIpGroup(empty(), "office", ["198.51.100.0/24"]);
    expect(() => createIpGroup(d, "office", [])).toThrow("IP group office already exists");
    expect(() => createIpGroup(d, "Bad_Name", [])).toThrow('IP group name "Bad_Name" must match');
    expect(() => createIpGroup(d, "x", ["10.0.0.1/8"])).toThrow(
      "CIDR 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?",
    );
    expect(() => createIpGroup(d, "x", ["10.0.0.0/33"])).toThrow("is not an IPv4 address or CIDR");
    expect(() => createIpGroup(d, "x", ["10.0.0.0/8", "10.1.0.0/16"])).toThrow(
      "CIDR 10.1.0.0/16 overlaps 10.0.0.0/8 given before it",
    );
    expect(() => addToIpGroup(d, "office", ["198.51.100.0/24"])).toThrow(
      "198.51.100.0/24 is already in IP group office",
    );
    expect(() => addToIpGroup(d, "office", ["198.51.100.128/25"])).toThrow(
      "198.51.100.128/25 overlaps 198.51.100.0/24 already in IP group office",
    );
    expect(() => removeFromIpGroup(d, "office", ["192.0.2.1"])).toThrow(
      "192.0.2.1/32 is not in IP group office",
    );
    expect(() => addToIpGroup(d, "nope", ["192.0.2.1"])).toThrow("no IP group named nope");
  });

  it("refuses to delete a group a security group rule uses", () => {
    const d = createIpGroup(empty(), "office", ["198.51.100.0/24"]);
    const used: StoreData = {
      ...d,
      securityGroups: [
        { name: "web", rules: [{ direction: "ingress", proto: "tcp", peer: "ipg:office" }] },
      ],
    };
    expect(() => deleteIpGroup(used, "office")).toThrow(
      "IP group office is used by security group web; remove those rules first",
    );
    expect(deleteIpGroup(d, "office").ipGroups).toEqual([]);
  });
});
