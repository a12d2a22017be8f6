// DHCP create/delete cycle benchmark (not a test). Run as root from the repository root:
//   npx tsc -p tsconfig.json --outDir .cache/bench && node .cache/bench/bench/dhcp-bench.js
// Namespace "VMs" on the fabric lab's host1 (test/helpers/dhcp-lab.ts): each cycle creates one
// through the port API and vmctl's locked DHCP reservation, lets dhclient in it get its lease
// from vmctl's dnsmasq, and deletes it (port, reservation, lease). One VM stays alive throughout
// (so each delete restarts a running dnsmasq), then the same without it (the server stops with
// the last reservation and starts with the next). CYCLES=20 by default.
import { DhcpLab, type NsVm } from "../test/helpers/dhcp-lab.js";

const CYCLES = Number(process.env.CYCLES ?? 20);
const lab = new DhcpLab();

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
const ms = (t0: number) => performance.now() - t0;

async function cycles(label: string): Promise<void> {
  const create: number[] = [];
  const lease: number[] = [];
  const del: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const t0 = performance.now();
    const vm: NsVm = await lab.create(`${label[0]}${i}`);
    create.push(ms(t0));
    const t1 = performance.now();
    const got = await lab.dhcp(vm);
    if (got !== vm.ip) throw new Error(`${vm.name}: DHCP gave ${got}, expected ${vm.ip}`);
    lease.push(ms(t1));
    const t2 = performance.now();
    await lab.delete(vm);
    del.push(ms(t2));
    total.push(ms(t0));
  }
  const row = (what: string, xs: number[]) =>
    `| ${label} | ${what} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`;
  console.log(row("create (address, port, reservation)", create));
  console.log(row("dhclient until bound", lease));
  console.log(row("delete (port, reservation, lease)", del));
  console.log(row("whole cycle", total));
  const left = lab.leases().length;
  console.log(`|   | leases left after ${CYCLES} cycles | ${left} | | |`);
}

try {
  await lab.up();
  console.log(`node ${process.version}, ${new Date().toISOString()}, ${CYCLES} cycles each`);
  console.log("| dnsmasq | step | median ms | min | max |");
  console.log("|---|---|---|---|---|");
  const keep = await lab.create("keep");
  await lab.dhcp(keep);
  await cycles("running (another VM lives)");
  await lab.delete(keep);
  await cycles("stopped between cycles");
} finally {
  lab.down();
}
