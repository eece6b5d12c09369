//! A service token's IP allowlist (contract section 5, `allowed_ips`): strict parsing of what the
//! creator typed, the canonical form stored and shown back, and the check made on every use.
//!
//! Parsing is strict on purpose: leading zeros (`010.0.0.1`, read as octal by some parsers,
//! CVE-2021-29922) and CIDRs with host bits set (`203.0.113.5/24`, usually a mistake about what is
//! being allowed) are refused with a message that says what to write instead.

use std::net::IpAddr;

use ipnet::IpNet;

/// Upper bound on entries, so one token cannot make every request walk a huge list.
pub const MAX_ALLOWLIST_ENTRIES: usize = 100;

/// Why an `allowed_ips` entry was refused; the entry is echoed back so the creator can find it
/// (it is an address, never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_ips entry {entry:?}: {reason}")]
pub struct AllowlistError {
    /// The entry as given.
    pub entry: String,
    /// A human sentence saying what is wrong and, where possible, what was meant.
    pub reason: String,
}

impl AllowlistError {
    fn new(entry: &str, reason: impl Into<String>) -> Self {
        Self {
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The networks a service token may be used from. IPv4-mapped IPv6 entries are stored as IPv4,
/// so each network has exactly one spelling and matching never depends on the socket family.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct IpAllowlist(Vec<IpNet>);

/// Validates and normalises the creator's list. Entries are trimmed of surrounding whitespace;
/// duplicates are kept as given (harmless, and the creator sees what they sent).
pub fn parse(entries: &[String]) -> Result<IpAllowlist, AllowlistError> {
    if let Some(extra) = entries.get(MAX_ALLOWLIST_ENTRIES) {
        return Err(AllowlistError::new(
            extra,
            format!("at most {MAX_ALLOWLIST_ENTRIES} entries are allowed"),
        ));
    }
    entries
        .iter()
        .map(|entry| parse_entry(entry))
        .collect::<Result<Vec<_>, _>>()
        .map(IpAllowlist)
}

fn parse_entry(raw: &str) -> Result<IpNet, AllowlistError> {
    let entry = raw.trim();
    if entry.is_empty() {
        return Err(AllowlistError::new(raw, "an entry must not be empty"));
    }
    let (addr_text, prefix_text) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    if has_leading_zero_octet(addr_text) {
        return Err(AllowlistError::new(
            raw,
            "IPv4 octets must not have leading zeros",
        ));
    }
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| AllowlistError::new(raw, "not an IP address or CIDR"))?;
    let max_len: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match prefix_text {
        None => max_len,
        Some(text) => parse_prefix_len(text)
            .filter(|len| *len <= max_len)
            .ok_or_else(|| {
                AllowlistError::new(
                    raw,
                    format!("the prefix length must be a whole number from 0 to {max_len}"),
                )
            })?,
    };
    let net = IpNet::new(addr, prefix_len)
        .map_err(|_| AllowlistError::new(raw, "invalid prefix length"))?;
    let network = net.trunc();
    if network != net {
        return Err(AllowlistError::new(
            raw,
            format!("host bits are set; did you mean {network}?"),
        ));
    }
    Ok(unmap(network))
}

/// Decimal digits only, no sign, no leading zeros, so `/08` or `/+8` cannot sneak through.
fn parse_prefix_len(text: &str) -> Option<u8> {
    let well_formed = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    if well_formed {
        text.parse().ok()
    } else {
        None
    }
}

/// Checks the dotted-quad part (a whole IPv4 address, or the tail of `::ffff:a.b.c.d`).
fn has_leading_zero_octet(addr: &str) -> bool {
    let dotted = addr.rsplit(':').next().unwrap_or(addr);
    dotted.contains('.')
        && dotted
            .split('.')
            .any(|octet| octet.len() > 1 && octet.starts_with('0'))
}

/// `::ffff:a.b.c.d/n` (n >= 96) becomes `a.b.c.d/(n-96)`. A mapped network with a shorter prefix
/// cannot reach here: it would have host bits set.
fn unmap(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), Some(len)) = (
            v6.network().to_ipv4_mapped(),
            v6.prefix_len().checked_sub(96),
        ) {
            if let Ok(mapped) = IpNet::new(IpAddr::V4(v4), len) {
                return mapped;
            }
        }
    }
    net
}

