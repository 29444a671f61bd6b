//! Webhook destinations: which addresses paygate may send a signed request to (a merchant's
//! `notify_url` or webhook endpoint, the sandbox provider's notifications). A merchant's URL
//! is someone else's input: without this rule it could point paygate at the database's
//! port, an internal admin page or the cloud metadata service (a server-side request
//! forgery). The rule is checked on every address a host resolves to, at creation and again
//! on the addresses a delivery actually connects to. No I/O here: the service resolves.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused as a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// 100.64.0.0/10, carrier-grade NAT: a provider's internal network.
    SharedAddressSpace,
    /// 169.254.0.0/16, fe80::/10 (the cloud metadata service lives at 169.254.169.254).
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 0.0.0.0/8, :: (a connection to it reaches this host).
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.0.0/24, 198.18.0.0/15 (benchmarking), 240.0.0.0/4, and in IPv6 ::/96
    /// (IPv4-compatible), 100::/64 (discard), 2001::/23 (Teredo, ORCHID, protocol
    /// assignments) and fec0::/10 (site-local): no merchant's server has one, and some
    /// reach internal networks.
    Reserved,
}

impl Refusal {
    /// The words used in an error message: "a private address".
    pub fn describe(&self) -> &'static str {
        match self {
            Refusal::Loopback => "a loopback address",
            Refusal::Private => "a private address",
            Refusal::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Refusal::LinkLocal => "a link-local address (where cloud metadata services answer)",
            Refusal::UniqueLocal => "a unique-local (private IPv6) address",
            Refusal::Multicast => "a multicast address",
            Refusal::Unspecified => "an unspecified address",
            Refusal::Broadcast => "the broadcast address",
            Refusal::Reserved => "a reserved address",
        }
    }
}

/// Why `ip` can never be a destination on its own (the allow list aside), or `None` for an
/// address that may be one. IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`,
/// NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) are judged by the address they carry.
/// Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are
/// not refused: nothing answers there, and refusing them protects nothing.
pub fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => Refusal::Unspecified,
        (127, _, _) => Refusal::Loopback,
        (10, _, _) | (192, 168, _) => Refusal::Private,
        (172, b, _) if (16..32).contains(&b) => Refusal::Private,
        (100, b, _) if (64..128).contains(&b) => Refusal::SharedAddressSpace,
        (169, 254, _) => Refusal::LinkLocal,
        _ if ip.is_broadcast() => Refusal::Broadcast,
        (224..=239, _, _) => Refusal::Multicast,
        (240..=255, _, _) | (192, 0, 0) => Refusal::Reserved,
        (198, 18 | 19, _) => Refusal::Reserved,
        _ => return None,
    })
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    if let Some(v4) = embedded_v4(ip) {
        return refusal_v4(v4);
    }
    let s = ip.segments();
    Some(match s {
        _ if ip.is_unspecified() => Refusal::Unspecified,
        _ if ip.is_loopback() => Refusal::Loopback,
        [0, 0, 0, 0, 0, 0, _, _] => Refusal::Reserved, // IPv4-compatible, deprecated
        [x, ..] if x & 0xffc0 == 0xfe80 => Refusal::LinkLocal,
        [x, ..] if x & 0xffc0 == 0xfec0 => Refusal::Reserved, // site-local, deprecated
        [x, ..] if x & 0xfe00 == 0xfc00 => Refusal::UniqueLocal,
        [x, ..] if x & 0xff00 == 0xff00 => Refusal::Multicast,
        [0x0100, 0, 0, 0, ..] => Refusal::Reserved, // discard-only
        // Local-use NAT64 (RFC 8215, 64:ff9b:1::/48): a translator of the operator's own
        // network, where the IPv4 address sits at a prefix-dependent place: refused whole.
        [0x64, 0xff9b, 1, ..] => Refusal::Reserved,
        [0x2001, x, ..] if x < 0x0200 => Refusal::Reserved, // Teredo, ORCHID, protocol assignments
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for, where it stands for one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(v4(hi, lo)),
        // IPv4-translated (RFC 6145, ::ffff:0:a.b.c.d).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// An IP network in CIDR form (`10.1.0.0/16`, `fd00::/8`; a bare address is `/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `a.b.c.d[/n]` or `v6[/n]`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be from 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    /// The network of one address.
    pub fn single(addr: IpAddr) -> Network {
        Network {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// Whether `ip` is in the network. An IPv4-mapped IPv6 address is in an IPv4 network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The destinations an operator allows whatever they resolve to (`PAYGATE_WEBHOOK_ALLOW`):
/// host names, matched whole and without regard to case, and networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
    networks: Vec<Network>,
}

impl AllowList {
    /// Parses a comma-separated list: `hooks.internal, 10.20.0.0/16, 192.168.1.5`. An entry
    /// with a `/` or that reads as an IP address is a network; anything else is a host name.
    pub fn parse(list: &str) -> Result<AllowList, String> {
        let mut allow = AllowList::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.contains('/') || entry.parse::<IpAddr>().is_ok() {
                allow.networks.push(Network::parse(entry)?);
            } else if entry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                allow
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!("`{entry}` is neither a host name nor a network"));
            }
        }
        Ok(allow)
    }

    /// Adds a network (the sandbox allows paygate's own address this way).
    pub fn with_network(mut self, network: Network) -> AllowList {
        self.networks.push(network);
        self
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(ip))
    }
}

