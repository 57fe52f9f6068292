//! The address classifier: which IANA special-purpose range, if any, an address belongs to.
//!
//! The tables follow the IANA IPv4 and IPv6 Special-Purpose Address Registries, plus IPv4
//! multicast (224.0.0.0/4), IPv6 multicast (ff00::/8) and the deprecated IPv6 site-local range
//! (fec0::/10). Two deliberate choices make the baseline stricter than the registries'
//! "globally reachable" column:
//!
//! - every registry entry is refused, including the few anycast services IANA marks globally
//!   reachable (AS112, AMT, PCP and TURN anycast): no upstream API lives there, and a gateway
//!   that refuses them loses nothing;
//! - IPv6 space outside 2000::/3 that no entry covers is unallocated and refused as reserved.
//!
//! Addresses that embed an IPv4 address and are delivered to it (IPv4-mapped `::ffff:a.b.c.d`,
//! the deprecated IPv4-compatible `::a.b.c.d`, and NAT64 `64:ff9b::a.b.c.d`) are judged by the
//! embedded address, so `::ffff:127.0.0.1` is loopback. 6to4 (2002::/16) is refused outright:
//! it is deprecated (RFC 7526) and its embedded address names a relay, not the destination.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Names the IANA special-purpose range an address is in, `None` if it is an ordinary,
/// globally reachable unicast address.
///
/// The name reads like `loopback (127.0.0.0/8)`. IPv4-mapped, IPv4-compatible and NAT64
/// addresses carry the name of the range of their embedded IPv4 address.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_purpose_v4(v4),
        IpAddr::V6(v6) => special_purpose_v6(v6),
    }
}

/// Refuses an address in a special-purpose range unless `allow_private` lists it.
///
/// An IPv4-mapped IPv6 address is also accepted when its embedded IPv4 address is in an
/// allowed range, since that is the address the connection reaches.
pub fn check_address(ip: IpAddr, allow_private: &[IpNet]) -> Result<(), Blocked> {
    let Some(range) = special_purpose(ip) else {
        return Ok(());
    };
    let canonical = ip.to_canonical();
    if allow_private
        .iter()
        .any(|net| net.contains(&ip) || net.contains(&canonical))
    {
        return Ok(());
    }
    Err(Blocked { address: ip, range })
}

/// An address the egress guard refuses, with the range that made it refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Blocked {
    address: IpAddr,
    range: &'static str,
}

impl Blocked {
    /// The refused address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The special-purpose range it belongs to, e.g. `loopback (127.0.0.0/8)`.
    pub fn range(&self) -> &'static str {
        self.range
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "address `{}` is in the special-purpose range {}",
            self.address, self.range
        )
    }
}

impl std::error::Error for Blocked {}

/// IPv4 ranges: network, prefix length, name. Disjoint except where a more specific entry is
/// listed first.
const V4_RANGES: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "this network (0.0.0.0/8)"),
    (0x0a00_0000, 8, "private-use (10.0.0.0/8)"),
    (0x6440_0000, 10, "shared address space (100.64.0.0/10)"),
    (0x7f00_0000, 8, "loopback (127.0.0.0/8)"),
    (0xa9fe_0000, 16, "link-local (169.254.0.0/16)"),
    (0xac10_0000, 12, "private-use (172.16.0.0/12)"),
    (0xc000_0000, 24, "IETF protocol assignments (192.0.0.0/24)"),
    (0xc000_0200, 24, "documentation TEST-NET-1 (192.0.2.0/24)"),
    (0xc01f_c400, 24, "AS112-v4 (192.31.196.0/24)"),
    (0xc034_c100, 24, "AMT (192.52.193.0/24)"),
    (
        0xc058_6300,
        24,
        "deprecated 6to4 relay anycast (192.88.99.0/24)",
    ),
    (0xc0a8_0000, 16, "private-use (192.168.0.0/16)"),
    (0xc0af_3000, 24, "AS112 direct delegation (192.175.48.0/24)"),
    (0xc612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (
        0xc633_6400,
        24,
        "documentation TEST-NET-2 (198.51.100.0/24)",
    ),
    (0xcb00_7100, 24, "documentation TEST-NET-3 (203.0.113.0/24)"),
    (0xe000_0000, 4, "multicast (224.0.0.0/4)"),
    (0xffff_ffff, 32, "limited broadcast (255.255.255.255/32)"),
    (0xf000_0000, 4, "reserved (240.0.0.0/4)"),
];

