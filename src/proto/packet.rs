//! The 48-byte NTP header: parsing and encoding. Extension fields and MACs
//! after the header are ignored.

use super::timestamp::{NtpShort, NtpTimestamp};

pub const HEADER_LEN: usize = 48;
pub const NTP_VERSION: u8 = 4;
pub const MODE_CLIENT: u8 = 3;
pub const MODE_SERVER: u8 = 4;
pub const LEAP_UNSYNCHRONIZED: u8 = 3;

/// An NTP packet header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Packet {
    pub leap: u8,
    pub version: u8,
    pub mode: u8,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_id: [u8; 4],
    pub reference_ts: NtpTimestamp,
    pub origin_ts: NtpTimestamp,
    pub receive_ts: NtpTimestamp,
    pub transmit_ts: NtpTimestamp,
}

impl Packet {
    /// A client request that carries nothing but the version, the mode and a
    /// random transmit timestamp (the nonce): the local clock is not disclosed.
    pub fn request(nonce: NtpTimestamp) -> Packet {
        Packet { version: NTP_VERSION, mode: MODE_CLIENT, transmit_ts: nonce, ..Packet::default() }
    }

    #[cfg(any(test, feature = "__internal-api"))]
    /// A server's reply to the request whose transmit timestamp (the nonce)
    /// was `origin`: the server's clock read `receive` when the request came
    /// and `transmit` when the reply left. Version 4, no leap warning, from a
    /// stratum-1 server with a microsecond clock (precision 2^-20 s) and a
    /// root dispersion of 1/4096 s, its reference time `receive`; poll, root
    /// delay and reference ID zero. Callers change the rest by struct update.
    pub fn reply(origin: NtpTimestamp, receive: NtpTimestamp, transmit: NtpTimestamp) -> Packet {
        Packet {
            leap: 0,
            version: NTP_VERSION,
            mode: MODE_SERVER,
            stratum: 1,
            poll: 0,
            precision: -20,
            root_delay: NtpShort(0),
            root_dispersion: NtpShort(0x10),
            reference_id: [0; 4],
            reference_ts: receive,
            origin_ts: origin,
            receive_ts: receive,
            transmit_ts: transmit,
        }
    }

    /// Parses the header; `None` if `data` is shorter than 48 bytes.
    pub fn parse(data: &[u8]) -> Option<Packet> {
        let h: &[u8; HEADER_LEN] = data.get(..HEADER_LEN)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let ts_at = |i: usize| NtpTimestamp(((u32_at(i) as u64) << 32) | u32_at(i + 4) as u64);
        Some(Packet {
            leap: h[0] >> 6,
            version: (h[0] >> 3) & 7,
            mode: h[0] & 7,
            stratum: h[1],
            poll: h[2] as i8,
            precision: h[3] as i8,
            root_delay: NtpShort(u32_at(4)),
            root_dispersion: NtpShort(u32_at(8)),
            reference_id: [h[12], h[13], h[14], h[15]],
            reference_ts: ts_at(16),
            origin_ts: ts_at(24),
            receive_ts: ts_at(32),
            transmit_ts: ts_at(40),
        })
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.leap << 6) | ((self.version & 7) << 3) | (self.mode & 7);
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.0.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.0.to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id);
        for (i, ts) in [self.reference_ts, self.origin_ts, self.receive_ts, self.transmit_ts].iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&ts.0.to_be_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_discloses_nothing_but_the_nonce() {
        let b = Packet::request(NtpTimestamp(0x0123_4567_89ab_cdef)).encode();
        assert_eq!(b[0], 0x23, "LI 0, VN 4, mode 3");
        assert!(b[1..40].iter().all(|&x| x == 0));
        assert_eq!(&b[40..], &0x0123_4567_89ab_cdefu64.to_be_bytes());
    }

    #[test]
    fn a_reply_is_a_version_4_server_packet_echoing_the_nonce() {
        let (nonce, t) = (NtpTimestamp(0x0123_4567_89ab_cdef), NtpTimestamp(5 << 32));
        let b = Packet::reply(nonce, t, t).encode();
        assert_eq!(b[0], 0x24, "LI 0, VN 4, mode 4");
        assert_eq!(&b[24..32], &nonce.0.to_be_bytes());
        assert_eq!(Packet::parse(&b), Some(Packet::reply(nonce, t, t)));
    }

    #[test]
    fn parse_encode_roundtrip_and_truncation() {
        let p = Packet {
            leap: 1,
            version: 4,
            mode: 4,
            stratum: 2,
            poll: -6,
            precision: -20,
            root_delay: NtpShort(0x10),
            root_dispersion: NtpShort(0x20),
            reference_id: *b"GPS\0",
            reference_ts: NtpTimestamp(1),
            origin_ts: NtpTimestamp(2),
            receive_ts: NtpTimestamp(3),
            transmit_ts: NtpTimestamp(u64::MAX),
        };
        let mut bytes = p.encode().to_vec();
        assert_eq!(Packet::parse(&bytes), Some(p));
        bytes.extend_from_slice(&[0; 20]); // a MAC or extension field is ignored
        assert_eq!(Packet::parse(&bytes), Some(p));
        assert_eq!(Packet::parse(&bytes[..47]), None);
        assert_eq!(Packet::parse(&[]), None);
    }
}
