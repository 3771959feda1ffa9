"""SandboxChef in Python: tries to escape the sandbox and reports, in its
interval payload, what each attempt got (runtime/tests/polyglot.rs). The
Python twin of chefs/rust/test-chefs/sandbox: componentize-py's CPython
imports WASI filesystem, sockets, environment and clocks, and the kitchen
must grant none of them."""

import os
import socket
import sys
import time

from netdumplings_chef import Chef, serve


def attempt(f):
    try:
        return {"ok": repr(f())}
    except BaseException as e:  # whatever the runtime raises, report it
        return {"err": f"{type(e).__name__}: {e}"}


def write_file():
    with open("/tmp/nd-sandbox-escape", "w") as f:
        f.write("x")


class SandboxChef(Chef):
    name = "SandboxChef"

    def interval(self):
        return {
            "read_file": attempt(lambda: open("/etc/passwd").read()),
            "read_dir": attempt(lambda: os.listdir("/")),
            "write_file": attempt(write_file),
            # Hosts as bytes: a str host goes through the idna codec first,
            # which this CPython lacks, and would fail before the socket call.
            "tcp_connect": attempt(lambda: socket.socket().connect((b"127.0.0.1", 11347))),
            "udp_bind": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("0.0.0.0", 0))),
            "dns": attempt(lambda: socket.getaddrinfo(b"localhost", 80)),
            "env": len(os.environ),
            "args": len(sys.argv),
            "wall_clock": int(time.time()),
        }


Handlers = serve(SandboxChef)
