/*
 * Shared by the standard C chefs, as chefs/rust/dissect is by the Rust
 * ones: which packets scapy 2.4.5 (what netdumplings 0.5.1 used) would
 * call DNS, and the names it gives layers. docs/scapy-layer-names.md has
 * the rules; the Rust crate is the reference.
 *
 * Everything here reads the kitchen's decoded layers and checks every
 * index against its bounds: hostile bytes give "not DNS", never a trap.
 */
#ifndef ND_DISSECT_H
#define ND_DISSECT_H

#include "netdumplings_chef.h"

/* scapy's layer names, as PacketCountChef counts them. */
enum nd_scapy_name {
    ND_NAME_ETHERNET,
    ND_NAME_802_3,
    ND_NAME_COOKED_LINUX,
    ND_NAME_LOOPBACK,
    ND_NAME_802_1Q,
    ND_NAME_802_1AD,
    ND_NAME_ARP,
    ND_NAME_IP,
    ND_NAME_IPV6,
    ND_NAME_IPV6_HOP_BY_HOP,
    ND_NAME_IPV6_ROUTING,
    ND_NAME_IPV6_DESTINATION,
    ND_NAME_AH,
    ND_NAME_IPV6_EXTENSION,
    ND_NAME_IPV6_FRAGMENT,
    ND_NAME_TCP,
    ND_NAME_UDP,
    ND_NAME_ICMP,
    ND_NAME_ICMPV6_DEST_UNREACH,
    ND_NAME_ICMPV6_PACKET_TOO_BIG,
    ND_NAME_ICMPV6_TIME_EXCEEDED,
    ND_NAME_ICMPV6_PARAM_PROBLEM,
    ND_NAME_ICMPV6_ECHO_REQUEST,
    ND_NAME_ICMPV6_ECHO_REPLY,
    ND_NAME_MLDV2_QUERY,
    ND_NAME_MLD_REPORT,
    ND_NAME_MLD_DONE,
    ND_NAME_ND_ROUTER_SOLICITATION,
    ND_NAME_ND_ROUTER_ADVERTISEMENT,
    ND_NAME_ND_NEIGHBOR_SOLICITATION,
    ND_NAME_ND_NEIGHBOR_ADVERTISEMENT,
    ND_NAME_ND_REDIRECT,
    ND_NAME_MLDV2_REPORT,
    ND_NAME_ICMPV6_UNKNOWN,
    ND_NAME_PADDING,
    ND_NAME_RAW,
    ND_NAME_DNS,
    ND_NAME_LLMNR_RESPONSE,
    ND_NAME_LLMNR_QUERY,
    ND_NAME_NTP,
    ND_NAME_IP_IN_ICMP,
    ND_NAME_UDP_IN_ICMP,
    ND_NAME_TCP_IN_ICMP,
    ND_NAME_ICMP_IN_ICMP,
    ND_NAME_LLC,
    ND_NAME_STP,
    ND_NAME_COUNT
};

/* The text of each name: nd_scapy_names[ND_NAME_IP] is "IP". */
extern const char *const nd_scapy_names[ND_NAME_COUNT];

/* Calls `emit` with scapy's name for every layer of `packet`, outermost
 * first. */
void nd_scapy_layer_names(const struct nd_packet *packet,
                          void (*emit)(void *context, enum nd_scapy_name name), void *context);

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
