//! Write a netdumplings chef in Zig.
//!
//! A chef is a struct named `Chef` in the chef's `chef.zig`; the SDK's root
//! file (`main.zig`) exports it as the component's `handlers` interface:
//!
//! ```zig
//! const sdk = @import("sdk");
//!
//! pub const Chef = struct {
//!     pub const name = "CountChef"; // the dumplings' metadata.chef
//!     packets: u64 = 0, // every field needs a default: the SDK makes `.{}`
//!
//!     pub fn packet(self: *Chef, p: *const sdk.Packet, out: *sdk.Json) !void {
//!         _ = p;
//!         _ = out; // writing nothing makes no dumpling
//!         self.packets += 1;
//!     }
//!
//!     pub fn interval(self: *Chef, out: *sdk.Json) !void {
//!         try out.write(.{ .packets = self.packets });
//!     }
//! };
//! ```
//!
//! Every handler is optional except `name`:
//!
//! - `packet(self, *const Packet, *Json) !void`: once per packet; write one
//!   JSON value to make a packet dumpling.
//! - `interval(self, *Json) !void`: every poke interval; same.
//! - `exportState(self, *Json) !void`: bytes for the next version of the
//!   chef on a hot swap (JSON is handy, but `out.raw` takes any bytes);
//!   nothing written means no state.
//! - `importState(self, state: []const u8, scratch: Allocator) !void`: the
//!   previous version's state; an error is logged by the kitchen.
//!
//! An error returned by a handler is logged and that payload is dropped.
//! Memory: keep long-lived state in `sdk.gpa`; `out.arena` is scratch
//! memory freed after the call (after the whole batch for `packet`).
//!
//! scapy 2.4.5's names for a packet's layers (what netdumplings 0.5.1's
//! chefs saw) come from the kitchen: `p.scapyNames()` gives their ids,
//! `sdk.scapyName(id)` the name of one, `sdk.scapyNameCount()` how many
//! ids there are (so a counter can be an array indexed by id).
//!
//! # What this SDK hides
//!
//! The kitchen hands packets over in batches of columns (see `wit/chef.wit`).
//! wit-bindgen's C bindings (`chef.c`/`chef.h`, generated at build time)
//! lift them into C structs; `main.zig` walks a batch and calls
//! `Chef.packet` once per packet with a `Packet` view into the columns, then
//! hands the payloads back, allocated with `malloc` as the C bindings'
//! post-return functions `free` them.

const std = @import("std");
const builtin = @import("builtin");
const c = @import("bindings");

/// Long-lived memory for a chef's state. It is libc's `malloc`, which the
/// C bindings also use for everything crossing the component boundary.
pub const gpa: std.mem.Allocator = std.heap.c_allocator;

/// What a decoded layer is: `layer-kind` in `wit/chef.wit`, in WIT order.
pub const LayerKind = enum(u8) {
    ethernet,
    ieee8023,
    linux_sll,
    loopback,
    vlan,
    qinq,
    arp,
    ipv4,
    ipv6,
    ipv6_extension,
    ipv6_fragment,
    tcp,
    udp,
    icmpv4,
    icmpv6,
    payload,
    padding,
    vxlan,
    gre,
    pppoe_discovery,
    pppoe_session,
    ppp,
    quoted_ipv4,
    quoted_ipv6,
    quoted_tcp,
    quoted_udp,
    quoted_icmpv4,
    quoted_icmpv6,

    comptime {
        // A WIT change that adds or reorders kinds must fail the build here.
        std.debug.assert(@intFromEnum(LayerKind.padding) == c.NETDUMPLINGS_CHEF_TYPES_LAYER_KIND_PADDING);
        std.debug.assert(@intFromEnum(LayerKind.quoted_icmpv6) == c.NETDUMPLINGS_CHEF_TYPES_LAYER_KIND_QUOTED_ICMPV6);
        std.debug.assert(@intFromEnum(LayerKind.tcp) == c.NETDUMPLINGS_CHEF_TYPES_LAYER_KIND_TCP);
    }
};

/// `fragment-offsets` value for a packet that is not a fragment.
const not_a_fragment: u32 = std.math.maxInt(u32);