fn special_purpose_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(network, prefix, _)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
            bits & mask == *network
        })
        .map(|(_, _, name)| *name)
}

/// What to do with an address in an IPv6 range.
#[derive(Clone, Copy)]
enum V6Rule {
    /// The range is refused under this name.
    Refuse(&'static str),
    /// Judge the IPv4 address in the last 32 bits.
    Embedded,
}

/// IPv6 ranges: network, prefix length, rule. Checked in order; the first match decides.
const V6_RANGES: &[(u128, u8, V6Rule)] = &[
    (0, 128, V6Rule::Refuse("unspecified (::/128)")),
    (1, 128, V6Rule::Refuse("loopback (::1/128)")),
    // ::ffff:0:0/96, IPv4-mapped.
    (0xffff_0000_0000, 96, V6Rule::Embedded),
    // ::/96, IPv4-compatible (deprecated); :: and ::1 are matched above.
    (0, 96, V6Rule::Embedded),
    // 64:ff9b::/96, NAT64 well-known prefix.
    (0x0064_ff9b << 96, 96, V6Rule::Embedded),
    (
        (0x0064_ff9b << 96) | (1 << 80),
        48,
        V6Rule::Refuse("local-use IPv4/IPv6 translation (64:ff9b:1::/48)"),
    ),
    (0x0100 << 112, 64, V6Rule::Refuse("discard-only (100::/64)")),
    (
        (0x0100 << 112) | (1 << 64),
        64,
        V6Rule::Refuse("dummy prefix (100:0:0:1::/64)"),
    ),
    (
        0x2001_0db8 << 96,
        32,
        V6Rule::Refuse("documentation (2001:db8::/32)"),
    ),
    (
        0x2001 << 112,
        23,
        V6Rule::Refuse("IETF protocol assignments (2001::/23)"),
    ),
    (0x2002 << 112, 16, V6Rule::Refuse("6to4 (2002::/16)")),
    (
        (0x2620_004f << 96) | (0x8000 << 80),
        48,
        V6Rule::Refuse("AS112 direct delegation (2620:4f:8000::/48)"),
    ),
    (
        0x3fff << 112,
        20,
        V6Rule::Refuse("documentation (3fff::/20)"),
    ),
    (
        0x5f00 << 112,
        16,
        V6Rule::Refuse("segment routing SIDs (5f00::/16)"),
    ),
    (0xfc00 << 112, 7, V6Rule::Refuse("unique-local (fc00::/7)")),
    (0xfe80 << 112, 10, V6Rule::Refuse("link-local (fe80::/10)")),
    (
        0xfec0 << 112,
        10,
        V6Rule::Refuse("deprecated site-local (fec0::/10)"),
    ),
    (0xff00 << 112, 8, V6Rule::Refuse("multicast (ff00::/8)")),
];

fn special_purpose_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let rule = V6_RANGES.iter().find(|(network, prefix, _)| {
        let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
        bits & mask == *network
    });
    match rule {
        Some((_, _, V6Rule::Refuse(name))) => Some(name),
        Some((_, _, V6Rule::Embedded)) => {
            // The low 32 bits are the embedded IPv4 address; truncation is the intent.
            let embedded = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
            special_purpose_v4(embedded)
        }
        // Global unicast is 2000::/3; everything else outside the entries above is unallocated.
        None if bits >> 125 != 0b001 => Some("reserved (outside 2000::/3)"),
        None => None,
    }
}

#[cfg(test)]
mod tests;
