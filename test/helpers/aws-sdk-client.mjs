// The AWS SDK for JavaScript's IMDS client, run inside a VM namespace by the tests.
// usage: node aws-sdk-client.mjs v1|v2 PATH...   prints a JSON object {path: value}
import { MetadataService } from "@aws-sdk/ec2-metadata-service";

const [mode, ...paths] = process.argv.slice(2);
const service = new MetadataService({
  endpoint: "http://169.254.169.254",
  disableFetchToken: mode === "v1",
  ec2MetadataV1Disabled: mode === "v2",
  httpOptions: { timeout: 3000 },
  retries: 0,
});
const out = {};
for (const path of paths) out[path] = await service.request(path, {});
process.stdout.write(JSON.stringify(out));