/// The batch's columns as Zig slices (the C bindings hand out pointer and
/// length pairs, with a null pointer for an empty list).
pub const Batch = struct {
    link_type: u16,
    data: []const u8,
    data_offsets: []const u32,
    wire_lengths: []const u32,
    timestamps: []const u64,
    layer_starts: []const u32,
    layer_kinds: []const u8,
    layer_offsets: []const u32,
    layer_lengths: []const u32,
    ip_versions: []const u8,
    ip_addresses: []const u8,
    ports: []const u16,
    fragment_offsets: []const u32,
    /// The kitchen's scapy names for this batch, fetched when a packet
    /// first asks (`Packet.scapyNames`). Owned by whoever handles the batch.
    names: *BatchNames,

    /// A view of `b`; `names` is the batch's (empty) name cache, which the
    /// caller frees with `deinit` when the batch is done.
    pub fn fromC(b: *const c.netdumplings_chef_types_packet_batch_t, names: *BatchNames) Batch {
        return .{
            .names = names,
            .link_type = b.link_type,
            .data = slice(u8, b.data),
            .data_offsets = slice(u32, b.data_offsets),
            .wire_lengths = slice(u32, b.wire_lengths),
            .timestamps = slice(u64, b.timestamps),
            .layer_starts = slice(u32, b.layer_starts),
            .layer_kinds = slice(u8, b.layer_kinds),
            .layer_offsets = slice(u32, b.layer_offsets),
            .layer_lengths = slice(u32, b.layer_lengths),
            .ip_versions = slice(u8, b.ip_versions),
            .ip_addresses = slice(u8, b.ip_addresses),
            .ports = slice(u16, b.ports),
            .fragment_offsets = slice(u32, b.fragment_offsets),
        };
    }

    fn slice(comptime T: type, list: anytype) []const T {
        return if (list.len == 0) &.{} else list.ptr[0..list.len];
    }

    /// Number of packets (`data-offsets` has one entry more).
    pub fn len(b: *const Batch) usize {
        return b.data_offsets.len -| 1;
    }

    /// Packet `index` (< `len()`). Out-of-range offsets (a buggy kitchen)
    /// give empty slices, never a trap.
    pub fn packet(b: *const Batch, index: usize) Packet {
        const start = @min(at(u32, b.data_offsets, index), b.data.len);
        const end = std.math.clamp(at(u32, b.data_offsets, index + 1), start, b.data.len);
        const lstart = @min(at(u32, b.layer_starts, index), b.layer_kinds.len);
        const lend = std.math.clamp(at(u32, b.layer_starts, index + 1), lstart, b.layer_kinds.len);
        // Bit k set when the packet has a layer of kind k: chefs ask "is
        // there a UDP layer?" often, and this answers without a walk.
        var kinds: u32 = 0;
        for (b.layer_kinds[lstart..lend]) |k| {
            if (k < @typeInfo(LayerKind).@"enum".field_names.len) kinds |= @as(u32, 1) << @intCast(k);
        }
        return .{ .batch = b, .index = index, .bytes = b.data[start..end], .first_layer = lstart, .end_layer = lend, .kinds = kinds };
    }
};

/// `column[i]` as a usize, or 0 when out of range.
fn at(comptime T: type, column: []const T, i: usize) usize {
    return if (i < column.len) column[i] else 0;
}

/// An IP address of the innermost IP header.
pub const IpAddr = union(enum) {
    v4: [4]u8,
    v6: [16]u8,
};

/// A decoded layer: its kind and its (captured) bytes.
pub const Layer = struct {
    kind: LayerKind,
    bytes: []const u8,
};

