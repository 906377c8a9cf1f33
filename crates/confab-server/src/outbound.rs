//! The guarded HTTP client of outbound requests (webhooks, the LLM pass). A team's admin chooses
//! where webhooks go, so without a guard a shared server would post to the operator's own
//! network: the cloud metadata service, a database's admin port, localhost. Every address a
//! request may connect to is checked — a URL's literal address before sending, a host name's
//! addresses by the client's own resolver, which hands the connector only the addresses that
//! passed. The connection therefore goes to an address that was checked, whatever the DNS
//! answers the next time (rebinding). Redirects are never followed, and no proxy is used
//! (through one, the proxy would resolve the name, unchecked). The operator's
//! `--allow-private-targets` turns the guard off, for single-team self-hosting and local
//! receivers.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an outbound request was not made: its target is not a public address. Its text is what
/// a failed delivery records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl Refused {
    fn address(ip: IpAddr, kind: &str) -> Refused {
        Refused(format!("refused: resolves to {} {kind} address {ip}", article(kind)))
    }

    /// The first refusal among the causes of a failed request, if it failed for that.
    pub fn find<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refused> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if let Some(refused) = c.downcast_ref::<Refused>() {
                return Some(refused);
            }
            cause = c.source();
        }
        None
    }
}

fn article(kind: &str) -> &'static str {
    match kind.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

/// What kind of non-public address `ip` is — `loopback`, `private`, `link-local` … — or `None`
/// for a public one. IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`, the old
/// compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) are judged by it.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_broadcast() => "broadcast",
        (0, ..) => "unspecified",
        (127, ..) => "loopback",
        (10, ..) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (CGNAT)",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved",
        (192, 0, 0) => "reserved",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        _ => return None,
    };
    Some(kind)
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    // `::a.b.c.d` (deprecated IPv4-compatible) and NAT64's well-known prefix `64:ff9b::/96`.
    if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(embedded(s[6], s[7]));
    }
    // 6to4 `2002:V4::/48`.
    if s[0] == 0x2002 {
        return non_public_v4(embedded(s[1], s[2]));
    }
    let kind = match s[0] {
        0xff00..=0xffff => "multicast",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xfc00..=0xfdff => "private (unique-local)",
        // NAT64 for local use (64:ff9b:1::/48), documentation (2001:db8::/32, 3fff::/20),
        // Teredo and other IETF assignments in 2001::/23.
        0x64 if s[1] == 0xff9b => "private (local NAT64)",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x2001 if s[1] < 0x0200 => "reserved",
        0x3fff if s[1] < 0x1000 => "documentation",
        // Global unicast is 2000::/3; everything else is unassigned or special.
        0x2000..=0x3fff => return None,
        _ => "reserved",
    };
    Some(kind)
}

/// Checks an address a request would connect to.
pub fn check(ip: IpAddr) -> Result<(), Refused> {
    match non_public(ip) {
        Some(kind) => Err(Refused::address(ip, kind)),
        None => Ok(()),
    }
}

/// The public ones of `addrs`, or the refusal of the first when none is.
fn keep_public(addrs: impl IntoIterator<Item = SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
    let mut first_refused = None;
    let mut public = vec![];
    for addr in addrs {
        match check(addr.ip()) {
            Ok(()) => public.push(addr),
            Err(e) => {
                first_refused.get_or_insert(e);
            }
        }
    }
    match (public.is_empty(), first_refused) {
        (true, Some(e)) => Err(e),
        _ => Ok(public),
    }
}

/// The client's resolver: the system's, keeping only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public = keep_public(found)?;
            if public.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// A client for outbound requests: redirects are answers, never followed, and unless
/// `allow_private_targets`, only public addresses are connected to (and no proxy is used).
/// Callers add their timeout and agent; each request's URL still goes through [`check_url`]
/// (a literal address is never handed to the resolver).
pub fn client_builder(allow_private_targets: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    match allow_private_targets {
        true => builder,
        false => builder.dns_resolver(Arc::new(PublicOnly)).no_proxy(),
    }
}

