//! Embeds the standard chefs (PacketCountChef, ARPChef, DNSLookupChef) in
//! `nd-sniff`, so that an installed binary (`cargo install --path runtime`,
//! the .deb) runs them with no `--chef-dir` and no checkout beside it.
//!
//! Where the components come from:
//!
//! - `ND_STANDARD_CHEFS=DIR` (set by the Justfile to `target/chefs`, which
//!   `just rust-chefs` fills): the already-built files are copied. This is
//!   how every `just` recipe builds, so the guest chefs are compiled once per
//!   run, into the one shared target directory.
//! - otherwise (a plain `cargo build` or `cargo install` from a checkout):
//!   this script builds them itself, `cargo build --release --target
//!   wasm32-wasip2` in `chefs/rust`, into a target directory of its own
//!   under this build's `OUT_DIR`. Not the outer build's target directory:
//!   a release build of the host holds its lock, and the nested cargo would
//!   wait for it forever.
//!
//! Decision: a build script rather than committed `.wasm` files, so the
//! embedded chefs can never drift from `chefs/rust`'s sources.

use std::path::{Path, PathBuf};
use std::process::Command;

/// File name in the chef directory -> cargo package in `chefs/rust`.
/// The same three files `scripts/build-chefs.sh` stages in `target/chefs`.
const STANDARD: [(&str, &str); 3] = [
    ("packet_count.wasm", "chef-packet-count"),
    ("arp.wasm", "chef-arp"),
    ("dns_lookup.wasm", "chef-dns-lookup"),
];

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-env-changed=ND_STANDARD_CHEFS");
    let dir = match std::env::var_os("ND_STANDARD_CHEFS") {
        Some(d) => PathBuf::from(d),
        None => build_guests(&out),
    };
    let mut table = String::from(
        "/// The standard chefs built into this binary: (file name, component bytes).\n\
         pub const EMBEDDED: &[(&str, &[u8])] = &[\n",
    );
    for (file, _) in STANDARD {
        let src = dir.join(file);
        println!("cargo:rerun-if-changed={}", src.display());
        if !src.is_file() {
            fail(&format!(
                "{} is missing: build the standard chefs first (`just rust-chefs`), \
                 or unset ND_STANDARD_CHEFS to have this build script build them",
                src.display()
            ));
        }
        let dst = out.join(file);
        std::fs::copy(&src, &dst)
            .unwrap_or_else(|e| fail(&format!("cannot copy {}: {e}", src.display())));
        table.push_str(&format!(
            "    ({file:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{file}\"))),\n"
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("embedded_chefs.rs"), table)
        .unwrap_or_else(|e| fail(&format!("cannot write embedded_chefs.rs: {e}")));
}

/// Builds the standard chefs with a nested cargo; returns where they are.
fn build_guests(out: &Path) -> PathBuf {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let chefs = manifest_dir.join("..").join("chefs").join("rust");
    if !chefs.join("Cargo.toml").is_file() {
        fail(&format!(
            "the chef sources are not at {}: build from a checkout of the repository, \
             or set ND_STANDARD_CHEFS to a directory holding the standard chefs",
            chefs.display()
        ));
    }
    for sub in ["sdk", "packet-count", "arp", "dns-lookup"] {
        println!("cargo:rerun-if-changed={}", chefs.join(sub).display());
    }
    // Host crates the guests compile in (the SDK's DNS rule and layer kinds).
    for krate in ["scapy", "decode"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join("..").join(krate).display()
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        chefs.join("Cargo.lock").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("..").join("wit").display()
    );
    let target_dir = out.join("guest-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&chefs)
        .args([
            "build",
            "--quiet",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .env("CARGO_TARGET_DIR", &target_dir);
    for (_, package) in STANDARD {
        cmd.args(["-p", package]);
    }
    // The outer build's flags are for the host (and may be a sanitizer's,
    // or --cfg tokio_unstable); the guests take chefs/rust's own.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo to build the chefs: {e}")));
    if !status.success() {
        fail(
            "building the standard chefs failed (is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`)",
        );
    }
    let built = target_dir.join("wasm32-wasip2").join("release");
    let staged = out.join("built-chefs");
    std::fs::create_dir_all(&staged).unwrap();
    for (file, package) in STANDARD {
        let from = built.join(format!("{}.wasm", package.replace('-', "_")));
        std::fs::copy(&from, staged.join(file))
            .unwrap_or_else(|e| fail(&format!("cannot copy {}: {e}", from.display())));
    }
    staged
}

fn fail(msg: &str) -> ! {
    eprintln!("nd-runtime build: {msg}");
    std::process::exit(1)
}
