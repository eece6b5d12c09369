//! The client address a service token's allowlist is checked against (feature `axum`), by
//! tokend's rule (contract section 8): the TCP peer, or, when the peer is a configured trusted
//! proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. A client
//! must never choose its address by sending a header (CVE-2020-35590, CVE-2023-27100).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed; empty (the default) believes nobody, which
/// is right for a server reached directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDRs (the form of tokend's
    /// `TOKEND_TRUSTED_PROXIES`).
    ///
    /// # Errors
    /// The entry that is neither, so a typo stops the start instead of trusting the wrong hosts.
    pub fn parse(csv: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in csv.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = parse_net(entry)
                .ok_or_else(|| format!("{entry:?} is not an IP address or CIDR"))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers`.
    ///
    /// Behind trusted proxies the header is walked from the right (the entries our proxies
    /// appended) to the first hop that is not ours; everything left of it is whatever the client
    /// sent. An unparsable entry ends the walk at the last trusted hop.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let mut last_trusted = peer;
        for value in headers.get_all("x-forwarded-for").iter().rev() {
            let Ok(text) = value.to_str() else {
                return last_trusted;
            };
            for entry in text.rsplit(',').filter(|e| !e.trim().is_empty()) {
                let Some(ip) = parse_forwarded_entry(entry) else {
                    return last_trusted;
                };
                if !self.contains(ip) {
                    return ip;
                }
                last_trusted = ip;
            }
        }
        last_trusted
    }
}

/// Whether `client` may use a token with this allowlist: empty means any address; entries that
/// do not parse admit nobody. IPv4-mapped IPv6 is matched as the IPv4 address it is, and an
/// IPv6 entry never admits an IPv4 client.
pub(crate) fn allowed(allowlist: &[String], client: Option<IpAddr>) -> bool {
    if allowlist.is_empty() {
        return true;
    }
    let Some(client) = client else {
        return false;
    };
    let ip = canonical(client);
    allowlist
        .iter()
        .filter_map(|entry| parse_net(entry.trim()))
        .any(|net| net.contains(&ip))
}

/// An address or CIDR, host bits cleared, IPv4-mapped networks stored as IPv4.
fn parse_net(entry: &str) -> Option<IpNet> {
    let net = match entry.parse::<IpNet>() {
        Ok(net) => net.trunc(),
        Err(_) => IpNet::from(canonical(entry.parse::<IpAddr>().ok()?)),
    };
    Some(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok()?,
            None => net,
        },
        _ => net,
    })
}

/// One `X-Forwarded-For` entry, tolerating appended ports and brackets.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = entry.parse::<SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<IpAddr>().ok().map(canonical)
}

/// `::ffff:a.b.c.d` as `a.b.c.d`: dual-stack sockets report IPv4 clients that way.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    fn at(s: &str) -> Option<IpAddr> {
        Some(ip(s))
    }

    #[test]
    fn client_ip_follows_tokends_rule() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        let spoofed = xff(&["1.1.1.1"]);
        assert_eq!(
            proxies.client_ip(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        let chain = xff(&["6.6.6.6, 203.0.113.9, 192.168.1.1", "10.9.9.9"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &chain), ip("203.0.113.9"));
        assert_eq!(
            proxies.client_ip(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
        let garbage = xff(&["1.1.1.1, evil, 10.0.0.5"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.2"), &garbage), ip("10.0.0.5"));
        let port = xff(&["[2001:db8::1]:443"]);
        assert_eq!(
            proxies.client_ip(ip("::ffff:10.0.0.2"), &port),
            ip("2001:db8::1")
        );
        assert!(TrustedProxies::parse("10.0.0.0/8,nope").is_err());
        assert_eq!(
            TrustedProxies::parse(" , ").unwrap(),
            TrustedProxies::default()
        );
    }

    #[test]
    fn allowlists_match_addresses_and_networks() {
        let l = list(&["127.0.0.1", "203.0.113.0/24", "2001:db8::/32"]);
        assert!(allowed(&l, at("127.0.0.1")));
        assert!(allowed(&l, at("::ffff:203.0.113.77")));
        assert!(allowed(&l, at("2001:db8::5")));
        assert!(!allowed(&l, at("127.0.0.2")));
        assert!(!allowed(&l, None));
        assert!(allowed(&[], None));
        assert!(!allowed(&list(&["::/0"]), at("192.0.2.1")));
        assert!(!allowed(&list(&["not an address"]), at("192.0.2.1")));
        assert!(allowed(&list(&["::ffff:192.0.2.0/120"]), at("192.0.2.1")));
    }
}
