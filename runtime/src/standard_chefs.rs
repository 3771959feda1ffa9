//! The standard chefs built into `nd-sniff` (by `build.rs`), the fallback
//! when no chef directory is given or installed.
//!
//! The kitchen loads chefs from a directory (and watches it for hot swaps),
//! so the embedded components are written out once to a directory named by
//! their content's digest and used from there. Nothing in that directory is
//! ever rewritten in place: a binary with other chefs gets another
//! directory, and an existing one is used only if its files are exactly the
//! embedded bytes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/embedded_chefs.rs"));

/// Writes the embedded chefs under `root` (once) and returns their directory,
/// `root/standard-<digest>`.
pub fn extract(root: &Path) -> anyhow::Result<PathBuf> {
    let mut digest = Sha256::new();
    for (name, bytes) in EMBEDDED {
        digest.update(name.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    }
    let hex: String = digest.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = root.join(format!("standard-{hex}"));
    let intact = EMBEDDED
        .iter()
        .all(|(name, bytes)| std::fs::read(dir.join(name)).is_ok_and(|b| b == *bytes));
    if intact {
        return Ok(dir);
    }
    // Written beside, then renamed into place: two kitchens starting at once
    // never see a half-written chef.
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in EMBEDDED {
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(name))
            .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_three_standard_chefs_as_components() {
        let names: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["packet_count.wasm", "arp.wasm", "dns_lookup.wasm"]);
        for (name, bytes) in EMBEDDED {
            // A component's preamble: "\0asm", version 0x0d, layer 1.
            assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "{name}");
        }
    }

    #[test]
    fn extracts_once_and_repairs_a_damaged_copy() {
        let root = tempfile::tempdir().unwrap();
        let dir = extract(root.path()).unwrap();
        for (name, bytes) in EMBEDDED {
            assert_eq!(std::fs::read(dir.join(name)).unwrap(), *bytes);
        }
        std::fs::write(dir.join("arp.wasm"), b"damaged").unwrap();
        assert_eq!(extract(root.path()).unwrap(), dir);
        assert_eq!(std::fs::read(dir.join("arp.wasm")).unwrap(), EMBEDDED[1].1);
    }
}
