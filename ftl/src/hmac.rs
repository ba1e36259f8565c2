//! The FTL challenge-response: HMAC-SHA512 of the decoded challenge, keyed
//! with the stream key, compared in constant time (FTL-SPEC §3.4).

use hmac::{Hmac, Mac};
use sha2::Sha512;

/// Bytes of the server's random challenge; sent as 256 lowercase hex chars.
pub const CHALLENGE_LEN: usize = 128;

/// Bytes of an HMAC-SHA512 digest; sent as 128 lowercase hex chars.
pub const DIGEST_LEN: usize = 64;

/// The server's challenge: random bytes the caller draws (the crate has no rng).
pub type Challenge = [u8; CHALLENGE_LEN];

/// The client's answer to a challenge.
pub type Digest = [u8; DIGEST_LEN];

fn mac(key: &[u8], challenge: &[u8]) -> Hmac<Sha512> {
    // HMAC takes keys of any length (longer ones are hashed), so this cannot fail.
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(challenge);
    mac
}

/// The digest a client holding `key` sends for `challenge`.
pub fn sign(key: &[u8], challenge: &[u8]) -> Digest {
    mac(key, challenge).finalize().into_bytes().into()
}

/// Whether `digest` proves knowledge of `key`, compared in constant time.
pub fn verify(key: &[u8], challenge: &[u8], digest: &Digest) -> bool {
    mac(key, challenge).verify_slice(digest).is_ok()
}

/// Appends `bytes` as lowercase hex.
pub fn encode_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
}

/// Decodes exactly `out.len() * 2` hex chars into `out`. With `lowercase_only`,
/// `A`-`F` are rejected. Returns `None` on a wrong length or a non-hex char.
pub fn decode_hex(text: &[u8], out: &mut [u8], lowercase_only: bool) -> Option<()> {
    if text.len() != out.len().checked_mul(2)? {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' if !lowercase_only => Some(c - b'A' + 10),
        _ => None,
    };
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_challenge() -> Challenge {
        std::array::from_fn(|i| i as u8)
    }

    fn hex(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        encode_hex(bytes, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn spec_test_vector_secretkey() {
        let digest = sign(b"secretkey", &spec_challenge());
        assert_eq!(
            hex(&digest),
            "286f2a83b1626ce272c2161d02fe43870d1e6b0d14db70586d0f5617e4071d1a\
             f83e8c48959db4a76e0867f35c3a411ecc679abe7e5a7ab31de2f44f5630cecb"
        );
        assert!(verify(b"secretkey", &spec_challenge(), &digest));
    }

    #[test]
    fn spec_test_vector_janus_dummy_key() {
        let digest = sign(b"aBcDeFgHiJkLmNoPqRsTuVwXyZ123456", &spec_challenge());
        assert_eq!(
            hex(&digest),
            "909e8ab27a78623585f3757d6c7a6e635620b3487fa91c4071addbf004dafb91\
             a8a79f49b2db08cf13427d8e5ea9aa702bcd510c2b74c210794f19186e9275cc"
        );
    }

    #[test]
    fn wrong_key_or_flipped_bit_fails() {
        let mut digest = sign(b"secretkey", &spec_challenge());
        assert!(!verify(b"secretkez", &spec_challenge(), &digest));
        digest[63] ^= 1;
        assert!(!verify(b"secretkey", &spec_challenge(), &digest));
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let mut out = [0u8; 2];
        assert_eq!(decode_hex(b"0aff", &mut out, true), Some(()));
        assert_eq!(out, [0x0a, 0xff]);
        assert_eq!(decode_hex(b"0AFF", &mut out, true), None);
        assert_eq!(decode_hex(b"0AFF", &mut out, false), Some(()));
        assert_eq!(decode_hex(b"0af", &mut out, false), None);
        assert_eq!(decode_hex(b"0afff", &mut out, false), None);
        assert_eq!(decode_hex(b"zzzz", &mut out, false), None);
    }
}
