import { Option } from "@commander-js/extra-typings";
import { sha512Crypt } from "../../lib/crypt/sha512-crypt.js";
import { AppError } from "../../lib/errors.js";
import type { CliDeps } from "../context.js";
import type { Parent } from "../program.js";
import { readyState } from "../vm/cloud-init-console.js";
import { createReadyVm } from "../vm/create-ready.js";
import { checkLoginUser } from "../vm/names.js";
import { readBytesFile, readSshKeys, readTextFile } from "./flag-files.js";
import { seconds, size, wholeNumber } from "./flag-parsers.js";
import { sgList } from "./port.js";
import { imageStore, vmContext } from "./vm-deps.js";

const collect = (v: string, prev: string[]) => [...prev, v];
const memory = size("--memory", "128M");

export function registerVmCreate(program: Parent, deps: CliDeps): void {
  program
    .command("create")
    .description("create a VM from a cloud image, plug it into a network and boot it")
    .argument("<name>", "VM name (also its hostname)")
    .requiredOption("--net <network>", "network to attach to")
    .requiredOption("--image <image>", "image name (vmctl image list) or path to a qcow2/raw file")
    .option("--host <host>", "host to run on (default: the first in the cluster file)")
    .option("--cpus <n>", "virtual CPUs", wholeNumber("--cpus", 1, 64), 1)
    .addOption(
      new Option("--memory <size>", "memory, e.g. 1G or 512M")
        .argParser(memory)
        .default(memory("1G"), "1G"),
    )
    .option("--disk <size>", "grow the disk to this size, e.g. 20G", size("--disk"))
    .option("--ssh-key <file>", "public key file for the login user (repeatable)", collect, [])
    .option("--password-file <file>", "file holding the login user's password")
    .option("--user-data <file>", "user-data served verbatim instead of the generated cloud-config")
    .option("--ip <ip>", "address in the network (default: the lowest free one)")
    .addOption(
      new Option(
        "--identity <mode>",
        "ec2 (AWS-shaped SMBIOS: IMDSv2, no image change) or aws, openstack (nova's SMBIOS: the OpenStack datasource, static network), or plain",
      )
        .choices(["ec2", "aws", "openstack", "plain"] as const)
        .default("ec2" as const),
    )
    .addOption(
      new Option(
        "--firmware <kind>",
        "boot the image's own bootloader with bios (SeaBIOS) or uefi (OVMF) (default: what the image has, BIOS if both)",
      ).choices(["bios", "uefi"] as const),
    )
    .option(
      "--secure-boot",
      "UEFI with secure boot on (Microsoft's keys enrolled, as signed shims need)",
    )
    .option("--user <name>", "the image's login user, for vmctl ssh (default: the image's)")
    .option(
      "--sg <groups>",
      "security groups, comma-separated (default: the network's default group)",
    )
    .option("--no-wait", "return once the VM is started")
    .option(
      "--timeout <seconds>",
      "how long to wait for the VM to be ready",
      seconds("--timeout"),
      600,
    )
    .action(async (name, o, self) => {
      const g = self.optsWithGlobals();
      if (o.user !== undefined) checkLoginUser("--user", o.user);
      const sshKeys = readSshKeys(o.sshKey);
      const password = o.passwordFile
        ? readTextFile("--password-file", o.passwordFile).split("\n")[0]
        : undefined;
      if (o.passwordFile && !password)
        throw new AppError("INVALID", `--password-file ${o.passwordFile}: the first line is empty`);
      const userData = o.userData ? readBytesFile("--user-data", o.userData) : undefined;
      const image = await imageStore(deps, g).resolve(o.image);
      if (o.disk !== undefined && o.disk.bytes < image.virtualSize) {
        throw new AppError(
          "INVALID",
          `--disk ${o.disk.text}: smaller than the image (${image.virtualSize} bytes)`,
        );
      }
      const ctx = vmContext(deps, g);
      const user = o.user ?? image.user;
      const created = await createReadyVm(
        {
          name,
          network: o.net,
          image,
          ...(o.host ? { host: o.host } : {}),
          cpus: o.cpus,
          memoryMiB: Math.round(o.memory.bytes / 2 ** 20),
          ...(o.disk ? { diskBytes: o.disk.bytes } : {}),
          sshKeys,
          ...(password ? { passwordHash: sha512Crypt(password) } : {}),
          ...(userData !== undefined ? { userData } : {}),
          ...(o.ip ? { ip: o.ip } : {}),
          identity: o.identity === "aws" ? "ec2" : o.identity,
          ...(user ? { loginUser: user } : {}),
          firmware: {
            ...(o.firmware ? { firmware: o.firmware } : {}),
            ...(o.secureBoot ? { secureBoot: true } : {}),
          },
          ...(o.sg !== undefined ? { groups: sgList(o.sg) } : {}),
        },
        ctx,
        // A dry run started nothing, so there is nothing to wait for.
        o.wait && !g.dryRun ? o.timeout : undefined,
      );
      if (g.json)
        deps.stdout(
          JSON.stringify({
            name,
            uuid: created.uuid,
            host: created.host.name,
            network: created.net.name,
            ip: created.ip,
            mac: created.mac,
            ...(created.cloudInit ? { cloudInit: created.cloudInit } : {}),
          }),
        );
      else
        deps.stdout(
          `${name} ${g.dryRun ? "would start" : created.cloudInit ? readyState(created.cloudInit) : o.wait ? "ready" : "started"}: ${created.ip} on ${created.net.name}, host ${created.host.name}`,
        );
    });
}
