import { spawnSync } from "node:child_process";
import { verify, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { int, oid, seq, tlv, utcTime } from "../../mdserver/identity/der.js";
import { identityPaths, loadOrCreateIdentity } from "../../mdserver/identity/identity-store.js";
import { testApp } from "../helpers/app-fixture.js";

const dir = mkdtempSync(join(tmpdir(), "md-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("DER builder", () => {
  it("encodes lengths, integers, OIDs and times as DER does", () => {
    expect(tlv(0x04, Buffer.alloc(3)).toString("hex")).toBe("0403000000");
    expect(tlv(0x04, Buffer.alloc(200)).subarray(0, 3).toString("hex")).toBe("0481c8");
    expect(tlv(0x04, Buffer.alloc(300)).subarray(0, 4).toString("hex")).toBe("0482012c");
    expect(int(1).toString("hex")).toBe("020101");
    expect(int(Buffer.from([0x80])).toString("hex")).toBe("02020080");
    expect(int(Buffer.from([0, 0, 0x7f])).toString("hex")).toBe("02017f");
    expect(oid("1.2.840.113549.1.1.11").toString("hex")).toBe("06092a864886f70d01010b");
    expect(utcTime(new Date("2026-12-03T18:00:01Z")).toString("ascii", 2)).toBe("261203180001Z");
    expect(seq(int(1)).toString("hex")).toBe("3003020101");
  });
});

describe("the host's identity key", () => {
  const doc = '{\n  "instanceId" : "i-3f6c1d2e8a4b4c7d9"\n}';

  it("is created 0600 at first start with a certificate openssl and node read", async () => {
    const signer = await loadOrCreateIdentity(dir, "host1");
    const p = identityPaths(dir);
    expect(statSync(p.key).mode & 0o777).toBe(0o600);
    expect(statSync(p.certificate).mode & 0o777).toBe(0o644);
    const cert = new X509Certificate(signer.certificatePem);
    expect(cert.subject).toBe("CN=mdserver instance identity host1");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(openssl(["x509", "-in", p.certificate, "-noout", "-subject"]).out).toContain(
      "mdserver instance identity host1",
    );
    const again = await loadOrCreateIdentity(dir, "host1");
    expect(again.certificatePem).toBe(signer.certificatePem);
  });

  it("signs documents that openssl verifies, and a tampered one fails", async () => {
    const signer = await loadOrCreateIdentity(dir, "host1");
    const p = identityPaths(dir);
    const files = {
      doc: join(dir, "document"),
      bad: join(dir, "tampered"),
      sig: join(dir, "signature"),
      p7: join(dir, "pkcs7"),
      pub: join(dir, "pub.pem"),
    };
    writeFileSync(files.doc, doc);
    writeFileSync(files.bad, doc.replace("d9", "d8"));
    writeFileSync(files.sig, Buffer.from(signer.signature(doc), "base64"));
    writeFileSync(files.p7, `-----BEGIN PKCS7-----\n${signer.pkcs7(doc)}\n-----END PKCS7-----\n`);
    writeFileSync(
      files.pub,
      new X509Certificate(signer.certificatePem).publicKey.export({ type: "spki", format: "pem" }),
    );
    const smime = (content: string) =>
      openssl([
        "smime",
        "-verify",
        "-in",
        files.p7,
        "-inform",
        "PEM",
        "-content",
        content,
        "-certfile",
        p.certificate,
        "-noverify",
      ]);
    const dgst = (content: string) =>
      openssl(["dgst", "-sha256", "-verify", files.pub, "-signature", files.sig, content]);
    expect(smime(files.doc)).toMatchObject({
      status: 0,
      out: expect.stringContaining("Verification successful"),
    });
    expect(smime(files.bad).status).not.toBe(0);
    expect(dgst(files.doc)).toMatchObject({ status: 0, out: "Verified OK\n" });
    expect(dgst(files.bad).status).not.toBe(0);
  });

  it("is served as AWS's four identity entries, each answering, signing the served document", async () => {
    const signer = await loadOrCreateIdentity(dir, "host1");
    const { req } = testApp({ signer });
    const listing = (await req("/2021-03-23/dynamic/instance-identity")).body.split("\n");
    expect(listing.sort()).toEqual(["document", "pkcs7", "rsa2048", "signature"]);
    const document = (await req("/2021-03-23/dynamic/instance-identity/document")).body;
    const pkcs7 = (await req("/latest/dynamic/instance-identity/pkcs7")).body;
    expect((await req("/latest/dynamic/instance-identity/rsa2048/")).body).toBe(pkcs7);
    expect(pkcs7).toBe(signer.pkcs7(document));
    const signature = (await req("/latest/dynamic/instance-identity/signature")).body;
    const pub = new X509Certificate(signer.certificatePem).publicKey;
    expect(verify("sha256", Buffer.from(document), pub, Buffer.from(signature, "base64"))).toBe(
      true,
    );
    expect(pkcs7.split("\n").every((l) => l.length <= 64)).toBe(true);
  });

  it("offers only the document without a state-dir (no key to sign with)", async () => {
    const { req } = testApp();
    expect((await req("/latest/dynamic/instance-identity/")).body).toBe("document");
  });
});
