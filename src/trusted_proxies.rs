//! The proxies whose `X-Forwarded-For` header tokend believes (`TOKEND_TRUSTED_PROXIES`, contract
//! section 8). A plain setting type: `config` parses it at start, `http::client_ip` walks the
//! header with it. It lives below both so the settings never import the HTTP layer.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks whose `X-Forwarded-For` header is believed (`TOKEND_TRUSTED_PROXIES`); empty means
/// "believe nobody", which is the safe default for a server reached directly.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses the comma-separated configuration value so that a typo fails start-up instead of
    /// silently trusting the wrong hosts. Accepts CIDRs and single addresses; IPv4-mapped IPv6 is
    /// stored as IPv4 so it matches the normalised addresses we compare against.
    pub fn parse(csv: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for raw in csv.split(',') {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            nets.push(parse_net(entry).ok_or_else(|| {
                format!("trusted proxy entry {entry:?} is not an IP address or CIDR")
            })?);
        }
        Ok(Self(nets))
    }

    /// Tells whether a hop is one of ours, so its `X-Forwarded-For` may be believed.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

fn parse_net(entry: &str) -> Option<IpNet> {
    let net = match entry.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(entry.parse::<IpAddr>().ok()?),
    };
    let net = net.trunc();
    Some(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok()?,
            None => net,
        },
        _ => net,
    })
}

/// Maps `::ffff:a.b.c.d` to `a.b.c.d`: dual-stack sockets report IPv4 clients that way, and they
/// must be limited and allowlisted as the IPv4 address they are (Go CVE-2024-24790).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_accepts_cidrs_addresses_and_empty() {
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        assert!(TrustedProxies::parse(" , ").unwrap().0.is_empty());
        let p = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1 ,2001:db8:ffff::/48").unwrap();
        assert!(p.contains(ip("10.1.2.3")));
        assert!(p.contains(ip("192.168.1.1")));
        assert!(!p.contains(ip("192.168.1.2")));
        assert!(p.contains(ip("2001:db8:ffff::7")));
        assert!(TrustedProxies::parse("10.0.0.0/8,nope").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
