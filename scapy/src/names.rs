//! The names scapy 2.4.5 gives layers (each class's `name`): the one list
//! every language's PacketCountChef reads, through the kitchen.

/// Declares [`ScapyLayer`] from `Variant => "scapy name"` pairs, so the
/// list of names is written once.
macro_rules! declare_scapy_layers {
    ($($variant:ident => $name:literal,)*) => {
        /// A layer as scapy 2.4.5 names it (its class's `name`), as
        /// netdumplings' PacketCountChef counts them.
        ///
        /// An enum rather than the name itself so a counter can be an array
        /// index: PacketCountChef counts every layer of every packet. Its
        /// number (`as u16`) is the id batches carry (`scapy.name-batch`
        /// in `wit/chef.wit`); ids are positions in [`ScapyLayer::ALL`]
        /// and may change between kitchen versions (chefs read the names
        /// from the kitchen, never hard-code ids).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum ScapyLayer {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl ScapyLayer {
            /// Every layer, in declaration order: `ALL[l as usize] == l`.
            pub const ALL: &'static [ScapyLayer] = &[$(ScapyLayer::$variant,)*];

            /// scapy's name for the layer.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ScapyLayer::$variant => $name,)*
                }
            }
        }
    };
}

declare_scapy_layers! {
    Ethernet => "Ethernet",
    Dot3 => "802.3",
    CookedLinux => "cooked linux",
    Loopback => "Loopback",
    Dot1Q => "802.1Q",
    Dot1AD => "802_1AD",
    Arp => "ARP",
    Ip => "IP",
    Ipv6 => "IPv6",
    Ipv6HopByHop => "IPv6 Extension Header - Hop-by-Hop Options Header",
    Ipv6Routing => "IPv6 Option Header Routing",
    Ipv6DestOptions => "IPv6 Extension Header - Destination Options Header",
    Ah => "AH",
    Ipv6Extension => "IPv6 Extension Header",
    Ipv6Fragment => "IPv6 Extension Header - Fragmentation header",
    Tcp => "TCP",
    Udp => "UDP",
    Icmp => "ICMP",
    Dns => "DNS",
    Raw => "Raw",
    LlmnrResponse => "Link Local Multicast Node Resolution - Response",
    LlmnrQuery => "Link Local Multicast Node Resolution - Query",
    Ntp => "NTPHeader",
    IpInIcmp => "IP in ICMP",
    UdpInIcmp => "UDP in ICMP",
    TcpInIcmp => "TCP in ICMP",
    IcmpInIcmp => "ICMP in ICMP",
    Llc => "LLC",
    Stp => "Spanning Tree Protocol",
    Padding => "Padding",
    Icmpv6DestUnreach => "ICMPv6 Destination Unreachable",
    Icmpv6PacketTooBig => "ICMPv6 Packet Too Big",
    Icmpv6TimeExceeded => "ICMPv6 Time Exceeded",
    Icmpv6ParamProblem => "ICMPv6 Parameter Problem",
    Icmpv6EchoRequest => "ICMPv6 Echo Request",
    Icmpv6EchoReply => "ICMPv6 Echo Reply",
    Mldv2Query => "MLDv2 - Multicast Listener Query",
    MldReport => "MLD - Multicast Listener Report",
    MldDone => "MLD - Multicast Listener Done",
    NdRouterSolicitation => "ICMPv6 Neighbor Discovery - Router Solicitation",
    NdRouterAdvertisement => "ICMPv6 Neighbor Discovery - Router Advertisement",
    NdNeighborSolicitation => "ICMPv6 Neighbor Discovery - Neighbor Solicitation",
    NdNeighborAdvertisement => "ICMPv6 Neighbor Discovery - Neighbor Advertisement",
    NdRedirect => "ICMPv6 Neighbor Discovery - Redirect",
    Mldv2Report => "MLDv2 - Multicast Listener Report",
    Icmpv6Unknown => "ICMPv6 Unknown",
    Vxlan => "VXLAN",
    Gre => "GRE",
    PppoeDiscovery => "PPP over Ethernet Discovery",
    PppoeTags => "PPPoE Tag List",
    Pppoe => "PPP over Ethernet",
    Ppp => "PPP Link Layer",
}

/// How many [`ScapyLayer`]s there are (the length of a counter array).
pub const SCAPY_LAYERS: usize = ScapyLayer::ALL.len();

impl ScapyLayer {
    /// The layer with id `n`.
    pub fn from_id(n: u16) -> Option<ScapyLayer> {
        ScapyLayer::ALL.get(n as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positions_and_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (i, l) in ScapyLayer::ALL.iter().enumerate() {
            assert_eq!(*l as usize, i);
            assert_eq!(ScapyLayer::from_id(i as u16), Some(*l));
            assert!(seen.insert(l.name()), "{} twice", l.name());
        }
    }
}
