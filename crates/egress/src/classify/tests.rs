use std::net::IpAddr;

use ipnet::IpNet;

use super::*;

/// Address, expected range name (a substring of it), or `None` for globally reachable.
const CASES: &[(&str, Option<&str>)] = &[
    // IPv4 special-purpose registry, edges of each range.
    ("0.0.0.0", Some("0.0.0.0/8")),
    ("0.255.255.255", Some("0.0.0.0/8")),
    ("10.0.0.0", Some("10.0.0.0/8")),
    ("10.255.255.255", Some("10.0.0.0/8")),
    ("100.64.0.0", Some("100.64.0.0/10")),
    ("100.127.255.255", Some("100.64.0.0/10")),
    ("127.0.0.1", Some("loopback (127.0.0.0/8)")),
    ("127.255.255.254", Some("127.0.0.0/8")),
    ("169.254.169.254", Some("link-local (169.254.0.0/16)")),
    ("172.16.0.1", Some("172.16.0.0/12")),
    ("172.31.255.255", Some("172.16.0.0/12")),
    ("192.0.0.1", Some("192.0.0.0/24")),
    ("192.0.0.9", Some("192.0.0.0/24")),
    ("192.0.0.170", Some("192.0.0.0/24")),
    ("192.0.2.1", Some("192.0.2.0/24")),
    ("192.31.196.1", Some("192.31.196.0/24")),
    ("192.52.193.1", Some("192.52.193.0/24")),
    ("192.88.99.1", Some("192.88.99.0/24")),
    ("192.168.1.1", Some("192.168.0.0/16")),
    ("192.175.48.1", Some("192.175.48.0/24")),
    ("198.18.0.1", Some("198.18.0.0/15")),
    ("198.19.255.255", Some("198.18.0.0/15")),
    ("198.51.100.7", Some("198.51.100.0/24")),
    ("203.0.113.9", Some("203.0.113.0/24")),
    ("224.0.0.1", Some("multicast (224.0.0.0/4)")),
    ("239.255.255.250", Some("224.0.0.0/4")),
    ("240.0.0.1", Some("reserved (240.0.0.0/4)")),
    ("255.255.255.254", Some("240.0.0.0/4")),
    ("255.255.255.255", Some("limited broadcast")),
    // IPv4 public addresses, including neighbours of the ranges above.
    ("1.1.1.1", None),
    ("8.8.8.8", None),
    ("9.255.255.255", None),
    ("11.0.0.0", None),
    ("100.63.255.255", None),
    ("100.128.0.0", None),
    ("126.255.255.255", None),
    ("128.0.0.0", None),
    ("169.253.255.255", None),
    ("169.255.0.0", None),
    ("172.15.255.255", None),
    ("172.32.0.0", None),
    ("192.0.1.1", None),
    ("192.0.3.1", None),
    ("192.88.98.1", None),
    ("192.167.255.255", None),
    ("192.169.0.0", None),
    ("198.17.255.255", None),
    ("198.20.0.0", None),
    ("203.0.112.255", None),
    ("223.255.255.255", None),
    // IPv6 special-purpose registry.
    ("::", Some("unspecified (::/128)")),
    ("::1", Some("loopback (::1/128)")),
    ("::ffff:127.0.0.1", Some("loopback (127.0.0.0/8)")),
    ("::ffff:10.1.2.3", Some("10.0.0.0/8")),
    ("::ffff:169.254.169.254", Some("169.254.0.0/16")),
    ("::ffff:0.0.0.0", Some("0.0.0.0/8")),
    ("::127.0.0.1", Some("loopback (127.0.0.0/8)")),
    ("::192.168.0.1", Some("192.168.0.0/16")),
    ("64:ff9b::127.0.0.1", Some("127.0.0.0/8")),
    ("64:ff9b::a9fe:a9fe", Some("169.254.0.0/16")),
    ("64:ff9b:1::1", Some("64:ff9b:1::/48")),
    ("64:ff9b:1:ffff::1", Some("64:ff9b:1::/48")),
    ("100::1", Some("discard-only (100::/64)")),
    ("100:0:0:1::1", Some("100:0:0:1::/64")),
    ("2001::1", Some("2001::/23")),
    ("2001:1::1", Some("2001::/23")),
    ("2001:2::1", Some("2001::/23")),
    ("2001:1ff:ffff::1", Some("2001::/23")),
    ("2001:db8::1", Some("documentation (2001:db8::/32)")),
    ("2002::1", Some("6to4 (2002::/16)")),
    ("2002:808:808::1", Some("6to4 (2002::/16)")),
    ("2002:7f00:1::1", Some("6to4 (2002::/16)")),
    ("2620:4f:8000::1", Some("2620:4f:8000::/48")),
    ("3fff::1", Some("3fff::/20")),
    ("5f00::1", Some("5f00::/16")),
    ("fc00::1", Some("unique-local (fc00::/7)")),
    ("fd00::1", Some("unique-local (fc00::/7)")),
    ("fdff:ffff::1", Some("fc00::/7")),
    ("fe80::1", Some("link-local (fe80::/10)")),
    ("febf::1", Some("fe80::/10")),
    ("fec0::1", Some("fec0::/10")),
    ("ff02::1", Some("multicast (ff00::/8)")),
    ("ff0e::1", Some("ff00::/8")),
    ("::ffff:0:7f00:1", Some("outside 2000::/3")),
    ("4000::1", Some("outside 2000::/3")),
    ("1::1", Some("outside 2000::/3")),
    // IPv6 public addresses, and embedded public IPv4 addresses.
    ("2001:4860:4860::8888", None),
    ("2606:4700:4700::1111", None),
    ("2001:200::1", None),
    ("2001:db9::1", None),
    ("2003::1", None),
    ("2620:4f:8001::1", None),
    ("3ffe::1", None),
    ("3fff:1000::1", None),
    ("::ffff:8.8.8.8", None),
    ("::8.8.8.8", None),
    ("64:ff9b::8.8.8.8", None),
];

