//! Which address a request comes from (contract section 8): the TCP peer, or, when that peer is a
//! configured trusted proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted
//! proxy. Rate limits and service-token allowlists key on this address, so a client must never be
//! able to choose it by sending a header (CVE-2020-35590, CVE-2023-27100).

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::trusted_proxies::TrustedProxies;

/// Returns the address rate limits and allowlists should see. A peer we do not trust gets no say
/// in it; behind trusted proxies the header is walked from the right (the entries our own proxies
/// appended) to the first hop that is not ours. The rule itself lives in `tokend-verify`, so
/// tokend and the resource APIs built on it can never disagree about who the client is.
pub fn resolve_client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    trusted.client_ip(peer, headers)
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

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse("10.0.0.0/8, 192.168.1.1 ,2001:db8:ffff::/48").unwrap()
    }

    #[test]
    fn untrusted_peer_ignores_spoofed_header() {
        let headers = xff(&["1.1.1.1"]);
        let got = resolve_client_ip(ip("203.0.113.9"), &headers, &proxies());
        assert_eq!(got, ip("203.0.113.9"));
        let got = resolve_client_ip(ip("203.0.113.9"), &headers, &TrustedProxies::default());
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn trusted_peer_picks_rightmost_untrusted() {
        let headers = xff(&["6.6.6.6, 203.0.113.9"]);
        let got = resolve_client_ip(ip("10.0.0.2"), &headers, &proxies());
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn chain_of_trusted_proxies_is_skipped() {
        let headers = xff(&["6.6.6.6, 203.0.113.9, 192.168.1.1", "10.9.9.9"]);
        let got = resolve_client_ip(ip("10.0.0.2"), &headers, &proxies());
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn all_trusted_returns_leftmost() {
        let headers = xff(&["10.0.0.7, 192.168.1.1"]);
        let got = resolve_client_ip(ip("10.0.0.2"), &headers, &proxies());
        assert_eq!(got, ip("10.0.0.7"));
        // No header at all: the proxy itself is the client.
        let got = resolve_client_ip(ip("10.0.0.2"), &HeaderMap::new(), &proxies());
        assert_eq!(got, ip("10.0.0.2"));
    }

    #[test]
    fn garbage_entry_stops_at_last_trusted_hop() {
        let headers = xff(&["1.1.1.1, evil, 10.0.0.5"]);
        let got = resolve_client_ip(ip("10.0.0.2"), &headers, &proxies());
        assert_eq!(got, ip("10.0.0.5"));
        let headers = xff(&["not-an-ip"]);
        let got = resolve_client_ip(ip("10.0.0.2"), &headers, &proxies());
        assert_eq!(got, ip("10.0.0.2"));
    }

    #[test]
    fn ports_and_brackets_are_stripped() {
        let headers = xff(&["1.2.3.4:5678"]);
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), &headers, &proxies()),
            ip("1.2.3.4")
        );
        let headers = xff(&["[2001:db8::1]:443"]);
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), &headers, &proxies()),
            ip("2001:db8::1")
        );
        let headers = xff(&["[2001:db8::2]"]);
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), &headers, &proxies()),
            ip("2001:db8::2")
        );
    }

    #[test]
    fn mapped_addresses_are_treated_as_ipv4() {
        let p = TrustedProxies::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(p.contains(ip("10.4.5.6")));
        assert!(proxies().contains(ip("::ffff:10.1.1.1")));
        // Mapped peer is trusted as its IPv4 self; mapped entry comes back as IPv4.
        let headers = xff(&["::ffff:203.0.113.9, ::ffff:10.0.0.3"]);
        let got = resolve_client_ip(ip("::ffff:10.0.0.2"), &headers, &proxies());
        assert_eq!(got, ip("203.0.113.9"));
        // Untrusted mapped peer is still normalised.
        let got = resolve_client_ip(ip("::ffff:8.8.8.8"), &headers, &proxies());
        assert_eq!(got, ip("8.8.8.8"));
    }
}
