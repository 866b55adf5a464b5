#!/usr/bin/env python3
"""Writes a fleet inventory for bench/fleet.sh.

    fleet_inventory.py ROWS FILE [CHANGED-ROW OCTET]

ROWS VMs named vm-00000...; every tenth on DHCP, the others on 10.x.y.z/16. With
CHANGED-ROW, that row's address is 10.0.255.OCTET instead (a one-row edit; no other
row uses 10.0.255.*, so addresses stay unique, as imgbuild requires).
"""
import sys

rows, path = int(sys.argv[1]), sys.argv[2]
changed = int(sys.argv[3]) if len(sys.argv) > 3 else -1
octet = sys.argv[4] if len(sys.argv) > 4 else "0"
key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIfyhm6lbcFhh6fuPYv76s7QQEFtaWtD79Tl4BgtgJgT ops@example"
with open(path, "w") as out:
    out.write("name,ip,prefix,gateway,dns,ssh_key,role\n")
    for i in range(rows):
        third, fourth = 10 + i // 250, str(2 + i % 250)
        address = f"10.{third // 256}.{third % 256}.{fourth}"
        if i == changed:
            address = f"10.0.255.{int(octet) % 256}"
        if i % 10 == 9:
            out.write(f"vm-{i:05d},,,,,{key},worker\n")
        else:
            out.write(f"vm-{i:05d},{address},16,10.0.0.1,10.0.0.1 9.9.9.9,{key},web\n")