/// One captured packet, as the kitchen decoded it: a view into a batch,
/// valid during the `packet` call only.
pub const Packet = struct {
    batch: *const Batch,
    /// The packet's position in its batch.
    index: usize,
    /// Its captured bytes (may be shorter than the packet on the wire).
    bytes: []const u8,
    first_layer: usize,
    end_layer: usize,
    kinds: u32,

    /// The captured bytes.
    pub fn data(p: *const Packet) []const u8 {
        return p.bytes;
    }

    /// Length of the packet on the wire.
    pub fn wireLength(p: *const Packet) u32 {
        return @intCast(at(u32, p.batch.wire_lengths, p.index));
    }

    /// Capture time in seconds since the Unix epoch, as netdumplings' floats
    /// (computed exactly as the Rust SDK does, so payloads match).
    pub fn timestamp(p: *const Packet) f64 {
        const t = p.timestampParts();
        return @as(f64, @floatFromInt(t.secs)) + @as(f64, @floatFromInt(t.nanos)) / 1e9;
    }

    /// Capture time: whole seconds and nanoseconds.
    pub fn timestampParts(p: *const Packet) struct { secs: u64, nanos: u32 } {
        const t: u64 = if (p.index < p.batch.timestamps.len) p.batch.timestamps[p.index] else 0;
        return .{ .secs = t / std.time.ns_per_s, .nanos = @intCast(t % std.time.ns_per_s) };
    }

    /// The capture's LINKTYPE number.
    pub fn linkType(p: *const Packet) u16 {
        return p.batch.link_type;
    }

    /// Decoded layers, outermost first: `while (it.next()) |layer| ...`.
    pub fn layers(p: *const Packet) LayerIterator {
        return .{ .packet = p, .next_index = p.first_layer };
    }

    /// The bytes of the first layer of `kind`, if there is one.
    pub fn layer(p: *const Packet, kind: LayerKind) ?[]const u8 {
        if (!p.has(kind)) return null;
        var it = p.layers();
        while (it.next()) |l| if (l.kind == kind) return l.bytes;
        return null;
    }

    /// The ids of the names scapy 2.4.5 gave the packet's layers,
    /// outermost first (what netdumplings' PacketCountChef counted):
    /// `sdk.scapyName(id)` is the name. The kitchen computes them for a whole
    /// batch when its first packet asks; valid during the `packet` call only.
    pub fn scapyNames(p: *const Packet) []const u16 {
        return p.batch.names.of(p.index);
    }

    /// Whether the packet has a layer of `kind`.
    pub fn has(p: *const Packet, kind: LayerKind) bool {
        return p.kinds & (@as(u32, 1) << @intCast(@intFromEnum(kind))) != 0;
    }

    /// Source address of the innermost IP header.
    pub fn srcAddr(p: *const Packet) ?IpAddr {
        return p.address(0);
    }

    /// Destination address of the innermost IP header.
    pub fn dstAddr(p: *const Packet) ?IpAddr {
        return p.address(16);
    }

    fn address(p: *const Packet, offset: usize) ?IpAddr {
        const start = p.index * 32 + offset;
        if (start + 16 > p.batch.ip_addresses.len) return null;
        const bytes = p.batch.ip_addresses[start..][0..16];
        return switch (at(u8, p.batch.ip_versions, p.index)) {
            4 => .{ .v4 = bytes[0..4].* },
            6 => .{ .v6 = bytes.* },
            else => null,
        };
    }

    /// TCP/UDP source port (none without a tcp or udp layer).
    pub fn srcPort(p: *const Packet) ?u16 {
        return p.port(0);
    }

    /// TCP/UDP destination port (none without a tcp or udp layer).
    pub fn dstPort(p: *const Packet) ?u16 {
        return p.port(1);
    }

    fn port(p: *const Packet, which: usize) ?u16 {
        if (!p.has(.tcp) and !p.has(.udp)) return null;
        const i = p.index * 2 + which;
        return if (i < p.batch.ports.len) p.batch.ports[i] else null;
    }

    /// The IP fragment offset in bytes, if the packet is an IP fragment.
    pub fn fragmentOffset(p: *const Packet) ?u32 {
        if (p.index >= p.batch.fragment_offsets.len) return null;
        const o = p.batch.fragment_offsets[p.index];
        return if (o == not_a_fragment) null else o;
    }
};

pub const LayerIterator = struct {
    packet: *const Packet,
    next_index: usize,

    /// The next layer; a kind number this SDK does not know (a newer
    /// kitchen) is skipped.
    pub fn next(it: *LayerIterator) ?Layer {
        const b = it.packet.batch;
        while (it.next_index < it.packet.end_layer) {
            const j = it.next_index;
            it.next_index += 1;
            const kind = std.enums.fromInt(LayerKind, b.layer_kinds[j]) orelse continue;
            if (j >= b.layer_offsets.len or j >= b.layer_lengths.len) continue;
            // Clamped to the packet: a layer never reads past its bytes.
            const data = it.packet.bytes;
            const start = @min(b.layer_offsets[j], data.len);
            const end = @min(start +| b.layer_lengths[j], data.len);
            return .{ .kind = kind, .bytes = data[start..end] };
        }
        return null;
    }
};

/// A batch's scapy names (`scapy.name-batch` in the WIT): fetched from the
/// kitchen the first time a packet asks, at most once per batch, and freed
/// by `deinit` when the batch is done (the kitchen answers `name-batch`
/// only during `handle-batch`).
pub const BatchNames = struct {
    /// The lists `name-batch` returned (malloc'd by chef.c), once fetched.
    raw: ?c.netdumplings_chef_scapy_batch_names_t = null,
    /// `raw`'s lists as slices: packet `i`'s ids are `ids[starts[i]..starts[i + 1]]`.
    starts: []const u32 = &.{},
    ids: []const u16 = &.{},

    /// Packet `index`'s name ids. Out-of-range starts (a buggy kitchen)
    /// give no ids, never a trap.
    pub fn of(n: *BatchNames, index: usize) []const u16 {
        if (n.raw == null) {
            var raw: c.netdumplings_chef_scapy_batch_names_t = .{};
            scapy_imports.nameBatch(&raw);
            n.raw = raw;
            n.starts = Batch.slice(u32, raw.starts);
            n.ids = Batch.slice(u16, raw.ids);
        }
        return n.slice(index);
    }

    /// Packet `index`'s ids in what was fetched.
    fn slice(n: *const BatchNames, index: usize) []const u16 {
        if (index + 1 >= n.starts.len) return &.{};
        const start = n.starts[index];
        const end = n.starts[index + 1];
        if (start > end or end > n.ids.len) return &.{};
        return n.ids[start..end];
    }

    /// Frees what was fetched (nothing if no packet asked).
    pub fn deinit(n: *BatchNames) void {
        if (n.raw) |*raw| scapy_imports.freeBatch(raw);
        n.* = .{};
    }
};

