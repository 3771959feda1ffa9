"""A Python netdumplings DumplingEater that prints N dumplings as JSON lines.

Usage: py_eater.py HUB NAME CHEF COUNT. Uses netdumplings 0.5.1's
DumplingEater (so its hello, parsing and 4102 close are the real ones).
"""
import json
import sys

from netdumplings import DumplingEater


async def on_connect(uri, ws):
    print(json.dumps({"connected": uri}), flush=True)


async def on_dumpling(d):
    print(json.dumps({
        "chef": d.chef_name, "kitchen": d.kitchen,
        "driver": d.driver.name, "payload": d.payload,
    }), flush=True)


if __name__ == "__main__":
    hub, name, chef, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    eater = DumplingEater(name=name, hub=hub, chef_filter=[chef],
                          on_connect=on_connect, on_dumpling=on_dumpling)
    eater.run(dumpling_count=count)
    print(json.dumps({"done": True}), flush=True)
