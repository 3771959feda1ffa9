//! PacketCountChef: counts every layer of every packet by scapy's layer
//! name, as netdumplings' PacketCountChef (rules: docs/scapy-layer-names.md,
//! in scapy.zig). No packet dumplings; the interval payload is
//! `{"packet_counts":{layer:count,...}}`, counted since the chef started.

const std = @import("std");
const sdk = @import("sdk");
const scapy = @import("scapy.zig");

pub const Chef = struct {
    pub const name = "PacketCountChef";

    /// Counts up to the last fold, by layer name. The keys are owned
    /// (copied into `sdk.gpa`): imported state brings names that are not
    /// static strings. The JSON writer sorts them: the map's order is moot.
    counts: std.StringArrayHashMapUnmanaged(u64) = .empty,
    /// Counts since then. The per-packet path only touches this short list
    /// (a dozen names at most), found by pointer since layer names are
    /// static strings: no hashing, no allocation. Folded into `counts`
    /// before they are reported.
    recent: [max_recent]Recent = undefined,
    recent_len: usize = 0,

    const max_recent = 64;
    const Recent = struct { name: []const u8, n: u64 };

    pub fn packet(self: *Chef, p: *const sdk.Packet, out: *sdk.Json) !void {
        _ = out;
        try scapy.layerNames(p, self, count);
    }

    fn count(self: *Chef, layer_name: []const u8) !void {
        for (self.recent[0..self.recent_len]) |*r| {
            if (r.name.ptr == layer_name.ptr) {
                r.n += 1;
                return;
            }
        }
        if (self.recent_len == max_recent) try self.fold();
        self.recent[self.recent_len] = .{ .name = layer_name, .n = 1 };
        self.recent_len += 1;
    }

    /// Adds the recent counts to `counts`.
    fn fold(self: *Chef) !void {
        while (self.recent_len > 0) {
            const r = self.recent[self.recent_len - 1];
            const entry = try self.counts.getOrPut(sdk.gpa, r.name);
            if (!entry.found_existing) {
                entry.key_ptr.* = sdk.gpa.dupe(u8, r.name) catch |err| {
                    self.counts.swapRemoveAt(entry.index);
                    return err;
                };
                entry.value_ptr.* = 0;
            }
            entry.value_ptr.* +%= r.n; // wraps like the Rust chef's u64 (an imported state may be huge)
            self.recent_len -= 1;
        }
    }

    pub fn interval(self: *Chef, out: *sdk.Json) !void {
        try self.fold();
        try out.beginObject();
        try out.key("packet_counts");
        try self.writeCounts(out);
        try out.endObject();
    }

    fn writeCounts(self: *Chef, out: *sdk.Json) !void {
        try out.beginObject();
        var it = self.counts.iterator();
        while (it.next()) |e| {
            try out.key(e.key_ptr.*);
            try out.write(e.value_ptr.*);
        }
        try out.endObject();
    }

    /// State: the counts as a JSON object, as the Rust chef's (so either
    /// can take over from the other on a hot swap).
    pub fn exportState(self: *Chef, out: *sdk.Json) !void {
        try self.fold();
        try self.writeCounts(out);
    }

    pub fn importState(self: *Chef, state: []const u8, scratch: std.mem.Allocator) !void {
        const parsed = try std.json.parseFromSliceLeaky(std.json.ArrayHashMap(u64), scratch, state, .{
            .duplicate_field_behavior = .use_last, // as serde_json into a map
        });
        var counts: std.StringArrayHashMapUnmanaged(u64) = .empty;
        errdefer freeCounts(&counts);
        for (parsed.map.keys(), parsed.map.values()) |k, v| {
            const owned = try sdk.gpa.dupe(u8, k);
            counts.put(sdk.gpa, owned, v) catch |err| {
                sdk.gpa.free(owned);
                return err;
            };
        }
        freeCounts(&self.counts);
        self.counts = counts;
        self.recent_len = 0;
    }

    fn freeCounts(counts: *std.StringArrayHashMapUnmanaged(u64)) void {
        for (counts.keys()) |k| sdk.gpa.free(k);
        counts.deinit(sdk.gpa);
    }
};