/// Every scapy name by id (`scapy.names` in the WIT), fetched from the
/// kitchen on first use and kept for the life of the instance.
var name_table: ?[]const c.chef_string_t = null;

fn nameTable() []const c.chef_string_t {
    if (name_table) |t| return t;
    var list: c.chef_list_string_t = .{};
    scapy_imports.names(&list);
    const t = Batch.slice(c.chef_string_t, list);
    name_table = t;
    return t;
}

/// The scapy name with id `id` (`"Ethernet"`, `"DNS"`, ...), as in
/// `Packet.scapyNames`; null for an id the kitchen did not list (it never
/// sends one). Valid for the life of the chef.
pub fn scapyName(id: u16) ?[]const u8 {
    const t = nameTable();
    if (id >= t.len) return null;
    const s = t[id];
    return if (s.len == 0) "" else s.ptr[0..s.len];
}

/// How many scapy names there are: a counter array of this length has a
/// slot for every id `Packet.scapyNames` gives.
pub fn scapyNameCount() usize {
    return nameTable().len;
}

/// The kitchen's `scapy` imports. Natively (the SDK's unit tests) there is
/// no kitchen, and chef.c is not linked: stand-ins hand out `test_scapy`'s
/// lists instead.
const scapy_imports = if (builtin.is_test) test_scapy else struct {
    const names = c.netdumplings_chef_scapy_names;
    const nameBatch = c.netdumplings_chef_scapy_name_batch;
    const freeBatch = c.netdumplings_chef_scapy_batch_names_free;
};

/// Severity of a log line (`log-level` in the WIT).
pub const LogLevel = enum(u8) { trace, debug, info, warn, @"error" };

/// Writes a line to the kitchen's log, tagged with this chef's name.
/// Long lines are cut at 1 KiB; `std.log` goes here too.
pub fn log(level: LogLevel, comptime fmt: []const u8, args: anytype) void {
    var buf: [1024]u8 = undefined;
    var w: std.Io.Writer = .fixed(&buf);
    w.print(fmt, args) catch {}; // too long: keep what fits
    logRaw(level, w.buffered());
}

/// Sends `message` to the host as is, after making it valid UTF-8 (a WIT
/// string must be; the kitchen would otherwise trap the chef).
pub fn logRaw(level: LogLevel, message: []u8) void {
    var i: usize = 0;
    while (i < message.len) {
        const n = utf8Length(message[i..]);
        if (n == 0) {
            message[i] = '?';
            i += 1;
        } else i += n;
    }
    var s: c.chef_string_t = .{ .ptr = message.ptr, .len = message.len };
    c.netdumplings_chef_host_log(@intFromEnum(level), &s);
}

/// Length of the valid UTF-8 sequence at the start of `s`, 0 if invalid.
fn utf8Length(s: []const u8) usize {
    if (s[0] < 0x80) return 1;
    const n = std.unicode.utf8ByteSequenceLength(s[0]) catch return 0;
    if (n > s.len) return 0;
    _ = std.unicode.utf8Decode(s[0..n]) catch return 0;
    return n;
}

