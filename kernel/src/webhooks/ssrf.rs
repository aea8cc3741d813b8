//! The SSRF guard: webhook endpoints are chosen by customers, so the hub
//! must never be talked into calling its own network (a cloud metadata
//! service at 169.254.169.254, an admin port on localhost, a database on
//! 10.x) on a customer's behalf.
//!
//! Two checks, because DNS answers change:
//! - **at registration** ([`check_target`]): scheme, no credentials in the
//!   URL, an IP literal classified directly, a host name resolved and
//!   refused when *any* of its addresses is not public;
//! - **at every delivery**: [`check_literal`] for IP literals (reqwest does
//!   not resolve those), and [`GuardedResolver`] — the HTTP client's only
//!   resolver — drops every non-public address it gets, so a name that was
//!   public at registration and now points inside (DNS rebinding) fails
//!   with a reason instead of connecting. The client also follows no
//!   redirects and uses no proxy (a proxy would resolve the name itself).
//!
//! `[webhooks] allow_private_targets = true` turns the address checks off
//! (a lab, the tests on loopback); the scheme checks stay.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why an address is not a public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    Loopback,
    Private,
    LinkLocal,
    Unspecified,
    Broadcast,
    SharedCgnat,
    Documentation,
    Multicast,
    Reserved,
}

impl Blocked {
    pub fn describe(self) -> &'static str {
        match self {
            Blocked::Loopback => "a loopback",
            Blocked::Private => "a private-network (RFC 1918 / fc00::/7)",
            Blocked::LinkLocal => "a link-local (169.254.0.0/16, fe80::/10; cloud metadata lives here)",
            Blocked::Unspecified => "an unspecified",
            Blocked::Broadcast => "a broadcast",
            Blocked::SharedCgnat => "a carrier-grade NAT (100.64.0.0/10)",
            Blocked::Documentation => "a documentation",
            Blocked::Multicast => "a multicast",
            Blocked::Reserved => "a reserved",
        }
    }
}

/// `None` for a public unicast address; otherwise why it is refused.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Blocked> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some(Blocked::Loopback)
    } else if ip.is_private() {
        Some(Blocked::Private)
    } else if ip.is_link_local() {
        Some(Blocked::LinkLocal)
    } else if a == 0 {
        // 0.0.0.0/8 "this network": 0.0.0.0 reaches the local host on Linux.
        Some(Blocked::Unspecified)
    } else if ip.is_broadcast() {
        Some(Blocked::Broadcast)
    } else if a == 100 && (64..128).contains(&b) {
        Some(Blocked::SharedCgnat)
    } else if ip.is_documentation() {
        Some(Blocked::Documentation)
    } else if ip.is_multicast() {
        Some(Blocked::Multicast)
    } else if a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 198 && (b == 18 || b == 19)) {
        // 240/4 future use, 192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking
        Some(Blocked::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    let segments = ip.segments();
    if ip.is_loopback() {
        return Some(Blocked::Loopback);
    }
    if ip.is_unspecified() {
        return Some(Blocked::Unspecified);
    }
    // IPv4 inside IPv6 reaches the IPv4 address: judge that one.
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if ip.is_unique_local() {
        Some(Blocked::Private)
    } else if ip.is_unicast_link_local() || (segments[0] & 0xffc0) == 0xfec0 {
        // fe80::/10, and the deprecated site-local fec0::/10
        Some(Blocked::LinkLocal)
    } else if ip.is_multicast() {
        Some(Blocked::Multicast)
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 || segments[0] == 0x3fff && segments[1] < 0x1000 {
        // 2001:db8::/32 and 3fff::/20
        Some(Blocked::Documentation)
    } else if segments[0] == 0x0100 && segments[1..4] == [0, 0, 0] {
        // 100::/64 discard-only
        Some(Blocked::Reserved)
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:ab:cd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(mapped) = ip.to_ipv4_mapped() {
        Some(mapped)
    } else if s[..6] == [0, 0, 0, 0, 0, 0] || (s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]) {
        Some(tail)
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ))
    } else {
        None
    }
}

