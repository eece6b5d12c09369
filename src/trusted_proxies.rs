//! The proxies whose `X-Forwarded-For` header tokend believes (`TOKEND_TRUSTED_PROXIES`, contract
//! section 8). A plain setting type: `config` parses it at start, `http::client_ip` resolves the
//! client with it. It is `tokend-verify`'s type, so tokend and the resource APIs built on that
//! crate apply one rule (IPv4-mapped IPv6 as IPv4, host bits refused, the right-most untrusted
//! hop), written once.

pub use tokend_verify::TrustedProxies;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_accepts_cidrs_addresses_and_empty() {
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
        assert_eq!(
            TrustedProxies::parse(" , ").unwrap(),
            TrustedProxies::default()
        );
        let p = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1 ,2001:db8:ffff::/48").unwrap();
        assert!(p.contains(ip("10.1.2.3")));
        assert!(p.contains(ip("192.168.1.1")));
        assert!(!p.contains(ip("192.168.1.2")));
        assert!(p.contains(ip("2001:db8:ffff::7")));
        assert!(
            p.contains(ip("::ffff:10.1.1.1")),
            "mapped addresses are IPv4"
        );
        assert!(TrustedProxies::parse("10.0.0.0/8,nope").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