/// Builds one JSON value, byte for byte as Rust's serde_json prints a
/// `serde_json::Value` (the reference chefs' payloads): compact, object
/// keys sorted by their UTF-8 bytes (whatever order they were written in),
/// serde_json's string escapes and float format.
///
/// Either `write` a whole Zig value (structs become objects, slices arrays,
/// optionals null or their value, tagged unions their payload), or stream:
/// `beginObject`, then `key` and a value per entry, then `endObject`
/// (`beginArray`/`endArray` likewise).
pub const Json = struct {
    /// Scratch memory for the current call (see the SDK docs above).
    arena: std.mem.Allocator,
    buf: std.ArrayList(u8) = .empty,
    /// Open objects and arrays, innermost last.
    open: std.ArrayList(Container) = .empty,
    /// Entries of the open objects (their key and where they start), so
    /// that `endObject` can sort them.
    entries: std.ArrayList(Entry) = .empty,
    /// A key was written and its value was not yet.
    after_key: bool = false,

    pub const Error = error{
        OutOfMemory,
        /// A value where a key was expected, `endObject` for an array, two
        /// top-level values, ... (a bug in the chef).
        BadJsonNesting,
    };

    const Container = struct { is_object: bool, count: usize = 0, first_entry: usize };
    const Entry = struct { key: []const u8, start: usize, end: usize = 0 };

    pub fn init(arena: std.mem.Allocator) Json {
        return .{ .arena = arena };
    }

    /// What was written so far.
    pub fn bytes(j: *const Json) []const u8 {
        return j.buf.items;
    }

    /// Whether nothing was written.
    pub fn isEmpty(j: *const Json) bool {
        return j.buf.items.len == 0;
    }

    /// Whether a whole value was written (every object and array closed).
    pub fn isComplete(j: *const Json) bool {
        return j.buf.items.len != 0 and j.open.items.len == 0 and !j.after_key;
    }

    /// Starts over (keeping the memory).
    pub fn clear(j: *Json) void {
        j.buf.clearRetainingCapacity();
        j.open.clearRetainingCapacity();
        j.entries.clearRetainingCapacity();
        j.after_key = false;
    }

    /// Appends bytes as they are: for a chef's non-JSON state only.
    pub fn raw(j: *Json, data: []const u8) Error!void {
        try j.buf.appendSlice(j.arena, data);
    }

    /// Writes `value` as JSON.
    pub fn write(j: *Json, value: anytype) Error!void {
        const T = @TypeOf(value);
        switch (@typeInfo(T)) {
            .null => try j.scalar("null"),
            .void => try j.scalar("null"),
            .bool => try j.scalar(if (value) "true" else "false"),
            .int, .comptime_int => {
                try j.beforeValue();
                try j.buf.print(j.arena, "{d}", .{value});
            },
            .float, .comptime_float => {
                try j.beforeValue();
                try writeFloat(&j.buf, j.arena, @floatCast(value));
            },
            .optional => if (value) |v| try j.write(v) else try j.scalar("null"),
            .@"enum", .enum_literal => try j.string(@tagName(value)),
            .array => |a| if (a.child == u8) try j.string(&value) else try j.writeArray(&value),
            .pointer => |p| switch (p.size) {
                .slice => if (p.child == u8) try j.string(value) else try j.writeArray(value),
                .one => switch (@typeInfo(p.child)) {
                    .array => |a| if (a.child == u8) try j.string(value) else try j.writeArray(value),
                    else => try j.write(value.*),
                },
                else => @compileError("cannot write a " ++ @typeName(T) ++ " as JSON"),
            },
            .@"struct" => |s| if (@hasDecl(T, "jsonWrite")) {
                try value.jsonWrite(j);
            } else if (s.is_tuple) {
                try j.beginArray();
                inline for (value) |item| try j.write(item);
                try j.endArray();
            } else {
                try j.beginObject();
                inline for (s.field_names) |field| {
                    try j.key(field);
                    try j.write(@field(value, field));
                }
                try j.endObject();
            },
            // Untagged, like serde's `#[serde(untagged)]`: just the payload.
            .@"union" => if (@hasDecl(T, "jsonWrite")) {
                try value.jsonWrite(j);
            } else switch (value) {
                inline else => |payload| try j.write(payload),
            },
            else => @compileError("cannot write a " ++ @typeName(T) ++ " as JSON"),
        }
    }

    fn writeArray(j: *Json, items: anytype) Error!void {
        try j.beginArray();
        for (items) |item| try j.write(item);
        try j.endArray();
    }

    /// Writes a string (invalid UTF-8 becomes U+FFFD, as a WIT string must
    /// be UTF-8).
    pub fn string(j: *Json, s: []const u8) Error!void {
        try j.beforeValue();
        try writeString(&j.buf, j.arena, s);
    }

    pub fn beginObject(j: *Json) Error!void {
        try j.beforeValue();
        try j.buf.append(j.arena, '{');
        try j.open.append(j.arena, .{ .is_object = true, .first_entry = j.entries.items.len });
    }

    /// Starts an entry of the innermost object; write its value next.
    pub fn key(j: *Json, k: []const u8) Error!void {
        const top = j.innermost() orelse return error.BadJsonNesting;
        if (!top.is_object or j.after_key) return error.BadJsonNesting;
        if (top.count > 0) try j.buf.append(j.arena, ',');
        top.count += 1;
        // A copy: the caller's key may not outlive the object.
        try j.entries.append(j.arena, .{ .key = try j.arena.dupe(u8, k), .start = j.buf.items.len });
        try writeString(&j.buf, j.arena, k);
        try j.buf.append(j.arena, ':');
        j.after_key = true;
    }

    pub fn endObject(j: *Json) Error!void {
        const top = j.innermost() orelse return error.BadJsonNesting;
        if (!top.is_object or j.after_key) return error.BadJsonNesting;
        const first = top.first_entry;
        _ = j.open.pop();
        try j.sortEntries(j.entries.items[first..]);
        j.entries.shrinkRetainingCapacity(first);
        try j.buf.append(j.arena, '}');
    }

    pub fn beginArray(j: *Json) Error!void {
        try j.beforeValue();
        try j.buf.append(j.arena, '[');
        try j.open.append(j.arena, .{ .is_object = false, .first_entry = j.entries.items.len });
    }

    pub fn endArray(j: *Json) Error!void {
        const top = j.innermost() orelse return error.BadJsonNesting;
        if (top.is_object) return error.BadJsonNesting;
        _ = j.open.pop();
        try j.buf.append(j.arena, ']');
    }

    fn innermost(j: *Json) ?*Container {
        return if (j.open.items.len == 0) null else &j.open.items[j.open.items.len - 1];
    }

    fn scalar(j: *Json, text: []const u8) Error!void {
        try j.beforeValue();
        try j.buf.appendSlice(j.arena, text);
    }

    /// Checks a value may come here and writes the comma before it.
    fn beforeValue(j: *Json) Error!void {
        const t = j.innermost() orelse {
            if (j.buf.items.len != 0) return error.BadJsonNesting; // a second top-level value
            return;
        };
        if (t.is_object) {
            if (!j.after_key) return error.BadJsonNesting;
            j.after_key = false;
        } else {
            if (t.count > 0) try j.buf.append(j.arena, ',');
            t.count += 1;
        }
    }

    /// Reorders an object's entries (`"key":value` texts, comma-separated,
    /// at the end of `buf`) by key, as serde_json's BTreeMap does. A
    /// duplicate key keeps its last value, like inserting into that map.
    fn sortEntries(j: *Json, entries: []Entry) Error!void {
        if (entries.len == 0) return;
        for (entries, 0..) |*e, i| e.end = if (i + 1 < entries.len) entries[i + 1].start - 1 else j.buf.items.len;
        const Order = struct {
            fn lessThan(_: void, a: Entry, b: Entry) bool {
                return std.mem.lessThan(u8, a.key, b.key);
            }
        };
        // Written in order already: the common case costs one pass.
        var sorted = true;
        for (entries[1..], 0..) |e, i| sorted = sorted and Order.lessThan({}, entries[i], e);
        if (sorted) return;

        const start = entries[0].start;
        const text = try j.arena.dupe(u8, j.buf.items[start..]);
        std.mem.sort(Entry, entries, {}, Order.lessThan); // stable
        j.buf.shrinkRetainingCapacity(start);
        var first = true;
        for (entries, 0..) |e, i| {
            if (i + 1 < entries.len and std.mem.eql(u8, e.key, entries[i + 1].key)) continue;
            if (!first) try j.buf.append(j.arena, ',');
            first = false;
            try j.buf.appendSlice(j.arena, text[e.start - start .. e.end - start]);
        }
    }
};

