//! PacketCountChef: counts every layer of every packet by scapy's layer
//! name, as netdumplings' PacketCountChef. No packet dumplings; the interval
//! payload is `{"packet_counts":{layer:count,...}}`, counted since the chef
//! started. The names come from the kitchen (`Packet.scapyNames`), as in
//! every language's PacketCountChef.

const std = @import("std");
const sdk = @import("sdk");

pub const Chef = struct {
    pub const name = "PacketCountChef";

    /// Counts up to the last fold, by layer name (what it reports). The
    /// keys are owned (copied into `sdk.gpa`): imported state brings names
    /// that are not the kitchen's. The JSON writer sorts them: the map's
    /// order is moot.
    counts: std.StringArrayHashMapUnmanaged(u64) = .empty,
    /// Counts since then, indexed by name id: the per-packet path is an
    /// array increment per layer (no allocation, no name lookup). Allocated
    /// on the first packet (`sdk.scapyNameCount()` slots); folded into
    /// `counts` before they are reported.
    recent: []u64 = &.{},

    pub fn packet(self: *Chef, p: *const sdk.Packet, out: *sdk.Json) !void {
        _ = out;
        if (self.recent.len == 0) {
            self.recent = try sdk.gpa.alloc(u64, sdk.scapyNameCount());
            @memset(self.recent, 0);
        }
        for (p.scapyNames()) |id| {
            // Ids are below the name count; the check keeps a trap out of
            // the chef anyway.
            if (id < self.recent.len) self.recent[id] +%= 1;
        }
    }

    /// Adds the recent counts to `counts`.
    fn fold(self: *Chef) !void {
        for (self.recent, 0..) |*n, id| {
            if (n.* == 0) continue;
            const layer_name = sdk.scapyName(@intCast(id)) orelse continue;
            const entry = try self.counts.getOrPut(sdk.gpa, layer_name);
            if (!entry.found_existing) {
                entry.key_ptr.* = sdk.gpa.dupe(u8, layer_name) catch |err| {
                    self.counts.swapRemoveAt(entry.index);
                    return err;
                };
                entry.value_ptr.* = 0;
            }
            entry.value_ptr.* +%= n.*; // wraps like the Rust chef's u64 (an imported state may be huge)
            n.* = 0;
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
        @memset(self.recent, 0);
    }

    fn freeCounts(counts: *std.StringArrayHashMapUnmanaged(u64)) void {
        for (counts.keys()) |k| sdk.gpa.free(k);
        counts.deinit(sdk.gpa);
    }
};
