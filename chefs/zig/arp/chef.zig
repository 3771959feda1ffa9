//! ARPChef: one dumpling per ARP packet, as netdumplings' ARPChef (and
//! chefs/rust/arp, byte for byte).
//!
//! Payload: `{dst_hw, dst_ip, notes, operation, src_hw, src_ip, time}`.
//! `operation` is "request"/"reply" or the numeric opcode; `notes` is set on
//! replies only: "source device is new" the first time an IP is seen in a
//! reply, "source device has new IP address" when a later reply maps it to a
//! different MAC. `time` is the packet's capture time, and addresses of
//! unusual lengths are hex strings (as in the Rust chef).

const std = @import("std");
const sdk = @import("sdk");

pub const Chef = struct {
    pub const name = "ARPChef";

    /// IP -> MAC, learned from replies; keys and values owned by `sdk.gpa`.
    ip_mac: std.StringHashMapUnmanaged([]u8) = .empty,

    pub fn packet(self: *Chef, p: *const sdk.Packet, out: *sdk.Json) !void {
        const arp = Arp.parse(p.layer(.arp) orelse return) orelse return;
        const src_ip = try proto(out.arena, arp.spa);
        const src_hw = try hw(out.arena, arp.sha);
        var notes: ?[]const u8 = null;
        if (arp.op == 2) notes = try self.learn(src_ip, src_hw);
        try out.write(.{
            .dst_hw = try hw(out.arena, arp.tha),
            .dst_ip = try proto(out.arena, arp.tpa),
            .notes = notes,
            .operation = Operation.of(arp.op),
            .src_hw = src_hw,
            .src_ip = src_ip,
            .time = p.timestamp(),
        });
    }

    /// Records that `ip` is at `mac` (from a reply); returns the note.
    fn learn(self: *Chef, ip: []const u8, mac: []const u8) !?[]const u8 {
        const entry = try self.ip_mac.getOrPut(sdk.gpa, ip);
        if (!entry.found_existing) {
            errdefer self.ip_mac.removeByPtr(entry.key_ptr);
            const key = try sdk.gpa.dupe(u8, ip);
            errdefer sdk.gpa.free(key);
            entry.value_ptr.* = try sdk.gpa.dupe(u8, mac);
            entry.key_ptr.* = key;
            return "source device is new";
        }
        if (std.mem.eql(u8, entry.value_ptr.*, mac)) return null;
        const new_mac = try sdk.gpa.dupe(u8, mac);
        sdk.gpa.free(entry.value_ptr.*);
        entry.value_ptr.* = new_mac;
        return "source device has new IP address";
    }

    /// State: the IP -> MAC map as a JSON object, as the Rust chef's.
    pub fn exportState(self: *Chef, out: *sdk.Json) !void {
        try out.beginObject();
        var it = self.ip_mac.iterator();
        while (it.next()) |e| {
            try out.key(e.key_ptr.*);
            try out.string(e.value_ptr.*);
        }
        try out.endObject();
    }

    pub fn importState(self: *Chef, state: []const u8, scratch: std.mem.Allocator) !void {
        const parsed = try std.json.parseFromSliceLeaky(std.json.ArrayHashMap([]const u8), scratch, state, .{
            .duplicate_field_behavior = .use_last, // as serde_json into a map
        });
        var map: std.StringHashMapUnmanaged([]u8) = .empty;
        errdefer freeMap(&map);
        try map.ensureTotalCapacity(sdk.gpa, @intCast(parsed.map.count()));
        for (parsed.map.keys(), parsed.map.values()) |ip, mac| {
            const key = try sdk.gpa.dupe(u8, ip);
            const value = sdk.gpa.dupe(u8, mac) catch |err| {
                sdk.gpa.free(key);
                return err;
            };
            map.putAssumeCapacity(key, value);
        }
        freeMap(&self.ip_mac);
        self.ip_mac = map;
    }

    fn freeMap(map: *std.StringHashMapUnmanaged([]u8)) void {
        var it = map.iterator();
        while (it.next()) |e| {
            sdk.gpa.free(e.key_ptr.*);
            sdk.gpa.free(e.value_ptr.*);
        }
        map.deinit(sdk.gpa);
    }
};

/// "request", "reply" or the opcode number (written as the payload alone:
/// the SDK writes a union as its active field's value).
const Operation = union(enum) {
    name: []const u8,
    code: u16,

    fn of(op: u16) Operation {
        return switch (op) {
            1 => .{ .name = "request" },
            2 => .{ .name = "reply" },
            else => .{ .code = op },
        };
    }
};

/// The fields of an ARP packet. Like scapy, a packet cut short yields
/// shorter (possibly empty) address fields rather than nothing.
const Arp = struct {
    op: u16,
    sha: []const u8,
    spa: []const u8,
    tha: []const u8,
    tpa: []const u8,

    /// The fixed header (8 bytes) and whatever of the addresses is there.
    fn parse(b: []const u8) ?Arp {
        if (b.len < 8) return null;
        const hlen = b[4];
        const plen = b[5];
        var rest = b[8..];
        return .{
            .op = std.mem.readInt(u16, b[6..8], .big),
            .sha = take(&rest, hlen),
            .spa = take(&rest, plen),
            .tha = take(&rest, hlen),
            .tpa = take(&rest, plen),
        };
    }

    fn take(rest: *[]const u8, n: usize) []const u8 {
        const field = rest.*[0..@min(n, rest.len)];
        rest.* = rest.*[field.len..];
        return field;
    }
};

/// Hardware addresses as scapy prints them: lowercase hex, colon-separated.
fn hw(arena: std.mem.Allocator, bytes: []const u8) ![]const u8 {
    var s: std.ArrayList(u8) = try .initCapacity(arena, bytes.len * 3);
    for (bytes, 0..) |b, i| {
        if (i > 0) s.appendAssumeCapacity(':');
        s.appendSliceAssumeCapacity(&std.fmt.hex(b));
    }
    return s.items;
}

/// Protocol addresses: dotted quad for 4 bytes, else hex like hardware ones.
fn proto(arena: std.mem.Allocator, bytes: []const u8) ![]const u8 {
    if (bytes.len != 4) return hw(arena, bytes);
    return std.fmt.allocPrint(arena, "{d}.{d}.{d}.{d}", .{ bytes[0], bytes[1], bytes[2], bytes[3] });
}