/// A JSON string as serde_json escapes it: `"` and `\`, and control
/// characters below 0x20 (\b \f \n \r \t, else \u00XX in lowercase hex).
/// Nothing else, not even non-ASCII.
fn writeString(buf: *std.ArrayList(u8), gpa_: std.mem.Allocator, s: []const u8) !void {
    try buf.append(gpa_, '"');
    var i: usize = 0;
    while (i < s.len) {
        const b = s[i];
        switch (b) {
            '"' => try buf.appendSlice(gpa_, "\\\""),
            '\\' => try buf.appendSlice(gpa_, "\\\\"),
            0x08 => try buf.appendSlice(gpa_, "\\b"),
            0x0c => try buf.appendSlice(gpa_, "\\f"),
            '\n' => try buf.appendSlice(gpa_, "\\n"),
            '\r' => try buf.appendSlice(gpa_, "\\r"),
            '\t' => try buf.appendSlice(gpa_, "\\t"),
            0...0x07, 0x0b, 0x0e...0x1f => {
                const hex = "0123456789abcdef";
                try buf.appendSlice(gpa_, &.{ '\\', 'u', '0', '0', hex[b >> 4], hex[b & 0xf] });
            },
            0x20...0x21, 0x23...0x5b, 0x5d...0x7f => try buf.append(gpa_, b),
            0x80...0xff => {
                const n = utf8Length(s[i..]);
                if (n == 0) {
                    try buf.appendSlice(gpa_, "\u{fffd}");
                    i += 1;
                } else {
                    try buf.appendSlice(gpa_, s[i..][0..n]);
                    i += n;
                }
                continue;
            },
        }
        i += 1;
    }
    try buf.append(gpa_, '"');
}

