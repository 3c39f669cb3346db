//! One spool record: encoding and decoding, no I/O.
//!
//! Layout (little-endian), see the module doc of [`crate::spool`]:
//!
//! ```text
//! 0..4   magic    FE 50 47 01
//! 4..8   len      u32, payload length
//! 8..12  crc      u32, CRC-32C of bytes 4..8, 12..20 and the payload
//! 12..20 seq      u64
//! 20..   payload  len bytes
//! ```
use std::fmt;

/// Starts every record. 0xFE never occurs in UTF-8, so line-protocol
/// payloads cannot contain it; the last byte is the format version.
pub const MAGIC: [u8; 4] = [0xFE, b'P', b'G', 0x01];

/// Bytes in front of the payload.
pub const HEADER_LEN: usize = 20;

/// Why bytes are not a good record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The bytes end before the header or the payload it announces: a torn
    /// write, a cut file or a garbled length.
    Truncated { needed: u64, available: u64 },
    /// The first bytes are not [`MAGIC`].
    BadMagic,
    /// The checksum does not match what is stored.
    BadCrc { stored: u32, computed: u32 },
    /// A well-formed record whose seq does not follow the one before it.
    OutOfOrder { seq: u64, min: u64 },
    /// A payload longer than a u32 length can describe.
    PayloadTooLong { len: u64 },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated { needed, available } => {
                write!(
                    f,
                    "record cut short: needs {needed} bytes, {available} left"
                )
            }
            RecordError::BadMagic => write!(f, "no record magic"),
            RecordError::BadCrc { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            RecordError::OutOfOrder { seq, min } => {
                write!(f, "seq {seq} out of order (expected at least {min})")
            }
            RecordError::PayloadTooLong { len } => {
                write!(f, "payload of {len} bytes exceeds the u32 length field")
            }
        }
    }
}

impl std::error::Error for RecordError {}

/// A record's fixed-size front, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub crc: u32,
    pub seq: u64,
}

impl Header {
    /// Header plus payload.
    pub fn record_len(&self) -> u64 {
        encoded_len(self.len as usize)
    }
}

/// A record decoded in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub seq: u64,
    pub payload: &'a [u8],
    /// Header plus payload: where the next record starts.
    pub len: u64,
}

/// Size on disk of a record carrying `payload_len` bytes.
pub fn encoded_len(payload_len: usize) -> u64 {
    HEADER_LEN as u64 + payload_len as u64
}

fn checksum(len: [u8; 4], seq: [u8; 8], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len);
    let crc = crc32c::crc32c_append(crc, &seq);
    crc32c::crc32c_append(crc, payload)
}

/// The header to write in front of `payload`. Kept apart from the payload so
/// a large batch is written without being copied.
pub fn encode_header(seq: u64, payload: &[u8]) -> Result<[u8; HEADER_LEN], RecordError> {
    let len = u32::try_from(payload.len()).map_err(|_| RecordError::PayloadTooLong {
        len: payload.len() as u64,
    })?;
    let len = len.to_le_bytes();
    let seq = seq.to_le_bytes();
    let crc = checksum(len, seq, payload).to_le_bytes();
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&len);
    h[8..12].copy_from_slice(&crc);
    h[12..20].copy_from_slice(&seq);
    Ok(h)
}

/// Appends a whole record to `out`.
pub fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
    let h = encode_header(seq, payload)?;
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    Ok(())
}

/// Reads the header at the start of `bytes`; checks the magic only, not
/// the checksum (that needs the payload).
pub fn decode_header(bytes: &[u8]) -> Result<Header, RecordError> {
    let n = bytes.len().min(MAGIC.len());
    if bytes[..n] != MAGIC[..n] {
        return Err(RecordError::BadMagic);
    }
    let Some(h) = bytes.get(..HEADER_LEN) else {
        return Err(RecordError::Truncated {
            needed: HEADER_LEN as u64,
            available: bytes.len() as u64,
        });
    };
    let mut len = [0u8; 4];
    let mut crc = [0u8; 4];
    let mut seq = [0u8; 8];
    len.copy_from_slice(&h[4..8]);
    crc.copy_from_slice(&h[8..12]);
    seq.copy_from_slice(&h[12..20]);
    Ok(Header {
        len: u32::from_le_bytes(len),
        crc: u32::from_le_bytes(crc),
        seq: u64::from_le_bytes(seq),
    })
}