/// Checks a URL's host when it is a literal address (names are checked as they resolve).
pub fn check_url(url: &str, allow_private_targets: bool) -> Result<(), Refused> {
    if allow_private_targets {
        return Ok(());
    }
    match reqwest::Url::parse(url).ok().as_ref().and_then(|u| u.host()) {
        Some(url::Host::Ipv4(ip)) => check(ip.into()),
        Some(url::Host::Ipv6(ip)) => check(ip.into()),
        _ => Ok(()),
    }
}

/// How long subscribing waits for a webhook host's addresses; past it the subscription is taken
/// (its deliveries are checked anyway).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks a target as it is subscribed: a literal non-public address, or a name whose every
/// address is non-public, is refused. A name that does not resolve (yet) is taken: each
/// delivery is checked when it is sent.
pub async fn check_target(url: &str, allow_private_targets: bool) -> Result<(), Refused> {
    check_url(url, allow_private_targets)?;
    if allow_private_targets {
        return Ok(());
    }
    let Some(parsed) = reqwest::Url::parse(url).ok() else { return Ok(()) };
    let Some(url::Host::Domain(host)) = parsed.host() else { return Ok(()) };
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(found)) => keep_public(found).map(|_| ()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.trim_start_matches('[').trim_end_matches(']').parse().unwrap()
    }

    #[test]
    fn addresses_that_are_not_public_are_named() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.254", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.2.7", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("[::1]", "loopback"),
            ("[::]", "unspecified"),
            ("[::ffff:127.0.0.1]", "loopback"),
            ("[::ffff:10.0.0.5]", "private"),
            ("[::ffff:169.254.169.254]", "link-local"),
            ("[::127.0.0.1]", "loopback"),
            ("[64:ff9b::a9fe:a9fe]", "link-local"),
            ("[64:ff9b:1::1]", "private (local NAT64)"),
            ("[2002:7f00:1::]", "loopback"),
            ("[fe80::1]", "link-local"),
            ("[fc00::1]", "private (unique-local)"),
            ("[fd12:3456::1]", "private (unique-local)"),
            ("[fec0::1]", "site-local"),
            ("[ff02::1]", "multicast"),
            ("[2001:db8::1]", "documentation"),
            ("[2001::1]", "reserved"),
            ("[100::1]", "reserved"),
        ] {
            assert_eq!(non_public(ip(addr)), Some(kind), "{addr}");
            assert!(check(ip(addr)).unwrap_err().0.starts_with("refused: resolves to "), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "[2001:4860:4860::8888]",
            "[2606:4700:4700::1111]",
            "[::ffff:8.8.8.8]",
            "[64:ff9b::808:808]",
            "[2002:808:808::1]",
        ] {
            assert_eq!(non_public(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn the_refusal_names_the_address() {
        assert_eq!(
            check(ip("10.0.0.5")).unwrap_err().0,
            "refused: resolves to a private address 10.0.0.5"
        );
        assert_eq!(
            check(ip("[::1]")).unwrap_err().0,
            "refused: resolves to a loopback address ::1"
        );
    }

    #[test]
    fn literal_addresses_in_urls_are_checked_in_every_spelling() {
        for url in [
            "http://127.0.0.1/x",
            "http://[::1]:8080/x",
            "http://[::ffff:127.0.0.1]/x",
            "https://169.254.169.254/latest/meta-data",
            // The URL parser reads these as 127.0.0.1, as a browser or curl would.
            "http://2130706433/x",
            "http://0x7f.1/x",
            "http://127.1/x",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("https://8.8.8.8/x", false).is_ok());
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_loopback_is_refused() {
        let e = check_target("http://localhost:9/hook", false).await.unwrap_err();
        assert!(e.0.contains("loopback"), "{e}");
        assert!(check_target("http://localhost:9/hook", true).await.is_ok());
        let e = PublicOnly.resolve("localhost".parse().unwrap()).await.err().unwrap();
        assert!(Refused::find(&*e).is_some_and(|r| r.0.contains("loopback")), "{e}");
    }
}