/// An f64 as serde_json prints it (the `ryu` crate's format): the shortest
/// digits that read back to the same value, `.0` on integral values,
/// plain decimals for magnitudes in [1e-5, 1e16), else `1.5e-7`/`1e16`
/// style exponents; NaN and infinities print as `null`.
pub fn writeFloat(buf: *std.ArrayList(u8), gpa_: std.mem.Allocator, v: f64) !void {
    if (!std.math.isFinite(v)) return buf.appendSlice(gpa_, "null");
    if (std.math.signbit(v)) try buf.append(gpa_, '-');
    if (v == 0) return buf.appendSlice(gpa_, "0.0");
    const fl = std.fmt.float;
    // Zig's std implements Ryu too: same digits and exponent as the crate.
    const d = fl.binaryToDecimal(u64, @bitCast(@abs(v)), 52, 11, false, fl.Backend64_TablesFull);
    var digits_buf: [20]u8 = undefined;
    const digits = std.fmt.bufPrint(&digits_buf, "{d}", .{d.mantissa}) catch unreachable;
    const length: i32 = @intCast(digits.len);
    const k = d.exponent; // v = digits * 10^k
    const kk = length + k; // 10^(kk-1) <= v < 10^kk
    if (k >= 0 and kk <= 16) {
        // 1234e7 -> 12340000000.0
        try buf.appendSlice(gpa_, digits);
        try buf.appendNTimes(gpa_, '0', @intCast(k));
        try buf.appendSlice(gpa_, ".0");
    } else if (kk > 0 and kk <= 16) {
        // 1234e-2 -> 12.34
        const point: usize = @intCast(kk);
        try buf.appendSlice(gpa_, digits[0..point]);
        try buf.append(gpa_, '.');
        try buf.appendSlice(gpa_, digits[point..]);
    } else if (kk > -5 and kk <= 0) {
        // 1234e-6 -> 0.001234
        try buf.appendSlice(gpa_, "0.");
        try buf.appendNTimes(gpa_, '0', @intCast(-kk));
        try buf.appendSlice(gpa_, digits);
    } else {
        // 1e30, 1234e30 -> 1.234e33
        try buf.append(gpa_, digits[0]);
        if (digits.len > 1) {
            try buf.append(gpa_, '.');
            try buf.appendSlice(gpa_, digits[1..]);
        }
        try buf.print(gpa_, "e{d}", .{kk - 1});
    }
}

// Tests: see chefs/zig/README.md for the command.

fn expectJson(expected: []const u8, value: anytype) !void {
    var arena: std.heap.ArenaAllocator = .init(std.testing.allocator);
    defer arena.deinit();
    var out = Json.init(arena.allocator());
    try out.write(value);
    try std.testing.expect(out.isComplete());
    try std.testing.expectEqualStrings(expected, out.bytes());
}

test "Json writes like serde_json" {
    try expectJson("{\"a\":[1,-2,true,null],\"b\":{\"x\":0.5,\"y\":\"\"},\"c\":1461764814.0}", .{
        .c = 1461764814.0,
        .b = .{ .y = "", .x = 0.5 },
        .a = .{ 1, -2, true, null },
    });
    try expectJson("\"q\\\"b\\\\n\\nt\\tu\\u0001\\u001fé\x7f\"", "q\"b\\n\nt\tu\x01\x1fé\x7f");
    try expectJson("\"a\u{fffd}b\"", "a\xffb"); // a WIT string must be UTF-8
    try expectJson("[1e16,1e-7,0.00001,-0.0,null]", [_]f64{ 1e16, 1e-7, 1e-5, -0.0, std.math.nan(f64) });
    const Op = union(enum) { name: []const u8, code: u16 };
    try expectJson("[\"reply\",7]", .{ Op{ .name = "reply" }, Op{ .code = 7 } });
}

test "Json sorts keys by bytes and keeps a duplicate's last value" {
    var arena: std.heap.ArenaAllocator = .init(std.testing.allocator);
    defer arena.deinit();
    var out = Json.init(arena.allocator());
    try out.beginObject();
    for ([_][]const u8{ "b", "a\"", "B", "a", "é", "b" }, 0..) |k, i| {
        try out.key(k);
        try out.write(i);
    }
    try out.endObject();
    try std.testing.expectEqualStrings("{\"B\":2,\"a\":3,\"a\\\"\":1,\"b\":5,\"é\":4}", out.bytes());
    try std.testing.expectError(error.BadJsonNesting, out.write(1)); // a second value
}

