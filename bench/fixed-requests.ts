// Sends exactly N GETs over C keep-alive connections and waits for every answer; exits 1 if
// any was not 200. The load generator of bench/mdserver-instructions.sh (a count, not a time).
import { Agent, get } from "node:http";

const [port, count, concurrency = "10", path = "/2021-03-23/meta-data/instance-id"] =
  process.argv.slice(2);
const n = Number(count);
const agent = new Agent({ keepAlive: true, maxSockets: Number(concurrency) });
let sent = 0;
let answered = 0;
let bad = 0;
await new Promise<void>((resolve, reject) => {
  const one = () => {
    if (sent >= n) return;
    sent++;
    get({ host: "127.0.0.1", port: Number(port), path, agent }, (res) => {
      if (res.statusCode !== 200) bad++;
      res.resume();
      res.on("end", () => {
        answered++;
        if (answered === n) resolve();
        else one();
      });
    }).on("error", reject);
  };
  for (let i = 0; i < Number(concurrency); i++) one();
});
agent.destroy();
if (bad) {
  process.stderr.write(`fixed-requests: ${bad} of ${n} answers were not 200\n`);
  process.exit(1);
}