/// Checks `payload` against a header read by [`decode_header`].
pub fn verify(header: &Header, payload: &[u8]) -> Result<(), RecordError> {
    let computed = checksum(header.len.to_le_bytes(), header.seq.to_le_bytes(), payload);
    if computed == header.crc && payload.len() == header.len as usize {
        Ok(())
    } else {
        Err(RecordError::BadCrc {
            stored: header.crc,
            computed,
        })
    }
}

/// Decodes the record at the start of `bytes` (trailing bytes are ignored).
pub fn decode(bytes: &[u8]) -> Result<Decoded<'_>, RecordError> {
    let h = decode_header(bytes)?;
    let len = h.record_len();
    let Some(body) = usize::try_from(len)
        .ok()
        .and_then(|l| bytes.get(HEADER_LEN..l))
    else {
        return Err(RecordError::Truncated {
            needed: len,
            available: bytes.len() as u64,
        });
    };
    verify(&h, body)?;
    Ok(Decoded {
        seq: h.seq,
        payload: body,
        len,
    })
}

/// Offset of the next [`MAGIC`] at or after `from`, for resynchronising
/// after a damaged record.
pub fn find_magic(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = bytes.get(from..)?;
    let mut i = 0;
    while let Some(p) = tail.get(i..)?.iter().position(|&b| b == MAGIC[0]) {
        let at = i + p;
        if tail.get(at..at + MAGIC.len()) == Some(&MAGIC[..]) {
            return Some(from + at);
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(seq, payload, &mut v).unwrap();
        v
    }

    #[test]
    fn round_trip() {
        for payload in [&b""[..], b"x", b"cpu,host=a value=1 1\n", &[0u8; 5000]] {
            let bytes = rec(42, payload);
            assert_eq!(bytes.len() as u64, encoded_len(payload.len()));
            let d = decode(&bytes).unwrap();
            assert_eq!(d.seq, 42);
            assert_eq!(d.payload, payload);
            assert_eq!(d.len, bytes.len() as u64);
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = rec(0x0102_0304_0506_0708, b"ab");
        assert_eq!(&bytes[0..4], &[0xFE, 0x50, 0x47, 0x01]);
        assert_eq!(&bytes[4..8], &2u32.to_le_bytes());
        assert_eq!(&bytes[12..20], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&bytes[20..], b"ab");
        let mut covered = bytes[4..8].to_vec();
        covered.extend_from_slice(&bytes[12..]);
        assert_eq!(&bytes[8..12], &crc32c::crc32c(&covered).to_le_bytes());
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut bytes = rec(7, b"hello");
        bytes.extend_from_slice(&rec(8, b"next"));
        let d = decode(&bytes).unwrap();
        assert_eq!((d.seq, d.payload, d.len), (7, &b"hello"[..], 25));
    }

    #[test]
    fn every_cut_is_truncated_or_bad_magic_never_a_record() {
        let bytes = rec(9, b"some payload");
        for cut in 0..bytes.len() {
            match decode(&bytes[..cut]) {
                Err(RecordError::Truncated { available, .. }) => assert_eq!(available, cut as u64),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = rec(9, b"some payload");
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let r = decode(&b);
                assert!(r.is_err(), "flip byte {i} bit {bit} went unnoticed: {r:?}");
            }
        }
    }

    #[test]
    fn corruption_kinds() {
        let good = rec(1, b"payload");
        let mut m = good.clone();
        m[0] = 0;
        assert_eq!(decode(&m), Err(RecordError::BadMagic));
        let mut c = good.clone();
        c[25] ^= 0xFF;
        assert!(matches!(decode(&c), Err(RecordError::BadCrc { .. })));
        let mut l = good.clone();
        l[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            decode(&l),
            Err(RecordError::Truncated {
                needed: 1020,
                available: good.len() as u64
            })
        );
        let mut s = good;
        s[12] ^= 1;
        assert!(matches!(decode(&s), Err(RecordError::BadCrc { .. })));
    }

    #[test]
    fn find_magic_positions() {
        let mut bytes = vec![0xFE, 0xFE, b'P'];
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&[1, 2, 0xFE]);
        bytes.extend_from_slice(&MAGIC);
        assert_eq!(find_magic(&bytes, 0), Some(3));
        assert_eq!(find_magic(&bytes, 3), Some(3));
        assert_eq!(find_magic(&bytes, 4), Some(10));
        assert_eq!(find_magic(&bytes, 11), None);
        assert_eq!(find_magic(&bytes, 100), None);
        assert_eq!(find_magic(&MAGIC[..3], 0), None);
    }
}