/// The destination rule in force: the operator's allow list and whether loopback is allowed
/// (the embedded setting allows it, so the demo's sandbox and a developer's local endpoint
/// work; the production setting refuses it like any internal address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub allow: AllowList,
    pub allow_loopback: bool,
}

/// A destination the rule refuses: the host as given, the address refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub addr: Option<IpAddr>,
    pub why: RefusedWhy,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusedWhy {
    /// One of its addresses is one of these.
    Address(Refusal),
    /// The host name resolves to no address.
    NoAddress,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let literal = self.addr.is_some_and(|a| host_ip(&self.host) == Some(a));
        match (&self.why, self.addr) {
            (RefusedWhy::Address(r), Some(addr)) if literal => {
                write!(f, "{addr} is {}", r.describe())
            }
            (RefusedWhy::Address(r), Some(addr)) => {
                write!(f, "{} resolves to {addr}, {}", self.host, r.describe())
            }
            (RefusedWhy::Address(r), None) => write!(f, "{} is {}", self.host, r.describe()),
            (RefusedWhy::NoAddress, _) => write!(f, "{} resolves to no address", self.host),
        }
    }
}

/// The IP address a URL host stands for when it is a literal (`10.0.0.7`, `[::1]`).
pub fn host_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

impl Policy {
    /// Checks every address `host` resolved to (or its own address, for a literal): the
    /// first refused one is reported; an empty list is refused too. A host name on the allow
    /// list passes whatever it resolves to; otherwise each address must be on an allowed
    /// network, or be loopback where loopback is allowed, or be refused by no rule.
    pub fn check(&self, host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
        if self.allow.allows_host(host) {
            return Ok(());
        }
        if addrs.is_empty() {
            return Err(Refused {
                host: host.to_owned(),
                addr: None,
                why: RefusedWhy::NoAddress,
            });
        }
        for &addr in addrs {
            if let Err(why) = self.check_ip(addr) {
                return Err(Refused {
                    host: host.to_owned(),
                    addr: Some(addr),
                    why: RefusedWhy::Address(why),
                });
            }
        }
        Ok(())
    }

