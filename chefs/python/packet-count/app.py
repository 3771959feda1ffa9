"""PacketCountChef: counts every layer of every packet by scapy's name for
it, as netdumplings' PacketCountChef did. No packet dumplings; the interval
payload is {"packet_counts": {layer: count}}. The names come from the
kitchen (`Packet.scapy_names`), as in every language's PacketCountChef."""

import json
from collections import Counter

from netdumplings_chef import Chef, serve


class PacketCountChef(Chef):
    name = "PacketCountChef"

    def __init__(self):
        self.packet_counts = Counter()

    def packet(self, packet):
        self.packet_counts.update(packet.scapy_names())

    def interval(self):
        return {"packet_counts": dict(self.packet_counts)}

    def export_state(self):
        return json.dumps(self.packet_counts).encode()

    def import_state(self, state):
        self.packet_counts = Counter(json.loads(state))


Handlers = serve(PacketCountChef)
