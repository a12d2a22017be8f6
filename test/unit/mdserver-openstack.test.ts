import { describe, expect, it } from "vitest";
import { OPENSTACK_VERSIONS } from "../../mdserver/openstack-tree.js";
import { instance, KEY_A, testApp } from "../helpers/app-fixture.js";

describe("the OpenStack metadata tree", () => {
  it("lists nova's versions under /openstack as plain lines, and each version's documents", async () => {
    const { req } = testApp();
    for (const path of ["/openstack", "/openstack/"])
      expect((await req(path)).body).toBe(OPENSTACK_VERSIONS.join("\n"));
    expect((await req("/openstack/2018-08-27/")).body).toBe(
      "meta_data.json\nnetwork_data.json\nvendor_data.json\nvendor_data2.json",
    );
    for (const v of OPENSTACK_VERSIONS)
      expect((await req(`/openstack/${v}/meta_data.json`)).status).toBe(200);
    expect((await req("/openstack/2099-01-01/meta_data.json")).status).toBe(404);
  });

  it("serves meta_data.json with the domain UUID as uuid, the hostname and the keys", async () => {
    const { req } = testApp({ conf: "[mdserver]\ndomain = example.test\n" });
    const r = await req("/openstack/latest/meta_data.json");
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toEqual({
      uuid: "3f6c1d2e-8a4b-4c7d-9e0f-1a2b3c4d5e6f",
      name: "web1",
      hostname: "web1.example.test",
      launch_index: 0,
      availability_zone: "local-1a",
      project_id: "000000000000",
      public_keys: { alice: KEY_A },
      keys: [{ name: "alice", type: "ssh", data: KEY_A }],
      meta: {},
      devices: [],
    });
  });

  it("describes the VM's address, netmask and default route as static IPv4 in network_data.json", async () => {
    const { req } = testApp();
    expect(JSON.parse((await req("/openstack/latest/network_data.json")).body)).toEqual({
      links: [{ id: "tap0", type: "phy", ethernet_mac_address: "52:54:00:00:00:05", mtu: 1500 }],
      networks: [
        {
          id: "network0",
          type: "ipv4",
          link: "tap0",
          ip_address: "10.0.0.5",
          netmask: "255.255.255.0",
          network_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-/),
          gateway: "10.0.0.1",
          routes: [],
        },
      ],
      services: [],
    });
  });

  it("falls back to DHCP on the link when the record has no subnet", async () => {
    const { req } = testApp({ instances: [instance({ subnet: undefined })] });
    const nd = JSON.parse((await req("/openstack/latest/network_data.json")).body);
    expect(nd.networks).toEqual([
      { id: "network0", type: "ipv4_dhcp", link: "tap0", network_id: expect.any(String) },
    ]);
  });

  it("serves the same user_data as EC2's user-data, and only to the instance itself", async () => {
    const { req } = testApp();
    const os = await req("/openstack/latest/user_data");
    expect(os.status).toBe(200);
    expect(os.body).toBe((await req("/latest/user-data")).body);
    expect(os.body).toMatch(/^#cloud-config\n/);
    // Leaves answer with a trailing slash too, as EC2's do.
    expect((await req("/openstack/latest/user_data/")).body).toBe(os.body);
    expect((await req("/openstack/latest/meta_data.json", { from: "10.0.0.99" })).status).toBe(404);
  });

  it("asks for a token as EC2 does when imdsv2 = required", async () => {
    const { req } = testApp({ conf: "[mdserver]\nimdsv2 = required\n" });
    expect((await req("/openstack/latest/meta_data.json")).status).toBe(401);
  });
});
