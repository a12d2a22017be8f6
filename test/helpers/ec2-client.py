#!/usr/bin/python3
"""Drives Debian's cloud-init EC2 datasource (its own code) as a client of a metadata server.

Only the platform probe is replaced: the DMI values a guest would have are passed in, so
cloud-init's own identify_platform() decides between `aws` (IMDSv2) and `unknown` (IMDSv1).
Prints one JSON object: what cloud-init ended up with.
"""
import argparse
import hashlib
import json
import logging
import sys
import shutil
import tempfile

from cloudinit import distros, helpers
from cloudinit import url_helper
from cloudinit.sources import DataSourceEc2 as ec2

p = argparse.ArgumentParser()
p.add_argument("--url", default="http://169.254.169.254")
p.add_argument("--uuid", default="7c2b4b8a-0f0e-4c5e-9d4b-2f1e7a6b5c4d")
p.add_argument("--serial", default="")
p.add_argument("--max-wait", type=int, default=10)
p.add_argument("--timeout", type=int, default=5)
p.add_argument("--phone-home", action="store_true", help="then run cc_phone_home on the user-data")
p.add_argument("--nic", help="MAC=NAME: the guest's NIC; then render the network config for it")
args = p.parse_args()

logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)

# Every warning cloud-init logs: from 23.4 on each one makes a boot "degraded".
warnings = []


class WarningCollector(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())


logging.getLogger().addHandler(WarningCollector(level=logging.WARNING))


def platform_data():
    return {
        "uuid": args.uuid.lower(),
        "uuid_source": "dmi",
        "serial": args.serial.lower(),
        "asset_tag": "",
        "vendor": "qemu",
        "product_name": "standard pc (i440fx + piix, 1996)",
    }


ec2._collect_platform_data = platform_data

if args.nic:
    # The NICs a guest would have: this namespace's own interfaces have other MACs and names.
    from cloudinit import net

    nic_mac, nic_name = args.nic.split("=")
    net.get_interfaces_by_mac = lambda *a, **k: {nic_mac: nic_name}
    net.find_fallback_nic = lambda *a, **k: nic_name

# Count the HTTP requests cloud-init makes, so a test can wait for the server to log them all.
requests = [0]
_readurl = url_helper.readurl


def counted_readurl(*a, **k):
    requests[0] += 1
    return _readurl(*a, **k)


url_helper.readurl = counted_readurl
tmp = tempfile.mkdtemp(prefix="ec2-client-")
paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
distro = distros.fetch("debian")("debian", {}, paths)
sys_cfg = {
    "datasource": {
        "Ec2": {
            "strict_id": False,
            "metadata_urls": [args.url],
            "max_wait": args.max_wait,
            "timeout": args.timeout,
        }
    }
}
ds = ec2.DataSourceEc2(sys_cfg, distro, paths)


def text_or_none(b):
    try:
        return b.decode() if isinstance(b, bytes) else b
    except UnicodeDecodeError:
        return None


found = ds.get_data()
out = {"found": bool(found), "platform": ds.cloud_name}
if found:
    ud = ds.get_userdata_raw()
    out.update(
        instance_id=ds.get_instance_id(),
        local_hostname=ds.get_hostname().hostname,
        public_keys=ds.get_public_ssh_keys(),
        userdata=text_or_none(ud),
        userdata_sha256=hashlib.sha256(ud if isinstance(ud, bytes) else ud.encode()).hexdigest(),
        # What cloud-init makes of it (its UserDataProcessor unpacks gzip, splits multipart).
        userdata_parts=[
            text_or_none(p.get_payload(decode=True))
            for p in ds.get_userdata().walk()
            if not p.is_multipart()
        ],
        metadata=ds.metadata,
        identity=ds.identity,
        api_version=ds._crawled_metadata.get("_metadata_api_version"),
    )
if found and args.phone_home:
    # cloud-final's phone_home module, fed the cloud-config this instance received.
    import yaml
    from cloudinit import cloud
    from cloudinit.config import cc_phone_home

    cfg = yaml.safe_load(out["userdata"])
    c = cloud.Cloud(ds, paths, sys_cfg, distro, None)
    cc_phone_home.handle("phone_home", cfg, c, logging.getLogger("phone_home"), [])
    out["phone_home_url"] = cfg.get("phone_home", {}).get("url")
if found and args.nic:
    out["network_config"] = ds.network_config
out["version"] = __import__("cloudinit.version", fromlist=["version_string"]).version_string()
out["warnings"] = warnings
out["requests"] = requests[0]
print(json.dumps(out, default=str))
shutil.rmtree(tmp, ignore_errors=True)
