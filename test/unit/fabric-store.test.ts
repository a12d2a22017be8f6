import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NetworkStore } from "../../vmctl/net/network-store.js";
import { testDir } from "../helpers/test-dir.js";

const dir = () => testDir("vmctl-store-");

describe("network store", () => {
  it("starts empty and persists what update returns, leaving no temporary or lock file", async () => {
    const d = dir();
    const store = new NetworkStore(d);
    expect(store.read()).toEqual({
      version: 1,
      networks: [],
      ports: [],
      ipGroups: [],
      securityGroups: [],
    });
    await store.update(async (data) => ({
      data: {
        ...data,
        ports: [{ network: "n", host: "h", ip: "10.0.0.5", dev: "t", mac: "52:54:00:00:00:05" }],
      },
      result: undefined,
    }));
    expect(new NetworkStore(d).read().ports).toHaveLength(1);
    expect(readdirSync(d).sort()).toEqual(["networks.json"]);
  });

  it("serialises concurrent read-modify-write cycles (no lost update)", async () => {
    const store = new NetworkStore(dir());
    const add = (i: number) =>
      store.update(async (data) => {
        await new Promise((r) => setTimeout(r, 5));
        const port = { network: "n", host: "h", ip: `10.0.0.${i}`, dev: `t${i}`, mac: "" };
        return { data: { ...data, ports: [...data.ports, port] }, result: undefined };
      });
    await Promise.all([1, 2, 3, 4, 5, 6].map(add));
    expect(
      store
        .read()
        .ports.map((p) => p.dev)
        .sort(),
    ).toEqual(["t1", "t2", "t3", "t4", "t5", "t6"]);
  });

  it("keeps the old file when the update throws, and releases the lock", async () => {
    const d = dir();
    const store = new NetworkStore(d);
    await expect(
      store.update(async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(existsSync(join(d, "networks.lock"))).toBe(false);
    expect(existsSync(join(d, "networks.json"))).toBe(false);
  });

  it("times out on a lock held by a live process and takes over one left by a dead one", async () => {
    const d = dir();
    writeFileSync(join(d, "networks.lock"), `${process.pid}\n`);
    await expect(new NetworkStore(d, 200).update(async () => ({ result: 1 }))).rejects.toThrow(
      "held by another vmctl",
    );
    writeFileSync(join(d, "networks.lock"), "999999999\n");
    await expect(new NetworkStore(d, 200).update(async () => ({ result: 2 }))).resolves.toBe(2);
  });

  it("reports a corrupt file in one line", () => {
    const d = dir();
    writeFileSync(join(d, "networks.json"), "{nope");
    expect(() => new NetworkStore(d).read()).toThrow(/networks\.json is corrupt/);
    expect(readFileSync(join(d, "networks.json"), "utf8")).toBe("{nope");
  });
});
