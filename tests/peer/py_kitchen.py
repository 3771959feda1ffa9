"""A Python netdumplings kitchen relay sending N synthetic dumplings.

Uses netdumplings 0.5.1's own emitter coroutine
(`netdumplings.console.sniff.send_dumplings_from_queue_to_hub`) and its own
`Dumpling.to_json`, so what reaches the hub is exactly what the Python
nd-sniff sends. Usage: py_kitchen.py HUB KITCHEN_NAME CHEF COUNT
"""
import asyncio
import logging
import multiprocessing
import sys

from netdumplings import Dumpling, DumplingDriver
from netdumplings.console.sniff import send_dumplings_from_queue_to_hub


class FakeKitchen:
    def __init__(self, name):
        self.name = name


class FakeChef:
    def __init__(self, name, kitchen):
        self.name = name
        self.kitchen = kitchen


async def main(hub, kitchen_name, chef_name, count):
    queue = multiprocessing.Queue()
    chef = FakeChef(chef_name, FakeKitchen(kitchen_name))
    for i in range(count):
        d = Dumpling(chef=chef, driver=DumplingDriver.packet,
                     payload={"seq": i, "from": "python"})
        queue.put(d.to_json())
    info = {
        "kitchen_name": kitchen_name, "interface": "all",
        "filter": "tcp or udp or arp",
        "chefs": ["tests.{}".format(chef_name)], "poke_interval": 5.0,
    }
    task = asyncio.ensure_future(send_dumplings_from_queue_to_hub(
        kitchen_name, hub, queue, info, logging.getLogger("py_kitchen")))
    while not queue.empty():
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    task.cancel()  # the emitter closes with 4101 "connection cancelled"
    try:
        await task
    except asyncio.CancelledError:
        pass
    print("sent", count, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
