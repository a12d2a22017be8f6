#!/usr/bin/python3
"""AWS's own Python clients (Debian's python3-boto and python3-botocore) against a metadata
server, with the paths they hard-code. Prints one JSON object: what each client got."""
import json
import sys

import boto.utils
from botocore.utils import InstanceMetadataRegionFetcher

url = sys.argv[1] if len(sys.argv) > 1 else "http://169.254.169.254"
out = {}
# Asks for dynamic/instance-identity/ and then every listed entry as <entry>/ (trailing slash).
out["boto_identity"] = boto.utils.get_instance_identity(url=url, timeout=3, num_retries=1)
# botocore's region lookup: PUT a token, then GET latest/meta-data/placement/availability-zone/.
fetcher = InstanceMetadataRegionFetcher(
    timeout=3, num_attempts=1, env={}, config={"ec2_metadata_service_endpoint": url}
)
out["botocore_region"] = fetcher.retrieve_region()
print(json.dumps(out))
