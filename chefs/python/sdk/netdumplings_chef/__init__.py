"""The Python chef SDK: write a netdumplings chef as a plain Python class.

A chef subclasses `Chef` and overrides `packet` (called once per packet, may
return a payload) and/or `interval` (called every poke interval, may return a
payload). A payload is any JSON-serialisable value. The chef module then ends
with

    Handlers = serve(MyChef)

which is what componentize-py looks for: the class implementing the WIT
`handlers` interface (see wit/chef.wit). `serve` hides the WIT plumbing:
batches of packets arrive as columns and are turned into one `Packet` view per
packet here, so chefs never see them.

componentize-py creates a new `Handlers` object for every call from the
kitchen, so the chef itself lives in a module global created once by `serve`.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any, Callable, Iterator, Optional

__all__ = ["Chef", "LayerKind", "Packet", "log", "serve", "to_json"]

NOT_A_FRAGMENT = 0xFFFF_FFFF
"""`fragment-offsets` value of a packet that is not an IP fragment."""


class LayerKind(IntEnum):
    """The kitchen's decoded layer kinds, numbered as in wit/chef.wit."""

    ETHERNET = 0
    IEEE8023 = 1
    LINUX_SLL = 2
    LOOPBACK = 3
    VLAN = 4
    QINQ = 5
    ARP = 6
    IPV4 = 7
    IPV6 = 8
    IPV6_EXTENSION = 9
    IPV6_FRAGMENT = 10
    TCP = 11
    UDP = 12
    ICMPV4 = 13
    ICMPV6 = 14
    PAYLOAD = 15
    PADDING = 16
    VXLAN = 17
    GRE = 18
    PPPOE_DISCOVERY = 19
    PPPOE_SESSION = 20
    PPP = 21
    QUOTED_IPV4 = 22
    QUOTED_IPV6 = 23
    QUOTED_TCP = 24
    QUOTED_UDP = 25
    QUOTED_ICMPV4 = 26
    QUOTED_ICMPV6 = 27


