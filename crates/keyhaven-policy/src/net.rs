//! CIDR blocks for the IpAddress and NotIpAddress condition operators (IPv4 and IPv6).

use std::net::IpAddr;

/// An address block such as `203.0.113.0/24` or `2001:db8::/32`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u32,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let width = bit_width(network);
        let prefix = match prefix {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok()?,
            Some(_) => return None,
            None => width,
        };
        (prefix <= width).then_some(Self { network, prefix })
    }

    /// Host bits in the policy's block are ignored, as a network mask would ignore them. An IPv4
    /// address is never inside an IPv6 block and the other way round.
    pub(crate) fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(u128::from(u32::from(net)), u128::from(u32::from(ip)), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(u128::from(net), u128::from(ip), self.prefix, 128),
            _ => false,
        }
    }
}

fn bit_width(address: IpAddr) -> u32 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn same_prefix(network: u128, address: u128, prefix: u32, width: u32) -> bool {
    let host_bits = width - prefix;
    host_bits >= width || network >> host_bits == address >> host_bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("203.0.113.0/24", "203.0.113.7", true),
            ("203.0.113.0/24", "203.0.114.7", false),
            ("203.0.113.9/24", "203.0.113.200", true),
            ("203.0.113.7", "203.0.113.7", true),
            ("203.0.113.7/32", "203.0.113.8", false),
            ("0.0.0.0/0", "198.51.100.1", true),
            ("0.0.0.0/0", "2001:db8::1", false),
            ("2001:DB8:1234:5678::/64", "2001:db8:1234:5678:abcd::1", true),
            ("2001:db8:1234:5678::/64", "2001:db8:1234:5679::1", false),
            ("::/0", "::1", true),
            ("2001:db8::/32", "203.0.113.7", false),
        ];
        for (block, address, expected) in cases {
            let cidr = Cidr::parse(block).expect(block);
            let address: IpAddr = address.parse().expect(address);
            assert_eq!(cidr.contains(address), *expected, "{block} ∋ {address}");
        }
    }

    #[test]
    fn malformed_blocks_are_refused() {
        for text in [
            "",
            "203.0.113.0/33",
            "2001:db8::/129",
            "203.0.113.0/",
            "203.0.113.0/+1",
            "host/8",
            "1.2.3/8",
        ] {
            assert_eq!(Cidr::parse(text), None, "{text}");
        }
    }
}
