//! Which IP addresses are not on the public internet, and what they are: the one
//! classification that the guard against server-side request forgery (`fetch`) and the
//! WebSub defaults (`config`: can a hub elsewhere reach us?) share.

use std::net::{IpAddr, Ipv4Addr};

/// What kind of non-public address `ip` is, or `None` for a public one. An IPv6 address that
/// carries an IPv4 one (mapped, compatible, NAT64, 6to4) is what that one is.
pub(crate) fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local (cloud metadata)")
            } else if v4.is_unspecified() || a == 0 {
                Some("unspecified")
            } else if a == 100 && (64..128).contains(&b) {
                Some("carrier-grade NAT")
            } else if v4.is_broadcast()
                || v4.is_multicast()
                || a >= 240
                // IETF protocol assignments, documentation (TEST-NET-1/2/3), the 6to4 relay
                // anycast, benchmarking.
                || matches!((a, b, c), (192, 0, 0 | 2) | (192, 88, 99) | (198, 51, 100) | (203, 0, 113))
                || (a == 198 && (18..20).contains(&b))
            {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let (s, o) = (v6.segments(), v6.octets());
            let v4_at = |i: usize| IpAddr::V4(Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]));
            if let Some(v4) = v6.to_ipv4_mapped() {
                return non_public(IpAddr::V4(v4));
            }
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if s[..6] == [0; 6] {
                // IPv4-compatible (`::127.0.0.1`): deprecated, never public.
                non_public(v4_at(12)).or(Some("reserved"))
            } else if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
                // IPv4-translated (`::ffff:0:127.0.0.1`, RFC 2765): the IPv4 address it names.
                non_public(v4_at(12)).or(Some("reserved"))
            } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64 reaches the IPv4 address it embeds.
                non_public(v4_at(12))
            } else if s[0] == 0x2002 {
                // 6to4 reaches the IPv4 address it embeds.
                non_public(v4_at(2))
            } else if s[..3] == [0x64, 0xff9b, 1]
                || s[0] & 0xfe00 == 0xfc00
                || s[0] & 0xffc0 == 0xfec0
            {
                // Local-use NAT64, unique local, site-local.
                Some("private")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast()
                // Teredo, benchmarking, documentation (both ranges), discard-only.
                || s[..2] == [0x2001, 0]
                || s[..3] == [0x2001, 2, 0]
                || s[..2] == [0x2001, 0xdb8]
                || s[0] & 0xfff0 == 0x3ff0
                || s[..4] == [0x100, 0, 0, 0]
            {
                Some("reserved")
            } else {
                None
            }
        }
    }
}
