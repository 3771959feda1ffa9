//! What `nd-sniff` says when it cannot start: one clear line that names the
//! problem and what to do, exit status 1, no panic, nothing connected.

mod common;

use common::{chef_dir, nd_sniff, pcaps};

/// Runs nd-sniff with `args` (and the standard chefs); returns its stderr
/// after checking it failed cleanly.
fn fails(args: &[&str]) -> String {
    let out = nd_sniff()
        .args(["--chef-dir"])
        .arg(chef_dir())
        .args(["-h", "127.0.0.1:1"])
        .args(args)
        .output()
        .expect("run nd-sniff");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        !stderr.contains("connected to nd-hub"),
        "{args:?} got as far as the hub: {stderr}"
    );
    stderr
}

#[test]
fn a_missing_interface_is_named_with_the_ones_that_exist() {
    let e = fails(&["-i", "nosuchif0"]);
    assert!(e.contains("no such interface \"nosuchif0\""), "{e}");
    assert!(e.contains("available:") && e.contains("lo"), "{e}");
}

#[test]
fn a_bad_filter_is_quoted_with_libpcaps_reason() {
    let pcap = pcaps().join("dns_udp.pcap");
    let e = fails(&["--read", pcap.to_str().unwrap(), "-f", "udp and and"]);
    assert!(e.contains("invalid filter \"udp and and\""), "{e}");
}

#[test]
fn an_unreadable_capture_file_says_why() {
    let e = fails(&["--read", "/nonexistent/x.pcap"]);
    assert!(
        e.contains("cannot read capture file /nonexistent/x.pcap"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let e = fails(&["--read", dir.path().to_str().unwrap()]);
    assert!(e.contains("is a directory"), "{e}");
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file").unwrap();
    let e = fails(&["--read", junk.to_str().unwrap()]);
    assert!(e.contains("cannot read capture file"), "{e}");
}

#[test]
fn an_empty_chef_directory_is_refused_before_capturing() {
    let dir = tempfile::tempdir().unwrap();
    let out = nd_sniff()
        .args(["--print", "--read"])
        .arg(pcaps().join("dns_udp.pcap"))
        .arg("--chef-dir")
        .arg(dir.path())
        .output()
        .expect("run nd-sniff");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no valid chefs found"), "{stderr}");
}
