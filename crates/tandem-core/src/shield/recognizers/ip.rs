//! IP_ADDRESS: IPv4 and IPv6 addresses that identify a host.

use super::lazy_regex;
use crate::shield::context::{before, char_after, char_before, contains_word};
use crate::shield::{Recognizer, Span};
use std::net::{Ipv4Addr, Ipv6Addr};
use tandem_protocol::EntityKind;

/// Finds IP addresses.
///
/// Loopback, unspecified and broadcast addresses and netmasks identify
/// nobody and are skipped, as are dotted version numbers ("v1.2.3.4",
/// "version 10.0.0.1" or a fifth component).
#[derive(Debug, Clone, Copy, Default)]
pub struct IpRecognizer;

lazy_regex!(V4 = r"\b\d{1,3}(?:\.\d{1,3}){3}\b");
lazy_regex!(V6 = r"(?i)(?:[0-9a-f]{1,4}:|::?)(?:[0-9a-f]{0,4}:){1,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4})?");

const VERSION_WORDS: &[&str] = &[
    "version", "ver", "release", "build", "firmware", "v", "subnet", "netmask", "mask",
];

impl Recognizer for IpRecognizer {
    fn name(&self) -> &'static str {
        "ip"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::IpAddress]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        for m in V4.find_iter(text) {
            let range = m.range();
            let dotted_on = |c: Option<char>| c.is_some_and(|c| c == '.' || c.is_ascii_alphanumeric());
            if dotted_on(char_before(text, &range))
                || char_after(text, &range)
                    .is_some_and(|c| c == '.' && text[range.end + 1..].starts_with(|d: char| d.is_ascii_digit()))
            {
                continue;
            }
            let Ok(ip) = m.as_str().parse::<Ipv4Addr>() else {
                continue;
            };
            if ip.is_loopback() || ip.is_unspecified() || ip.is_broadcast() || is_netmask(ip) {
                continue;
            }
            if contains_word(tail_words(before(text, &range, 16)), VERSION_WORDS) {
                continue;
            }
            out.push(Span::new(EntityKind::IpAddress, range, 0.85, self.name()));
        }
        for m in V6.find_iter(text) {
            let range = m.range();
            if char_before(text, &range).is_some_and(|c| c.is_ascii_hexdigit() || c == ':' || c == '_')
                || char_after(text, &range).is_some_and(|c| c.is_alphanumeric() || c == ':')
            {
                continue;
            }
            // An embedded IPv4 tail stands for two groups.
            let groups =
                m.as_str().split(':').filter(|g| !g.is_empty()).count() + usize::from(m.as_str().contains('.'));
            if groups < 3 {
                continue; // "a::b", "12:30" and friends are not addresses
            }
            let Ok(ip) = m.as_str().parse::<Ipv6Addr>() else {
                continue;
            };
            if ip.is_loopback() || ip.is_unspecified() {
                continue;
            }
            out.push(Span::new(EntityKind::IpAddress, range, 0.85, self.name()));
        }
    }
}

/// The last two words of a context window (version words must be adjacent).
fn tail_words(s: &str) -> &str {
    let trimmed = s.trim_end();
    let mut cut = trimmed.len();
    for _ in 0..2 {
        cut = trimmed[..cut].trim_end().rfind(char::is_whitespace).unwrap_or(0);
    }
    &trimmed[cut..]
}

/// A contiguous run of one bits from the top, like 255.255.255.0.
fn is_netmask(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    bits.leading_ones() >= 8 && bits.leading_ones() + bits.trailing_zeros() == 32
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::IpAddress as I;

    #[test]
    fn finds_v4_and_v6() {
        assert_eq!(found("keep getting address 41.173.96.26 blocked", I), ["41.173.96.26"]);
        assert_eq!(found("from 192.168.1.20.", I), ["192.168.1.20"]);
        assert_eq!(
            found("src 6e40:4041:c617:e898:c11:40d2:c669:2eb4 dst", I),
            ["6e40:4041:c617:e898:c11:40d2:c669:2eb4"]
        );
        assert_eq!(found("host 2001:db8::8a2e:370:7334 up", I), ["2001:db8::8a2e:370:7334"]);
        assert_eq!(found("mapped ::ffff:203.0.113.9 ok", I), ["::ffff:203.0.113.9"]);
    }

    #[test]
    fn skips_versions_loopback_and_netmasks() {
        for t in [
            "upgrade to v1.2.3.4 now",
            "version 10.2.0.1 is out",
            "a.b 1.2.3.4.5",
            "localhost 127.0.0.1",
            "listen on 0.0.0.0",
            "mask 255.255.255.0",
            "set 255.255.0.0 here",
            "::1 is loopback",
            "at 12:30:45 today",
            "std::vector<int>",
            "999.1.1.1",
        ] {
            assert!(found(t, I).is_empty(), "{t}");
        }
    }
}