#[test]
fn classifier_table() {
    let mut failures = Vec::new();
    for (text, expected) in CASES {
        let ip: IpAddr = text.parse().unwrap();
        let got = special_purpose(ip);
        let ok = match (got, expected) {
            (None, None) => true,
            (Some(name), Some(part)) => name.contains(part),
            _ => false,
        };
        if !ok {
            failures.push(format!("{text}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_table_entry_is_reachable() {
    // A typo in a network constant would make an entry unreachable: check each entry's own
    // network address classifies as that entry (or a more specific one listed earlier).
    for (network, _, name) in V4_RANGES {
        assert_eq!(special_purpose_v4(Ipv4Addr::from(*network)), Some(*name));
    }
    for (network, _, rule) in V6_RANGES {
        if let V6Rule::Refuse(name) = rule {
            assert_eq!(special_purpose_v6(Ipv6Addr::from(*network)), Some(*name));
        }
    }
}

#[test]
fn allow_list_is_the_only_way_in() {
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let blocked = check_address(loopback, &[]).unwrap_err();
    assert_eq!(blocked.address(), loopback);
    assert_eq!(blocked.range(), "loopback (127.0.0.0/8)");
    assert_eq!(
        blocked.to_string(),
        "address `127.0.0.1` is in the special-purpose range loopback (127.0.0.0/8)"
    );

    let allow: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
    assert!(check_address(loopback, &allow).is_ok());
    assert!(check_address("127.0.0.2".parse().unwrap(), &allow).is_err());
    assert!(check_address("10.0.0.1".parse().unwrap(), &allow).is_err());
    // The mapped form reaches the same socket, so the IPv4 allowance covers it.
    assert!(check_address("::ffff:127.0.0.1".parse().unwrap(), &allow).is_ok());
    // The compatible form is not delivered as IPv4 by the stack; it stays refused.
    assert!(check_address("::127.0.0.1".parse().unwrap(), &allow).is_err());

    let allow_v6: Vec<IpNet> = vec!["fd00::/8".parse().unwrap()];
    assert!(check_address("fd00::1".parse().unwrap(), &allow_v6).is_ok());
    assert!(check_address("fe80::1".parse().unwrap(), &allow_v6).is_err());

    // Public addresses need no allowance.
    assert!(check_address("93.184.216.34".parse().unwrap(), &[]).is_ok());
}
