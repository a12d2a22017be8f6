import { isIP } from "node:net";
import { ConfigError } from "../../lib/errors.js";
import { isSshPublicKey } from "../../lib/instance.js";
import { normalizeAddress } from "../../lib/net-address.js";
import { readIni } from "./ini-read.js";
import {
  BadValue,
  bool,
  int,
  list,
  oneOf,
  optionalStr,
  parseSection,
  type SectionValues,
  str,
} from "./ini-schema.js";

/**
 * The [mdserver] section: every key, its type and default, in one place.
 * port, password, hostname-prefix and md-base are the original mdserver's keys;
 * listen_address and userdata_dir are accepted spellings from its later fork.
 */
export const MDSERVER_KEYS = {
  listen: {
    ...list(["169.254.169.254"], (a) => (isIP(a) ? undefined : `"${a}" is not an IP address`)),
    aliases: ["listen_address"],
  },
  port: int(80, 1, 65535),
  // Also listen on AWS's IPv6 metadata address (fd00:ec2::254), which must be on an interface.
  ipv6: bool(false),
  password: optionalStr(),
  "hostname-prefix": str(""),
  domain: str(""),
  "md-base": str("/etc/mdserver"),
  "userdata-dir": { ...optionalStr(), aliases: ["userdata_dir"] },
  "ssh-pwauth": bool(true),
  "generate-user-data": bool(true),
  "phone-home": bool(true),
  "state-dir": { ...optionalStr(), default: "/var/lib/mdserver" as string | undefined },
  imdsv2: oneOf("optional", ["optional", "required"] as const),
  libvirt: bool(true),
  "libvirt-uri": optionalStr(),
  "instances-file": optionalStr(),
  "reconcile-seconds": int(60, 1, 86400),
  region: str("local-1"),
  "availability-zone": str("local-1a"),
  "instance-type": str("libvirt.vm"),
  "account-id": {
    ...str("000000000000"),
    parse: (t: string) => {
      if (!/^\d{12}$/.test(t)) throw new BadValue(`"${t}" is not 12 digits`);
      return t;
    },
  },
  "network-interfaces": bool(true),
  "log-requests": bool(true),
  // Where --status and /metrics are served; unset: <state-dir>/admin.sock; "off": nowhere.
  "admin-socket": optionalStr(),
};

/** AWS's IMDS address for IPv6 (Nitro instances), served with `ipv6 = yes`. */
export const IPV6_METADATA_ADDRESS = "fd00:ec2::254";

export type MdserverSection = SectionValues<typeof MDSERVER_KEYS>;

export interface MdserverConfig {
  file: string;
  server: MdserverSection;
  /** [public-keys] NAME = KEY: given to every instance, after its own keys. */
  publicKeys: { name: string; key: string }[];
  userdataDir: string;
  /** Every address to listen on: `listen`, plus fd00:ec2::254 with `ipv6 = yes`. */
  listen: string[];
  /** The admin endpoint's unix socket, or undefined when there is none. */
  adminSocket: string | undefined;
}

/** Parses the INI text of mdserver.conf; throws ConfigError naming file, section and key. */
export function parseMdserverConfig(file: string, text: string): MdserverConfig {
  const raw = readIni(file, text, ["mdserver", "public-keys"]);
  const server = parseSection(file, "mdserver", raw.get("mdserver")?.entries, MDSERVER_KEYS);
  const publicKeys: MdserverConfig["publicKeys"] = [];
  for (const [name, { value: key }] of raw.get("public-keys")?.entries ?? []) {
    if (!isSshPublicKey(key)) {
      throw new ConfigError(
        `${file}: [public-keys] ${name}: not an OpenSSH public key (expected "ssh-ed25519 AAAA... comment")`,
      );
    }
    publicKeys.push({ name, key });
  }
  const userdataDir = server["userdata-dir"] ?? `${server["md-base"].replace(/\/+$/, "")}/userdata`;
  const admin = server["admin-socket"];
  const stateDir = server["state-dir"];
  const adminSocket =
    admin === "off"
      ? undefined
      : (admin ??
        (stateDir === undefined ? undefined : `${stateDir.replace(/\/+$/, "")}/admin.sock`));
  const listen = [...server.listen];
  if (server.ipv6 && !listen.some((a) => normalizeAddress(a) === IPV6_METADATA_ADDRESS)) {
    listen.push(IPV6_METADATA_ADDRESS);
  }
  return { file, server, publicKeys, userdataDir, adminSocket, listen };
}
