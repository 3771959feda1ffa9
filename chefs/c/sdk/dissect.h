/*
 * Shared by the standard C chefs: which packets scapy 2.4.5 (what
 * netdumplings 0.5.1 used) would call DNS, and DNS messages as the Rust
 * chefs parse them (DNSLookupChef). docs/scapy-layer-names.md has the
 * rules; the kitchen's nd-scapy crate is the reference. scapy's layer
 * names are not here: the kitchen computes them (nd_packet_scapy_names).
 *
 * Everything here reads the kitchen's decoded layers and checks every
 * index against its bounds: hostile bytes give "not DNS", never a trap.
 */
#ifndef ND_DISSECT_H
#define ND_DISSECT_H

#include "netdumplings_chef.h"

/* The DNS message a packet carries, if scapy would have dissected one:
 * UDP port 53 or 5353 (mDNS) on either side, or TCP port 53 after the
 * 2-byte length prefix; not LLMNR (5355), not non-first IP fragments. */
bool nd_dns_message(const struct nd_packet *packet, struct nd_bytes *message);

/*
 * Whether `message` is DNS as the Rust chefs judge it (they parse it with
 * the simple-dns 0.11 crate; this checks the same structure, record data
 * included, without building anything). If `hostname` is not NULL it gets
 * the first question's name, labels joined by dots without a trailing dot,
 * and `*has_hostname` says whether there is one (no questions, or a label
 * that is not UTF-8: none).
 */
bool nd_dns_parse(struct nd_bytes message, struct nd_buf *hostname, bool *has_hostname);

#endif
