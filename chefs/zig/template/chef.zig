//! ChefTemplate: counts packets; every interval says how many so far.
//!
//! Build with `chefs/zig/build.sh` (or `just chefs`); the component lands in
//! target/polyglot/zig/chef_template.wasm. The SDK's handlers and helpers
//! are documented in chefs/zig/sdk/sdk.zig.

const sdk = @import("sdk");

pub const Chef = struct {
    /// The chef's name in dumplings (`metadata.chef`).
    pub const name = "ChefTemplate";

    /// State lives in fields; each needs a default (the SDK starts from `.{}`).
    packets: u64 = 0,

    /// Called for every packet. Write a JSON value to `out` to make a
    /// packet dumpling; write nothing for none.
    pub fn packet(self: *Chef, p: *const sdk.Packet, out: *sdk.Json) !void {
        _ = p;
        _ = out;
        self.packets += 1;
    }

    /// Called every poke interval: `{"packets":N}`.
    pub fn interval(self: *Chef, out: *sdk.Json) !void {
        try out.write(.{ .packets = self.packets });
    }
};