/// Test stand-ins for the `scapy` imports: `name-batch` answers with
/// `starts`/`ids` (the lists are not copied, nor freed) and counts calls.
const test_scapy = struct {
    var table = [_]c.chef_string_t{
        .{ .ptr = @constCast("Ethernet"), .len = 8 },
        .{ .ptr = @constCast("IP"), .len = 2 },
        .{ .ptr = null, .len = 0 },
    };
    var starts: []u32 = &.{};
    var ids: []u16 = &.{};
    var fetches: usize = 0;
    var frees: usize = 0;

    fn names(ret: *c.chef_list_string_t) void {
        ret.* = .{ .ptr = &table, .len = table.len };
    }

    fn nameBatch(ret: *c.netdumplings_chef_scapy_batch_names_t) void {
        fetches += 1;
        ret.* = .{
            .starts = .{ .ptr = if (starts.len == 0) null else starts.ptr, .len = starts.len },
            .ids = .{ .ptr = if (ids.len == 0) null else ids.ptr, .len = ids.len },
        };
    }

    fn freeBatch(_: *c.netdumplings_chef_scapy_batch_names_t) void {
        frees += 1;
    }
};

/// A batch of `n` packets with no bytes and no layers, naming with `names`.
fn testBatch(n: usize, offsets: []u32, names: *BatchNames) Batch {
    @memset(offsets[0 .. n + 1], 0);
    return .{
        .link_type = 1,
        .data = &.{},
        .data_offsets = offsets[0 .. n + 1],
        .wire_lengths = &.{},
        .timestamps = &.{},
        .layer_starts = &.{},
        .layer_kinds = &.{},
        .layer_offsets = &.{},
        .layer_lengths = &.{},
        .ip_versions = &.{},
        .ip_addresses = &.{},
        .ports = &.{},
        .fragment_offsets = &.{},
        .names = names,
    };
}

test "scapy names: one fetch per batch, sliced per packet, freed at the end" {
    var starts = [_]u32{ 0, 2, 2, 3 };
    var ids = [_]u16{ 0, 1, 2 };
    test_scapy.starts = &starts;
    test_scapy.ids = &ids;
    test_scapy.fetches = 0;
    test_scapy.frees = 0;

    var names: BatchNames = .{};
    var offsets: [5]u32 = undefined;
    const batch = testBatch(4, &offsets, &names);
    try std.testing.expectEqual(0, test_scapy.fetches); // nothing asked yet
    try std.testing.expectEqualSlices(u16, &.{ 0, 1 }, batch.packet(0).scapyNames());
    try std.testing.expectEqualSlices(u16, &.{}, batch.packet(1).scapyNames());
    try std.testing.expectEqualSlices(u16, &.{2}, batch.packet(2).scapyNames());
    try std.testing.expectEqualSlices(u16, &.{}, batch.packet(3).scapyNames()); // starts too short
    try std.testing.expectEqual(1, test_scapy.fetches);
    names.deinit();
    try std.testing.expectEqual(1, test_scapy.frees);
    names.deinit(); // nothing left to free
    try std.testing.expectEqual(1, test_scapy.frees);

    // A batch no packet asks about fetches and frees nothing.
    var unasked: BatchNames = .{};
    unasked.deinit();
    try std.testing.expectEqual(1, test_scapy.fetches);
    try std.testing.expectEqual(1, test_scapy.frees);

    // Bad starts (backwards, past the ids) give no ids.
    var bad_starts = [_]u32{ 2, 1, 9 };
    test_scapy.starts = &bad_starts;
    var bad: BatchNames = .{};
    defer bad.deinit();
    try std.testing.expectEqualSlices(u16, &.{}, bad.of(0));
    try std.testing.expectEqualSlices(u16, &.{}, bad.of(1));
    try std.testing.expectEqualSlices(u16, &.{}, bad.of(2));

    // No lists at all (null pointers).
    test_scapy.starts = &.{};
    test_scapy.ids = &.{};
    var empty: BatchNames = .{};
    defer empty.deinit();
    try std.testing.expectEqualSlices(u16, &.{}, empty.of(0));
}

test "scapy name table" {
    try std.testing.expectEqual(3, scapyNameCount());
    try std.testing.expectEqualStrings("Ethernet", scapyName(0).?);
    try std.testing.expectEqualStrings("IP", scapyName(1).?);
    try std.testing.expectEqualStrings("", scapyName(2).?);
    try std.testing.expectEqual(null, scapyName(3));
}
