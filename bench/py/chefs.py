"""netdumplings 0.5.1's own chefs on a capture, as its kitchen runs them.

Usage: python chefs.py FILE  (in the venv `just peer` makes)

Does per packet what netdumplings' DumplingKitchen._process_packet does:
every chef's packet_handler, and Dumpling(...).to_json() for each payload
(the kitchen then queues the JSON for its sender process; queueing is left
out, so this is an upper bound on the Python kitchen's rate). Packets come
from scapy's sniff(offline=FILE), as `nd-sniff` would read them. Prints
{"packets", "secs", "dumplings"} as JSON.
"""
import json
import logging
import sys
import time

logging.disable(logging.CRITICAL)

from scapy.all import sniff  # noqa: E402

from netdumplings import Dumpling, DumplingDriver  # noqa: E402
from netdumplings.dumplingchefs import (  # noqa: E402
    ARPChef,
    DNSLookupChef,
    PacketCountChef,
)

chefs = [PacketCountChef(), ARPChef(), DNSLookupChef()]
counts = {"packets": 0, "dumplings": 0}


def process(packet):
    counts["packets"] += 1
    for chef in chefs:
        try:
            payload = chef.packet_handler(packet)
        except Exception:
            continue
        if payload is not None:
            Dumpling(chef=chef, payload=payload, driver=DumplingDriver.packet).to_json()
            counts["dumplings"] += 1


start = time.perf_counter()
sniff(offline=sys.argv[1], prn=process, store=False)
for chef in chefs:
    payload = chef.interval_handler(interval=5)
    if payload is not None:
        Dumpling(chef=chef, payload=payload, driver=DumplingDriver.interval).to_json()
secs = time.perf_counter() - start
print(json.dumps({"packets": counts["packets"], "secs": secs, "dumplings": counts["dumplings"]}))
