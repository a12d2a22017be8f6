import type { CliDeps } from "../context.js";
import type { Parent } from "../program.js";
import { describeOutcome } from "../vm/cloud-init-console.js";
import { findVm, listVms, type Vm, vmPaths } from "../vm/vms.js";
import { consoleOutcome } from "../vm/wait.js";
import { age, table } from "./table.js";
import { vmContext } from "./vm-deps.js";

function summary(vm: Vm) {
  const i = vm.instance;
  return {
    name: i.name,
    host: vm.host.name,
    state: vm.state,
    network: i.network ?? "",
    ip: i.addresses[0] ?? "",
    mac: i.macs[0] ?? "",
    image: i.image ?? "",
    created: i.created ?? "",
    uuid: i.uuid,
    instanceId: i.instanceId,
  };
}

export function registerVmList(program: Parent, deps: CliDeps): void {
  program
    .command("list")
    .description("list VMs on every host")
    .action(async (_o, self) => {
      const g = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      const vms = (await listVms(ctx.fabric.cluster, ctx.virsh, deps.stderr)).map(summary);
      if (g.json) return deps.stdout(JSON.stringify(vms));
      const rows = [["NAME", "HOST", "STATE", "NETWORK", "IP", "MAC", "IMAGE", "AGE"]];
      for (const v of vms)
        rows.push([v.name, v.host, v.state, v.network, v.ip, v.mac, v.image, age(v.created)]);
      for (const line of table(rows)) deps.stdout(line);
    });

  program
    .command("show")
    .description("everything about one VM")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      const vm = await findVm(ctx.fabric.cluster, ctx.virsh, name);
      const paths = vmPaths(vm.host, name);
      const cloudInit = await consoleOutcome(
        ctx.fabric.runnerFor(vm.host.target),
        paths.consoleLog,
      );
      const info = {
        ...summary(vm),
        cpusMemory: vm.instance.instanceType ?? "",
        sshKeys: vm.instance.sshKeys.map((k) => k.name),
        loginUser: vm.instance.loginUser ?? "",
        disk: paths.disk,
        consoleLog: paths.consoleLog,
        libvirt: vm.host.libvirt,
        // Of the latest boot, from the serial console (see vm/cloud-init-console.ts).
        cloudInit: describeOutcome(cloudInit),
      };
      if (g.json)
        return deps.stdout(JSON.stringify({ ...info, cloudInitProblems: cloudInit.problems }));
      for (const [k, v] of Object.entries(info))
        deps.stdout(`${`${k}:`.padEnd(13)}${Array.isArray(v) ? v.join(", ") : v}`);
    });

  program
    .command("ip")
    .description("print a VM's address")
    .argument("<name>")
    .action(async (name, _o, self) => {
      const g = self.optsWithGlobals();
      const ctx = vmContext(deps, g);
      const vm = await findVm(ctx.fabric.cluster, ctx.virsh, name);
      const ip = vm.instance.addresses[0] ?? "";
      if (g.json)
        return deps.stdout(JSON.stringify({ name, ip, addresses: vm.instance.addresses }));
      deps.stdout(ip);
    });
}