/// What the guard allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetPolicy {
    /// Private, loopback, link-local … addresses are allowed too.
    pub allow_private_targets: bool,
    /// `http://` is allowed besides `https://`.
    pub allow_insecure_http: bool,
}

/// Why an endpoint URL is refused; safe to show to the customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefused {
    #[error("the scheme `{0}` is not supported; use https://")]
    Scheme(String),
    #[error("plain http:// is not allowed on this hub; use https:// (operators: [webhooks] allow_insecure_http)")]
    InsecureHttp,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL must not carry a user name or password; the signature authenticates the hub")]
    Credentials,
    #[error("{host} is {} address ({ip}); webhooks are sent to public addresses only", .reason.describe())]
    Address { host: String, ip: IpAddr, reason: Blocked },
    #[error("{host} does not resolve ({reason})")]
    Unresolvable { host: String, reason: String },
}

/// Registration-time check of an endpoint URL (may look the host up).
pub async fn check_target(url: &Url, policy: TargetPolicy) -> Result<(), TargetRefused> {
    check_literal(url, policy)?;
    let Some(Host::Domain(domain)) = url.host() else {
        return Ok(());
    };
    if policy.allow_private_targets {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
        .await
        .map_err(|error| TargetRefused::Unresolvable {
            host: domain.to_owned(),
            reason: error.to_string(),
        })?
        .collect();
    if addresses.is_empty() {
        return Err(TargetRefused::Unresolvable {
            host: domain.to_owned(),
            reason: "no addresses".to_owned(),
        });
    }
    for address in addresses {
        if let Some(reason) = classify(address.ip()) {
            return Err(TargetRefused::Address {
                host: domain.to_owned(),
                ip: address.ip(),
                reason,
            });
        }
    }
    Ok(())
}

/// The checks that need no lookup: scheme, credentials, IP literals.
/// Run before every delivery too (reqwest does not resolve IP literals).
pub fn check_literal(url: &Url, policy: TargetPolicy) -> Result<(), TargetRefused> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_insecure_http => {}
        "http" => return Err(TargetRefused::InsecureHttp),
        other => return Err(TargetRefused::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetRefused::Credentials);
    }
    let ip = match url.host() {
        None => return Err(TargetRefused::NoHost),
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    match classify(ip) {
        Some(reason) if !policy.allow_private_targets => Err(TargetRefused::Address {
            host: ip.to_string(),
            ip,
            reason,
        }),
        _ => Ok(()),
    }
}