impl IpAllowlist {
    /// An empty list means "no restriction", which callers show as `"allowed_ips": []`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decides whether a request from `ip` may use the token. An IPv4-mapped IPv6 client address
    /// (what a dual-stack socket reports for an IPv4 client) is matched as the IPv4 address it is,
    /// against IPv4 entries only: an IPv6 entry such as `::/0` or `2001:db8::/32` does not admit it.
    /// We chose this because entries are normalised the same way, so an IPv4 client is allowed by
    /// exactly the entries that would allow it on an IPv4-only socket, whatever the socket family
    /// (Hono GHSA-xpcf-pg52-r92g).
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The canonical spelling stored and returned in API responses; single hosts are printed as
    /// plain addresses, the way creators usually write them, and parse back to the same list.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|net| {
                if net.prefix_len() == net.max_prefix_len() {
                    net.addr().to_string()
                } else {
                    net.to_string()
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Result<IpAllowlist, AllowlistError> {
        parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn accepts_hosts_and_cidrs_and_prints_canonically() {
        let l = list(&[
            "203.0.113.0/24",
            "2001:db8::/32",
            "198.51.100.7",
            "2001:db8::1",
            "0.0.0.0/0",
        ])
        .unwrap();
        assert_eq!(
            l.to_strings(),
            [
                "203.0.113.0/24",
                "2001:db8::/32",
                "198.51.100.7",
                "2001:db8::1",
                "0.0.0.0/0"
            ]
        );
        assert_eq!(
            list(&["198.51.100.7/32", "2001:db8::1/128"])
                .unwrap()
                .to_strings(),
            ["198.51.100.7", "2001:db8::1"]
        );
        assert_eq!(
            list(&[" 10.0.0.0/8 "]).unwrap().to_strings(),
            ["10.0.0.0/8"]
        );
        let round_trip: Vec<String> = l.to_strings();
        assert_eq!(parse(&round_trip).unwrap(), l);
    }

    #[test]
    fn rejects_garbage_and_empty() {
        for bad in [
            "",
            "  ",
            "nope",
            "1.2.3",
            "1.2.3.4.5",
            "256.0.0.1",
            "1.2.3.4/",
            "/8",
            "fe80::1%eth0",
        ] {
            let err = list(&[bad]).unwrap_err();
            assert_eq!(err.entry, bad);
        }
    }

    #[test]
    fn rejects_leading_zeros() {
        for bad in [
            "010.0.0.1",
            "10.0.0.01/8",
            "::ffff:010.0.0.1",
            "10.0.0.0/08",
        ] {
            assert!(list(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_host_bits_and_suggests_network() {
        let err = list(&["203.0.113.5/24"]).unwrap_err();
        assert_eq!(err.entry, "203.0.113.5/24");
        assert!(err.reason.contains("203.0.113.0/24"), "{}", err.reason);
        assert!(err.to_string().contains("203.0.113.5/24"));
        assert!(list(&["2001:db8::1/32"])
            .unwrap_err()
            .reason
            .contains("2001:db8::/32"));
    }

    #[test]
    fn rejects_prefix_out_of_range() {
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/999",
        ] {
            assert!(list(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_more_than_the_maximum() {
        let many: Vec<String> = (0..=MAX_ALLOWLIST_ENTRIES)
            .map(|i| format!("10.0.{i}.1"))
            .collect();
        let err = parse(&many).unwrap_err();
        assert_eq!(err.entry, "10.0.100.1");
        assert!(parse(&many[..MAX_ALLOWLIST_ENTRIES]).is_ok());
    }

    #[test]
    fn mapped_entries_become_ipv4() {
        let l = list(&["::ffff:1.2.3.4", "::ffff:1.2.3.0/120"]).unwrap();
        assert_eq!(l.to_strings(), ["1.2.3.4", "1.2.3.0/24"]);
        assert!(l.allows(ip("1.2.3.200")));
    }

    #[test]
    fn empty_list_allows_everything() {
        let l = list(&[]).unwrap();
        assert!(l.is_empty());
        assert!(l.allows(ip("8.8.8.8")));
        assert!(l.allows(ip("2001:db8::1")));
    }

    #[test]
    fn allows_matches_mapped_clients_as_ipv4() {
        let v4 = list(&["203.0.113.0/24"]).unwrap();
        assert!(v4.allows(ip("203.0.113.9")));
        assert!(v4.allows(ip("::ffff:203.0.113.9")));
        assert!(!v4.allows(ip("203.0.114.9")));
        let v6 = list(&["2001:db8::/32"]).unwrap();
        assert!(v6.allows(ip("2001:db8:1::1")));
        assert!(!v6.allows(ip("::ffff:203.0.113.9")));
        let any_v6 = list(&["::/0"]).unwrap();
        assert!(!any_v6.allows(ip("::ffff:10.0.0.1")));
        assert!(!any_v6.allows(ip("10.0.0.1")));
        assert!(any_v6.allows(ip("2001:db8::5")));
    }
}
