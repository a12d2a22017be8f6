#!/usr/bin/env python3
"""Hand-made Ethernet frames for the port security attack tests (stdlib only: AF_PACKET).

  frames.py send IFACE KIND [key=value...]   sends one or more frames, prints how many
  frames.py sniff IFACE SECONDS [key=value...] counts frames matching the filters, prints it

Frames are built byte by byte so a test controls every field an attacker controls: the source
MAC, the ARP sender, the DHCP chaddr, the UDP ports. Runs inside the VM's network namespace.
"""
import os
import random
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
BROADCAST = "ff:ff:ff:ff:ff:ff"


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def ip_bytes(ip):
    return socket.inet_aton(ip)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ether(dst, src, ethertype, payload):
    return mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", ethertype) + payload


def ipv4_udp(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), random.randrange(65536), 0,
                       64, 17, 0, ip_bytes(src), ip_bytes(dst))
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + udp


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac_bytes(sha), ip_bytes(spa),
                       mac_bytes(tha), ip_bytes(tpa))


DHCP_TYPES = {"discover": 1, "offer": 2, "request": 3, "decline": 4, "ack": 5, "release": 7}


def bootp(msg, chaddr, ciaddr="0.0.0.0", yiaddr="0.0.0.0", requested=None, server=None):
    op = 2 if msg in ("offer", "ack") else 1
    head = struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, random.randrange(1 << 32), 0, 0x8000,
                       ip_bytes(ciaddr), ip_bytes(yiaddr), b"\0" * 4, b"\0" * 4)
    body = mac_bytes(chaddr) + b"\0" * 10 + b"\0" * 192 + b"\x63\x82\x53\x63"
    opts = bytes([53, 1, DHCP_TYPES[msg]])
    if requested:
        opts += bytes([50, 4]) + ip_bytes(requested)
    if server:
        opts += bytes([54, 4]) + ip_bytes(server)
    if op == 2:
        # A rogue server hands out itself as router and DNS.
        opts += bytes([1, 4]) + ip_bytes("255.255.255.0") + bytes([3, 4]) + ip_bytes(server)
        opts += bytes([6, 4]) + ip_bytes(server) + bytes([51, 4]) + struct.pack("!I", 3600)
    return head + body + opts + b"\xff"


def build(kind, a):
    src = a["src"]
    if kind == "udp":  # any source MAC and IP: spoofing tests
        return ether(a.get("dst", BROADCAST), src, 0x0800,
                     ipv4_udp(a["ip"], a["to"], int(a.get("sport", 40000)),
                              int(a.get("dport", 40000)), b"portsec"))
    if kind == "arp":  # op=request|reply; a GARP is a request for its own sender address
        op = 1 if a.get("op", "request") == "request" else 2
        return ether(a.get("dst", BROADCAST), src, 0x0806,
                     arp(op, a.get("sha", src), a["spa"], a.get("tha", "00:00:00:00:00:00"),
                         a.get("tpa", a["spa"])))
    if kind == "dhcp":  # a client or server message with any chaddr
        msg = a["msg"]
        server = msg in ("offer", "ack")
        payload = bootp(msg, a.get("chaddr", src), a.get("ciaddr", "0.0.0.0"),
                        a.get("yiaddr", "0.0.0.0"), a.get("requested"), a.get("server"))
        return ether(a.get("dst", BROADCAST), src, 0x0800,
                     ipv4_udp(a.get("ip", "0.0.0.0"), a.get("to", "255.255.255.255"),
                              67 if server else 68, 68 if server else 67, payload))
    if kind == "ipv6":  # an IPv6 frame (router advertisement shaped: ICMPv6 134)
        body = struct.pack("!IHBB", 0x60000000, 8, 58, 255) + b"\xfe\x80" + b"\0" * 14
        body += b"\xff\x02" + b"\0" * 13 + b"\x01" + struct.pack("!BBHI", 134, 0, 0, 0)
        return ether("33:33:00:00:00:01", src, 0x86DD, body)
    raise SystemExit(f"unknown frame kind {kind}")


def send(iface, kind, a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    count = int(a.get("count", 1))
    for _ in range(count):
        if a.get("src") == "random":
            frame = build(kind, {**a, "src": "02:" + ":".join(f"{b:02x}" for b in os.urandom(5))})
        else:
            frame = build(kind, a)
        s.send(frame)
        if "gap" in a:
            time.sleep(float(a["gap"]))
    print(count)


def sniff(iface, seconds, a):
    """Counts frames by Ethernet src/dst and UDP source port (the filters given)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.2)
    want_dst = mac_bytes(a["dst"]) if "dst" in a else None
    want_src = mac_bytes(a["src"]) if "src" in a else None
    want_sport = int(a["sport"]) if "sport" in a else None
    print("ready", flush=True)
    end = time.time() + float(seconds)
    n = 0
    while time.time() < end:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if want_dst and frame[0:6] != want_dst:
            continue
        if want_src and frame[6:12] != want_src:
            continue
        if want_sport is not None:
            if frame[12:14] != b"\x08\x00" or frame[23] != 17:
                continue
            ihl = (frame[14] & 0x0F) * 4
            if struct.unpack("!H", frame[14 + ihl:16 + ihl])[0] != want_sport:
                continue
        n += 1
    print(n)


def main(argv):
    cmd, iface = argv[1], argv[2]
    rest = argv[4:] if cmd == "sniff" else argv[4:]
    a = dict(x.split("=", 1) for x in rest)
    if cmd == "send":
        send(iface, argv[3], a)
    elif cmd == "sniff":
        sniff(iface, argv[3], a)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