    /// Whether `host` is allowed by name alone, with no look-up needed.
    pub fn allows_host(&self, host: &str) -> bool {
        self.allow.allows_host(host)
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow.allows_ip(ip) {
            return Ok(());
        }
        match refusal(ip) {
            None => Ok(()),
            Some(Refusal::Loopback) if self.allow_loopback => Ok(()),
            Some(r) => Err(r),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv4_translated_and_local_use_nat64_addresses_are_judged_as_the_networks_they_reach() {
        let v6 = |t: &str| refusal(t.parse::<IpAddr>().expect("an address"));
        assert_eq!(v6("::ffff:0:169.254.169.254"), Some(Refusal::LinkLocal));
        assert_eq!(v6("::ffff:0:10.0.0.7"), Some(Refusal::Private));
        assert_eq!(v6("64:ff9b:1::a9fe:a9fe"), Some(Refusal::Reserved));
        assert_eq!(v6("::ffff:0:93.184.216.34"), None);
    }

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn production() -> Policy {
        Policy {
            allow: AllowList::default(),
            allow_loopback: false,
        }
    }

    #[test]
    fn every_internal_ipv4_range_is_refused_at_both_ends() {
        let cases = [
            ("0.0.0.0", Refusal::Unspecified),
            ("0.255.255.255", Refusal::Unspecified),
            ("127.0.0.1", Refusal::Loopback),
            ("127.255.255.254", Refusal::Loopback),
            ("10.0.0.0", Refusal::Private),
            ("10.255.255.255", Refusal::Private),
            ("172.16.0.0", Refusal::Private),
            ("172.31.255.255", Refusal::Private),
            ("192.168.0.1", Refusal::Private),
            ("192.168.255.255", Refusal::Private),
            ("100.64.0.0", Refusal::SharedAddressSpace),
            ("100.127.255.255", Refusal::SharedAddressSpace),
            ("169.254.169.254", Refusal::LinkLocal),
            ("169.254.0.0", Refusal::LinkLocal),
            ("224.0.0.1", Refusal::Multicast),
            ("239.255.255.255", Refusal::Multicast),
            ("240.0.0.1", Refusal::Reserved),
            ("255.255.255.254", Refusal::Reserved),
            ("255.255.255.255", Refusal::Broadcast),
            ("192.0.0.8", Refusal::Reserved),
            ("198.18.0.1", Refusal::Reserved),
            ("198.19.255.255", Refusal::Reserved),
        ];
        for (addr, why) in cases {
            assert_eq!(refusal(ip(addr)), Some(why), "{addr}");
        }
    }

    #[test]
    fn public_ipv4_addresses_next_to_the_refused_ranges_pass() {
        for addr in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "223.255.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "192.0.1.0",
            "203.0.113.10",
            "93.184.215.14",
        ] {
            assert_eq!(refusal(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn every_internal_ipv6_range_is_refused() {
        let cases = [
            ("::", Refusal::Unspecified),
            ("::1", Refusal::Loopback),
            ("fe80::1", Refusal::LinkLocal),
            ("febf:ffff::1", Refusal::LinkLocal),
            ("fc00::1", Refusal::UniqueLocal),
            ("fd12:3456::1", Refusal::UniqueLocal),
            ("ff02::1", Refusal::Multicast),
            ("::7f00:1", Refusal::Reserved),
            ("100::1", Refusal::Reserved),
            ("2001::1", Refusal::Reserved),
            ("fec0::1", Refusal::Reserved),
        ];
        for (addr, why) in cases {
            assert_eq!(refusal(ip(addr)), Some(why), "{addr}");
        }
        for addr in ["2606:4700::1111", "2a00:1450::1", "2001:db8::1"] {
            assert_eq!(refusal(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_are_judged_by_that_address() {
        let cases = [
            ("::ffff:127.0.0.1", Some(Refusal::Loopback)),
            ("::ffff:10.0.0.7", Some(Refusal::Private)),
            ("::ffff:169.254.169.254", Some(Refusal::LinkLocal)),
            ("::ffff:0.0.0.0", Some(Refusal::Unspecified)),
            ("::ffff:100.64.0.1", Some(Refusal::SharedAddressSpace)),
            ("::ffff:224.0.0.1", Some(Refusal::Multicast)),
            ("::ffff:255.255.255.255", Some(Refusal::Broadcast)),
            ("64:ff9b::10.0.0.7", Some(Refusal::Private)),
            ("2002:a9fe:a9fe::1", Some(Refusal::LinkLocal)),
            ("2002:7f00:1::", Some(Refusal::Loopback)),
            ("::ffff:1.1.1.1", None),
            ("64:ff9b::1.1.1.1", None),
        ];
        for (addr, why) in cases {
            assert_eq!(refusal(ip(addr)), why, "{addr}");
        }
    }

    #[test]
    fn networks_parse_and_contain_what_their_prefix_says() {
        let net = Network::parse("10.20.0.0/16").expect("network");
        assert!(net.contains(ip("10.20.255.1")));
        assert!(net.contains(ip("::ffff:10.20.0.1")));
        assert!(!net.contains(ip("10.21.0.1")));
        assert!(!net.contains(ip("fd00::1")));
        let one = Network::parse("192.168.1.5").expect("address");
        assert!(one.contains(ip("192.168.1.5")) && !one.contains(ip("192.168.1.6")));
        let all = Network::parse("0.0.0.0/0").expect("everything");
        assert!(all.contains(ip("127.0.0.1")) && all.contains(ip("8.8.8.8")));
        let v6 = Network::parse("fd00::/8").expect("v6");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fc00::1")));
        assert_eq!(v6.to_string(), "fd00::/8");
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "host/8",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_allow_list_takes_host_names_and_networks_and_refuses_anything_else() {
        let allow = AllowList::parse(" Hooks.Internal , 10.20.0.0/16,192.168.1.5,, fd00::/8 ")
            .expect("allow list");
        assert!(allow.allows_host("hooks.internal") && allow.allows_host("HOOKS.internal."));
        assert!(!allow.allows_host("evil.hooks.internal"));
        assert!(allow.allows_ip(ip("10.20.3.4")) && allow.allows_ip(ip("192.168.1.5")));
        assert!(allow.allows_ip(ip("fd00::9")) && !allow.allows_ip(ip("10.21.0.1")));
        assert_eq!(AllowList::parse("").expect("empty"), AllowList::default());
        for bad in ["http://x", "a b", "10.0.0.0/40", "x_y"] {
            assert!(AllowList::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn production_refuses_every_internal_address_and_says_why() {
        let p = production();
        let e = p
            .check("hooks.example", &[ip("93.184.215.14"), ip("10.0.0.7")])
            .expect_err("one private address is enough");
        assert_eq!(e.addr, Some(ip("10.0.0.7")));
        assert_eq!(
            e.to_string(),
            "hooks.example resolves to 10.0.0.7, a private address"
        );
        let literal = p
            .check("169.254.169.254", &[ip("169.254.169.254")])
            .expect_err("metadata");
        assert_eq!(
            literal.to_string(),
            "169.254.169.254 is a link-local address (where cloud metadata services answer)"
        );
        let v6 = p.check("[::1]", &[ip("::1")]).expect_err("loopback");
        assert_eq!(v6.to_string(), "::1 is a loopback address");
        assert!(p.check("127.0.0.1", &[ip("127.0.0.1")]).is_err());
        assert!(p.check("hooks.example", &[ip("93.184.215.14")]).is_ok());
    }

    #[test]
    fn a_name_that_resolves_to_nothing_is_refused() {
        let e = production()
            .check("nowhere.example", &[])
            .expect_err("empty");
        assert_eq!(e.to_string(), "nowhere.example resolves to no address");
    }

    #[test]
    fn the_embedded_setting_allows_loopback_and_nothing_else_internal() {
        let p = Policy {
            allow: AllowList::default(),
            allow_loopback: true,
        };
        assert!(p.check("localhost", &[ip("127.0.0.1"), ip("::1")]).is_ok());
        assert!(p.check("127.0.0.1", &[ip("::ffff:127.0.0.1")]).is_ok());
        assert!(p.check("x", &[ip("10.0.0.7")]).is_err());
        assert!(p.check("x", &[ip("169.254.169.254")]).is_err());
        assert!(p.check("x", &[ip("0.0.0.0")]).is_err());
    }

    #[test]
    fn the_allow_list_lets_a_named_host_or_a_network_through() {
        let p = Policy {
            allow: AllowList::parse("hooks.internal,10.20.0.0/16").expect("allow"),
            allow_loopback: false,
        };
        assert!(p.allows_host("hooks.internal"));
        assert!(p.check("hooks.internal", &[ip("10.0.0.7")]).is_ok());
        assert!(p.check("other.internal", &[ip("10.20.0.9")]).is_ok());
        let e = p
            .check("other.internal", &[ip("10.20.0.9"), ip("10.0.0.7")])
            .expect_err("one address outside the network");
        assert_eq!(e.addr, Some(ip("10.0.0.7")));
        let with = p.clone();
        let with = Policy {
            allow: with
                .allow
                .with_network(Network::parse("127.0.0.1").expect("net")),
            ..with
        };
        assert!(with.check("127.0.0.1", &[ip("127.0.0.1")]).is_ok());
        assert!(with.check("127.0.0.2", &[ip("127.0.0.2")]).is_err());
    }

    #[test]
    fn literal_hosts_read_as_their_address() {
        assert_eq!(host_ip("10.0.0.7"), Some(ip("10.0.0.7")));
        assert_eq!(host_ip("[fe80::1]"), Some(ip("fe80::1")));
        assert_eq!(host_ip("hooks.example"), None);
    }
}
