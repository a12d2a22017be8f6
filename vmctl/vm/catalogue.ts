/**
 * Vendor cloud images `vmctl image pull NAME` knows without a URL: each with the checksums file
 * its vendor publishes beside it and the login user cloud-init creates. The URLs are the
 * vendors' "latest" names: what they hold changes, the checksums file changes with it.
 */
export interface KnownImage {
  url: string;
  checksums: string;
  user: string;
}

const DEBIAN = "https://cloud.debian.org/images/cloud";
const FEDORA =
  "https://download.fedoraproject.org/pub/fedora/linux/releases/41/Cloud/x86_64/images";

export const KNOWN_IMAGES: Record<string, KnownImage> = {
  "debian-12": {
    url: `${DEBIAN}/bookworm/latest/debian-12-genericcloud-amd64.qcow2`,
    checksums: `${DEBIAN}/bookworm/latest/SHA512SUMS`,
    user: "debian",
  },
  "debian-13": {
    url: `${DEBIAN}/trixie/latest/debian-13-genericcloud-amd64.qcow2`,
    checksums: `${DEBIAN}/trixie/latest/SHA512SUMS`,
    user: "debian",
  },
  "ubuntu-24.04": {
    url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
    checksums: "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS",
    user: "ubuntu",
  },
  "fedora-41": {
    url: `${FEDORA}/Fedora-Cloud-Base-Generic-41-1.4.x86_64.qcow2`,
    checksums: `${FEDORA}/Fedora-Cloud-41-1.4-x86_64-CHECKSUM`,
    user: "fedora",
  },
};
