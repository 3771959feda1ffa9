//! The root of every Zig chef component: implements the functions that
//! wit-bindgen's C bindings (`chef.c`) call for the WIT `handlers` exports,
//! on top of the chef's `Chef` struct (module "chef", the chef's chef.zig).
//!
//! Ownership, as chef.c expects it: arguments (the batch, the imported
//! state) belong to us and are freed here with the generated `*_free`
//! functions; results (strings, lists) are allocated with `malloc`
//! (`sdk.gpa`) because chef.c's post-return functions `free` them once the
//! host has copied them out. What the `scapy` imports return is ours too:
//! a batch's names are freed when the batch is done (`sdk.BatchNames`), the
//! name table is kept for the life of the instance.

const std = @import("std");
const c = @import("bindings");
const sdk = @import("sdk");
const Chef = @import("chef").Chef;

comptime {
    if (!@hasDecl(Chef, "name")) @compileError("a chef needs `pub const name = \"SomethingChef\";`");
    if (!std.unicode.utf8ValidateSlice(Chef.name)) @compileError("the chef's name must be UTF-8");
    @export(&name, .{ .name = "exports_netdumplings_chef_handlers_name" });
    @export(&handleBatch, .{ .name = "exports_netdumplings_chef_handlers_handle_batch" });
    @export(&interval, .{ .name = "exports_netdumplings_chef_handlers_interval" });
    @export(&exportState, .{ .name = "exports_netdumplings_chef_handlers_export_state" });
    @export(&importState, .{ .name = "exports_netdumplings_chef_handlers_import_state" });
}

/// Panics (a chef bug: `unreachable`, a failed safety check in ReleaseSafe)
/// go to the kitchen's log, then trap; the kitchen restarts the chef.
pub const panic = std.debug.FullPanic(struct {
    fn panic(msg: []const u8, _: ?usize) noreturn {
        sdk.log(.@"error", "panic: {s}", .{msg});
        @trap();
    }
}.panic);

/// `std.log` writes to the kitchen's log (there is no stderr to write to).
pub const std_options: std.Options = .{ .logFn = logFn };

fn logFn(
    comptime level: std.log.Level,
    comptime scope: @EnumLiteral(),
    comptime format: []const u8,
    args: anytype,
) void {
    const prefix = if (scope == .default) "" else "(" ++ @tagName(scope) ++ ") ";
    const to: sdk.LogLevel = switch (level) {
        .err => .@"error",
        .warn => .warn,
        .info => .info,
        .debug => .debug,
    };
    sdk.log(to, prefix ++ format, args);
}

/// The chef: one per component instance (the kitchen calls it from one thread).
var chef: Chef = .{};

/// Scratch memory for one call (a batch, an interval, ...), emptied after
/// it but keeping its capacity (up to 1 MiB, so one huge batch does not pin
/// memory), so a steady stream of batches allocates nothing new.
var arena_state: std.heap.ArenaAllocator = .init(sdk.gpa);

fn endCall() void {
    _ = arena_state.reset(.{ .retain_with_limit = 1 << 20 });
}

/// A malloc'd copy of `bytes` for the host (chef.c's post-return frees it).
fn toHost(bytes: []const u8) ?[]u8 {
    return sdk.gpa.dupe(u8, bytes) catch null;
}

fn name(ret: *c.chef_string_t) callconv(.c) void {
    // Never fails: out of memory here traps in chef.c's cabi_realloc anyway.
    const s = toHost(Chef.name) orelse @panic("out of memory");
    ret.* = .{ .ptr = s.ptr, .len = s.len };
}

fn handleBatch(
    raw: *c.exports_netdumplings_chef_handlers_packet_batch_t,
    ret: *c.exports_netdumplings_chef_handlers_list_packet_payload_t,
) callconv(.c) void {
    defer c.exports_netdumplings_chef_handlers_packet_batch_free(raw);
    defer endCall();
    ret.* = .{ .ptr = null, .len = 0 };
    if (!@hasDecl(Chef, "packet")) return;

    // The batch's scapy names, if a packet asks: freed with the batch.
    var names: sdk.BatchNames = .{};
    defer names.deinit();
    const batch = sdk.Batch.fromC(raw, &names);
    var out = sdk.Json.init(arena_state.allocator());
    // A malloc'd array (sdk.gpa is malloc): chef.c frees it, and every
    // string in it, after the host has read them.
    var payloads: std.ArrayList(c.exports_netdumplings_chef_handlers_packet_payload_t) = .empty;
    for (0..batch.len()) |i| {
        const packet = batch.packet(i);
        out.clear();
        chef.packet(&packet, &out) catch |err| {
            sdk.log(.@"error", "packet {d}: {s}", .{ i, @errorName(err) });
            continue;
        };
        if (out.isEmpty()) continue;
        if (!out.isComplete()) {
            sdk.log(.@"error", "packet {d}: unfinished JSON", .{i});
            continue;
        }
        const json = toHost(out.bytes()) orelse break;
        payloads.append(sdk.gpa, .{ .index = @intCast(i), .json = .{ .ptr = json.ptr, .len = json.len } }) catch {
            sdk.gpa.free(json);
            break;
        };
    }
    if (payloads.items.len == 0) {
        payloads.deinit(sdk.gpa); // chef.c frees nothing for an empty list
        return;
    }
    // Spare capacity is fine: free() needs only the pointer.
    ret.* = .{ .ptr = payloads.items.ptr, .len = payloads.items.len };
}

/// Runs a handler that writes into a `Json` and returns a malloc'd copy of
/// what it wrote, or null for nothing (or an error, which is logged).
fn collect(comptime what: []const u8, handler: anytype) ?[]u8 {
    defer endCall();
    var out = sdk.Json.init(arena_state.allocator());
    handler(&chef, &out) catch |err| {
        sdk.log(.@"error", what ++ ": {s}", .{@errorName(err)});
        return null;
    };
    if (out.isEmpty()) return null;
    if (!out.isComplete()) {
        sdk.log(.@"error", what ++ ": unfinished JSON", .{});
        return null;
    }
    return toHost(out.bytes());
}

fn interval(ret: *c.chef_string_t) callconv(.c) bool {
    if (!@hasDecl(Chef, "interval")) return false;
    const s = collect("interval", Chef.interval) orelse return false;
    ret.* = .{ .ptr = s.ptr, .len = s.len };
    return true;
}

fn exportState(ret: *c.chef_list_u8_t) callconv(.c) bool {
    if (!@hasDecl(Chef, "exportState")) return false;
    const s = collect("export state", Chef.exportState) orelse return false;
    ret.* = .{ .ptr = s.ptr, .len = s.len };
    return true;
}

fn importState(state: *c.chef_list_u8_t, err: *c.chef_string_t) callconv(.c) bool {
    defer c.chef_list_u8_free(state);
    defer endCall();
    err.* = .{ .ptr = null, .len = 0 };
    if (!@hasDecl(Chef, "importState")) return true;
    const bytes: []const u8 = if (state.len == 0) &.{} else state.ptr[0..state.len];
    chef.importState(bytes, arena_state.allocator()) catch |e| {
        const s = toHost(@errorName(e)) orelse return false;
        err.* = .{ .ptr = s.ptr, .len = s.len };
        return false;
    };
    return true;
}
