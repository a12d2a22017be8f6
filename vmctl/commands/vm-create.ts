import type { Command } from "commander";
import { sha512Crypt } from "../../lib/crypt/sha512-crypt.js";
import { AppError } from "../../lib/errors.js";
import type { CliDeps, GlobalOptions } from "../context.js";
import { parseSize } from "../vm/allocate.js";
import { createReadyVm } from "../vm/create-ready.js";
import { readSshKeys, readTextFile } from "./flag-files.js";
import { imageStore, vmContext } from "./vm-deps.js";

interface CreateOptions {
  net: string;
  image: string;
  host?: string;
  cpus: string;
  memory: string;
  disk?: string;
  sshKey: string[];
  passwordFile?: string;
  userData?: string;
  ip?: string;
  identity: string;
  user?: string;
  wait: boolean;
  timeout: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerVmCreate(
  program: Command,
  deps: CliDeps,
  globals: () => GlobalOptions,
): void {
  program
    .command("create")
    .description("create a VM from a cloud image, plug it into a network and boot it")
    .argument("<name>", "VM name (also its hostname)")
    .requiredOption("--net <network>", "network to attach to")
    .requiredOption("--image <image>", "image name (vmctl image list) or path to a qcow2/raw file")
    .option("--host <host>", "host to run on (default: the first in the cluster file)")
    .option("--cpus <n>", "virtual CPUs", "1")
    .option("--memory <size>", "memory, e.g. 1G or 512M", "1G")
    .option("--disk <size>", "grow the disk to this size, e.g. 20G")
    .option("--ssh-key <file>", "public key file for the login user (repeatable)", collect, [])
    .option("--password-file <file>", "file holding the login user's password")
    .option("--user-data <file>", "user-data served verbatim instead of the generated cloud-config")
    .option("--ip <ip>", "address in the network (default: the lowest free one)")
    .option(
      "--identity <mode>",
      "ec2 (AWS-shaped SMBIOS: IMDSv2, no image change) or aws, or plain",
      "ec2",
    )
    .option("--user <name>", "the image's login user, for vmctl ssh (default: the image's)")
    .option("--no-wait", "return once the VM is started")
    .option("--timeout <seconds>", "how long to wait for the VM to be ready", "600")
    .action(async (name: string, o: CreateOptions) => {
      const g = globals();
      const cpus = Number(o.cpus);
      if (!Number.isInteger(cpus) || cpus < 1 || cpus > 64)
        throw new AppError("INVALID", `--cpus ${o.cpus}: a whole number from 1 to 64`);
      const memory = parseSize(o.memory);
      if (memory === undefined || memory < 128 * 2 ** 20)
        throw new AppError("INVALID", `--memory ${o.memory}: a size of at least 128M, e.g. 1G`);
      const disk = o.disk === undefined ? undefined : parseSize(o.disk);
      if (o.disk !== undefined && disk === undefined)
        throw new AppError("INVALID", `--disk ${o.disk}: a size, e.g. 20G`);
      const timeout = Number(o.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0)
        throw new AppError("INVALID", `--timeout ${o.timeout}: seconds, e.g. 600`);
      if (!["ec2", "aws", "plain"].includes(o.identity))
        throw new AppError("INVALID", `--identity ${o.identity}: ec2, aws or plain`);
      const sshKeys = readSshKeys(o.sshKey);
      const password = o.passwordFile
        ? readTextFile("--password-file", o.passwordFile).split("\n")[0]
        : undefined;
      if (o.passwordFile && !password)
        throw new AppError("INVALID", `--password-file ${o.passwordFile}: the first line is empty`);
      const userData = o.userData ? readTextFile("--user-data", o.userData) : undefined;
      const image = await imageStore(deps, g).resolve(o.image);
      if (disk !== undefined && disk < image.virtualSize) {
        throw new AppError(
          "INVALID",
          `--disk ${o.disk}: smaller than the image (${image.virtualSize} bytes)`,
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
          cpus,
          memoryMiB: Math.round(memory / 2 ** 20),
          ...(disk ? { diskBytes: disk } : {}),
          sshKeys,
          ...(password ? { passwordHash: sha512Crypt(password) } : {}),
          ...(userData !== undefined ? { userData } : {}),
          ...(o.ip ? { ip: o.ip } : {}),
          identity: o.identity === "plain" ? "plain" : "ec2",
          ...(user ? { loginUser: user } : {}),
        },
        ctx,
        o.wait ? timeout : undefined,
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
          }),
        );
      else
        deps.stdout(
          `${name} ${o.wait ? "ready" : "started"}: ${created.ip} on ${created.net.name}, host ${created.host.name}`,
        );
    });
}
