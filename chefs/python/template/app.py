"""ChefTemplate: counts packets and bytes; reports them every interval.

Start here: `packet` sees every packet (see netdumplings_chef.Packet) and may
return a payload (any JSON value) to make a packet dumpling; `interval` runs
every poke interval. Build with `just chefs`, try it with
`nd-sniff --read FILE --print --chef-dir target/polyglot/python`."""

from netdumplings_chef import Chef, serve


class ChefTemplate(Chef):
    name = "ChefTemplate"

    def __init__(self):
        self.packets = 0
        self.bytes = 0

    def packet(self, packet):
        self.packets += 1
        self.bytes += packet.wire_length

    def interval(self):
        return {"packets": self.packets, "bytes": self.bytes}


Handlers = serve(ChefTemplate)