class Packet:
    """One packet of a batch: its bytes and what the kitchen decoded.

    Cheap to create: it slices the batch's columns lazily. Every accessor is
    bounds-checked, so a chef never raises on hostile bytes through it.
    """

    __slots__ = ("_batch", "_index", "data", "_first", "_end", "_names")

    def __init__(
        self, batch: Any, index: int, data: bytes, first: int, end: int, names: "_BatchNames"
    ):
        self._batch = batch
        self._index = index
        self._names = names
        #: The captured bytes (possibly shorter than `wire_length`).
        self.data = data
        # This packet's layers are entries first..end of the layer columns.
        self._first = first
        self._end = end

    @property
    def _layers(self) -> Iterator[tuple[int, int, int]]:
        """(kind number, offset, length) of every layer, outermost first."""
        b = self._batch
        return zip(
            b.layer_kinds[self._first : self._end],
            b.layer_offsets[self._first : self._end],
            b.layer_lengths[self._first : self._end],
        )

    @property
    def wire_length(self) -> int:
        return self._batch.wire_lengths[self._index]

    @property
    def link_type(self) -> int:
        return self._batch.link_type

    @property
    def timestamp(self) -> float:
        """Capture time in seconds since the epoch, as every SDK computes it."""
        ns = self._batch.timestamps[self._index]
        return float(ns // 1_000_000_000) + float(ns % 1_000_000_000) / 1e9

    def layers(self) -> Iterator[tuple[int, bytes]]:
        """(kind, bytes) of every decoded layer, outermost first. The kind is
        a `LayerKind` value, or a bare int for a kind this SDK does not know."""
        for kind, offset, length in self._layers:
            yield kind, self.data[offset : offset + length]

    def has(self, kind: LayerKind) -> bool:
        return kind in self._batch.layer_kinds[self._first : self._end]

    def layer(self, kind: LayerKind) -> Optional[bytes]:
        """The bytes of the first layer of this kind, or None."""
        for k, offset, length in self._layers:
            if k == kind:
                return self.data[offset : offset + length]
        return None

    def _port(self, which: int) -> Optional[int]:
        if not (self.has(LayerKind.TCP) or self.has(LayerKind.UDP)):
            return None
        return self._batch.ports[2 * self._index + which]

    @property
    def src_port(self) -> Optional[int]:
        """TCP/UDP source port, or None without a TCP or UDP layer."""
        return self._port(0)

    @property
    def dst_port(self) -> Optional[int]:
        return self._port(1)

    @property
    def fragment_offset(self) -> Optional[int]:
        """Byte offset of an IP fragment (0 for the first), None otherwise."""
        offset = self._batch.fragment_offsets[self._index]
        return None if offset == NOT_A_FRAGMENT else offset

    def scapy_names(self) -> list[str]:
        """The packet's layers as scapy 2.4.5 named them, outermost first
        (what netdumplings' PacketCountChef counted). The kitchen computes
        them (wit/chef.wit, `scapy`), once per batch, when a packet asks."""
        return self._names.of(self._index)


_NAME_TABLE: Optional[list[str]] = None
"""Every scapy name, by id: fetched from the kitchen once."""


class _BatchNames:
    """A batch's scapy names, fetched from the kitchen on first use."""

    __slots__ = ("_starts", "_ids")

    def __init__(self) -> None:
        self._starts: Optional[list[int]] = None
        self._ids: list[int] = []

    def of(self, index: int) -> list[str]:
        global _NAME_TABLE
        from wit_world.imports import scapy

        if _NAME_TABLE is None:
            _NAME_TABLE = scapy.names()
        if self._starts is None:
            names = scapy.name_batch()
            self._starts, self._ids = names.starts, names.ids
        starts, table = self._starts, _NAME_TABLE
        if index + 1 >= len(starts):
            return []
        return [table[i] for i in self._ids[starts[index] : starts[index + 1]] if i < len(table)]


class Chef:
    """Base class of a chef. `name` is what dumplings' `metadata.chef` says."""

    name: str = "Chef"

    def packet(self, packet: Packet) -> Any:
        """Called for every packet; return a payload (not None) to make a dumpling."""
        return None

    def interval(self) -> Any:
        """Called every poke interval and at the end of a replay."""
        return None

    def export_state(self) -> Optional[bytes]:
        """State handed to the next version of this chef on a hot swap."""
        return None

    def import_state(self, state: bytes) -> None:
        """Receives what the previous version exported; raise to refuse it."""


def to_json(value: Any) -> str:
    """JSON text exactly as the Rust chefs' serde_json writes it: compact,
    object keys sorted, non-ASCII kept as is. (Floats print the same way for
    the values chefs use: both print the shortest text that reads back
    exactly; they differ only in exponent style below 1e-4 or from 1e16.)"""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def log(level: str, message: str) -> None:
    """Writes to the kitchen's log: level is trace, debug, info, warn or error."""
    from wit_world.imports import host, types

    host.log(types.LogLevel[level.upper()], message)


def _packets(batch: Any) -> Iterator[tuple[int, Packet]]:
    """Turns a batch's columns (see wit/chef.wit) into Packet views."""
    data, offsets, starts = batch.data, batch.data_offsets, batch.layer_starts
    names = _BatchNames()
    for i in range(len(offsets) - 1):
        yield i, Packet(
            batch, i, data[offsets[i] : offsets[i + 1]], starts[i], starts[i + 1], names
        )


def serve(chef_class: Callable[[], Chef]) -> type:
    """Creates the chef once and returns the `Handlers` class componentize-py
    exports, delegating every WIT call to it."""
    chef = chef_class()

    class Handlers:
        def name(self) -> str:
            return chef.name

        def handle_batch(self, batch: Any) -> list:
            from wit_world.imports.types import PacketPayload

            out = []
            for i, packet in _packets(batch):
                payload = chef.packet(packet)
                if payload is not None:
                    out.append(PacketPayload(i, to_json(payload)))
            return out

        def interval(self) -> Optional[str]:
            payload = chef.interval()
            return None if payload is None else to_json(payload)

        def export_state(self) -> Optional[bytes]:
            return chef.export_state()

        def import_state(self, state: bytes) -> None:
            try:
                chef.import_state(state)
            except Exception as e:  # the kitchen logs it and starts fresh
                from componentize_py_types import Err

                raise Err(f"{type(e).__name__}: {e}")

    return Handlers
