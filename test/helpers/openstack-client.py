#!/usr/bin/python3
"""Drives Debian's cloud-init OpenStack datasource (its own code) as a client of mdserver.

Only the firmware is faked: the DMI product name a guest with vmctl's `openstack` identity has,
and the guest's NIC (this namespace's own interfaces have other MACs and names). cloud-init then
reads /openstack/ itself, converts network_data.json into its network config, and its own ENI
renderer writes the interfaces file a guest would boot with. Prints one JSON object.
"""
import argparse
import json
import logging
import os
import sys
import shutil
import tempfile

from cloudinit import distros, dmi, helpers, net, url_helper
from cloudinit.net import eni, network_state
from cloudinit.sources import DataSourceOpenStack as openstack_ds

p = argparse.ArgumentParser()
p.add_argument("--url", default="http://169.254.169.254")
p.add_argument("--nic", required=True, help="MAC=NAME: the guest's NIC")
args = p.parse_args()

logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
warnings = []


class WarningCollector(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())


logging.getLogger().addHandler(WarningCollector(level=logging.WARNING))

_read_dmi = dmi.read_dmi_data
dmi.read_dmi_data = lambda key: "OpenStack Nova" if key == "system-product-name" else _read_dmi(key)
nic_mac, nic_name = args.nic.split("=")
net.get_interfaces_by_mac = lambda *a, **k: {nic_mac: nic_name}
net.find_fallback_nic = lambda *a, **k: nic_name

requests = [0]
_readurl = url_helper.readurl


def counted_readurl(*a, **k):
    requests[0] += 1
    return _readurl(*a, **k)


url_helper.readurl = counted_readurl
tmp = tempfile.mkdtemp(prefix="openstack-client-")
paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
distro = distros.fetch("debian")("debian", {}, paths)
sys_cfg = {
    "datasource_list": ["OpenStack", "None"],
    "datasource": {"OpenStack": {"metadata_urls": [args.url], "max_wait": 10, "timeout": 5}}
}
ds = openstack_ds.DataSourceOpenStack(sys_cfg, distro, paths)
found = ds.get_data()
out = {"found": bool(found), "platform": ds.cloud_name}
if found:
    ud = ds.get_userdata_raw()
    cfg = ds.network_config
    ns = network_state.parse_net_config_data(cfg)
    target = os.path.join(tmp, "target")
    eni.Renderer({"eni_path": "etc/network/interfaces"}).render_network_state(ns, target=target)
    with open(os.path.join(target, "etc/network/interfaces")) as f:
        rendered = f.read()
    out.update(
        instance_id=ds.get_instance_id(),
        local_hostname=ds.get_hostname().hostname,
        public_keys=ds.get_public_ssh_keys(),
        userdata=ud.decode() if isinstance(ud, bytes) else ud,
        network_config=cfg,
        interfaces=rendered,
    )
out["version"] = __import__("cloudinit.version", fromlist=["version_string"]).version_string()
out["warnings"] = warnings
out["requests"] = requests[0]
print(json.dumps(out, default=str))
shutil.rmtree(tmp, ignore_errors=True)