/// The delivery client's resolver: the system's answers minus every
/// non-public address (unless private targets are allowed).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private_targets: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private_targets;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let first_blocked = resolved.iter().find_map(|a| classify(a.ip()).map(|r| (a.ip(), r)));
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| allow_private || classify(address.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = match first_blocked {
                    Some((ip, reason)) => Box::new(TargetRefused::Address { host, ip, reason }),
                    None => Box::new(TargetRefused::Unresolvable {
                        host,
                        reason: "no addresses".to_owned(),
                    }),
                };
                return Err(error);
            }
            let addresses: Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(text: &str) -> Option<Blocked> {
        classify(text.parse().unwrap())
    }

    #[test]
    fn ipv4_classification() {
        for (ip, expected) in [
            ("127.0.0.1", Some(Blocked::Loopback)),
            ("127.255.0.9", Some(Blocked::Loopback)),
            ("10.0.0.1", Some(Blocked::Private)),
            ("172.16.5.4", Some(Blocked::Private)),
            ("172.31.255.255", Some(Blocked::Private)),
            ("192.168.1.1", Some(Blocked::Private)),
            ("169.254.169.254", Some(Blocked::LinkLocal)),
            ("0.0.0.0", Some(Blocked::Unspecified)),
            ("0.1.2.3", Some(Blocked::Unspecified)),
            ("255.255.255.255", Some(Blocked::Broadcast)),
            ("100.64.0.1", Some(Blocked::SharedCgnat)),
            ("100.127.255.255", Some(Blocked::SharedCgnat)),
            ("192.0.2.7", Some(Blocked::Documentation)),
            ("198.51.100.7", Some(Blocked::Documentation)),
            ("203.0.113.7", Some(Blocked::Documentation)),
            ("224.0.0.1", Some(Blocked::Multicast)),
            ("240.0.0.1", Some(Blocked::Reserved)),
            ("198.18.0.1", Some(Blocked::Reserved)),
            ("192.0.0.8", Some(Blocked::Reserved)),
            // public neighbours of the blocked ranges
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("100.63.255.255", None),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("169.255.0.1", None),
        ] {
            assert_eq!(blocked(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_classification() {
        for (ip, expected) in [
            ("::1", Some(Blocked::Loopback)),
            ("::", Some(Blocked::Unspecified)),
            ("fc00::1", Some(Blocked::Private)),
            ("fd12:3456::1", Some(Blocked::Private)),
            ("fe80::1", Some(Blocked::LinkLocal)),
            ("febf::1", Some(Blocked::LinkLocal)),
            ("fec0::1", Some(Blocked::LinkLocal)),
            ("ff02::1", Some(Blocked::Multicast)),
            ("2001:db8::1", Some(Blocked::Documentation)),
            // IPv4 carried inside IPv6 is judged as IPv4
            ("::ffff:127.0.0.1", Some(Blocked::Loopback)),
            ("::ffff:169.254.169.254", Some(Blocked::LinkLocal)),
            ("::10.0.0.1", Some(Blocked::Private)),
            ("64:ff9b::10.1.2.3", Some(Blocked::Private)),
            ("2002:a00:1::", Some(Blocked::Private)),
            ("::ffff:8.8.8.8", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:800::200e", None),
        ] {
            assert_eq!(blocked(ip), expected, "{ip}");
        }
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn literals_and_schemes() {
        let strict = TargetPolicy::default();
        let lab = TargetPolicy {
            allow_private_targets: true,
            allow_insecure_http: true,
        };
        assert_eq!(check_literal(&url("https://hooks.example.com/x"), strict), Ok(()));
        assert_eq!(
            check_literal(&url("http://hooks.example.com/x"), strict),
            Err(TargetRefused::InsecureHttp)
        );
        assert_eq!(
            check_literal(&url("ftp://hooks.example.com/x"), lab),
            Err(TargetRefused::Scheme("ftp".into()))
        );
        assert_eq!(
            check_literal(&url("https://u:p@hooks.example.com/"), lab),
            Err(TargetRefused::Credentials)
        );
        // Odd spellings of loopback are normalised by the URL parser first.
        for odd in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://[::ffff:7f00:1]/",
        ] {
            let refused = check_literal(&url(odd), strict).unwrap_err();
            assert!(
                matches!(
                    refused,
                    TargetRefused::Address {
                        reason: Blocked::Loopback,
                        ..
                    }
                ),
                "{odd}: {refused:?}"
            );
        }
        assert_eq!(check_literal(&url("http://127.0.0.1:9/"), lab), Ok(()));
        let message = check_literal(&url("https://169.254.169.254/latest"), strict)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("169.254.169.254") && message.contains("link-local"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused() {
        let strict = TargetPolicy {
            allow_insecure_http: true,
            ..TargetPolicy::default()
        };
        let refused = check_target(&url("http://localhost:8080/"), strict).await.unwrap_err();
        assert!(
            matches!(
                refused,
                TargetRefused::Address {
                    reason: Blocked::Loopback,
                    ..
                }
            ),
            "{refused:?}"
        );
        let resolver = GuardedResolver {
            allow_private_targets: false,
        };
        let error = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved through the guard"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("loopback"), "{error}");
        let open = GuardedResolver {
            allow_private_targets: true,
        };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
