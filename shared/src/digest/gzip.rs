//! Single-member gzip decoding with strict end-of-stream checks
//! (`docs/specs/digest-validation.md` §4, §9.3).
//!
//! CloudTrail writes each digest and log as exactly one gzip member. Anything after that member
//! is reported (trailing data), never silently hashed or ignored. Errors of the underlying
//! reader (network, S3 body) are kept apart from format errors so that an infrastructure failure
//! can never be reported as tampering.

use aws_lc_rs::digest::{Context, SHA256};
use flate2::bufread::GzDecoder;
use std::io::{self, BufRead, BufReader, Cursor, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const CHUNK: usize = 64 * 1024;

/// Why an object could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum GzipError {
    /// The object does not start with the gzip magic bytes `1f 8b`.
    #[error("not gzip data (no gzip magic bytes)")]
    NotGzip,
    /// The gzip stream is damaged (bad header, deflate data or CRC); holds the decoder's message.
    #[error("corrupt gzip data: {0}")]
    Corrupt(String),
    /// The decompressed content would exceed the given limit in bytes (guards against gzip bombs).
    #[error("decompressed content exceeds {0} bytes")]
    TooLarge(u64),
    /// The source failed while being read: an infrastructure problem, not a property of the data.
    #[error("reading the object failed: {0}")]
    Source(io::Error),
}

/// A decompressed object held in memory (digests are small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gunzipped {
    /// The decompressed bytes of the first gzip member (for a digest: its JSON document).
    pub content: Vec<u8>,
    /// Bytes follow the first gzip member.
    pub trailing_data: bool,
}

/// The SHA-256 of a gzip object's decompressed first member, computed while streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHash {
    /// SHA-256 of the decompressed first member: what a digest's `hashValue` lists for a log file.
    pub sha256: [u8; 32],
    /// Length of the decompressed first member, in bytes.
    pub uncompressed_len: u64,
    /// Bytes follow the first gzip member (they are not part of the hash).
    pub trailing_data: bool,
}

impl StreamHash {
    /// The hash as lowercase hex, the form digests list it in.
    pub fn hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Decompresses the first gzip member of `bytes`, at most `limit` bytes of output.
pub fn gunzip_member(bytes: &[u8], limit: u64) -> Result<Gunzipped, GzipError> {
    let mut content = Vec::new();
    let trailing_data = decode(bytes, |chunk| {
        if content.len() as u64 + chunk.len() as u64 > limit {
            return Err(GzipError::TooLarge(limit));
        }
        content.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(Gunzipped {
        content,
        trailing_data,
    })
}

/// Streams `source` through gunzip and SHA-256 without holding it in memory.
pub fn hash_gzip_stream(source: impl Read) -> Result<StreamHash, GzipError> {
    let mut ctx = Context::new(&SHA256);
    let mut len = 0u64;
    let trailing_data = decode(source, |chunk| {
        ctx.update(chunk);
        len += chunk.len() as u64;
        Ok(())
    })?;
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(ctx.finish().as_ref());
    Ok(StreamHash {
        sha256,
        uncompressed_len: len,
        trailing_data,
    })
}

/// SHA-256 of a byte slice.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&SHA256, bytes).as_ref());
    out
}

/// Decodes one gzip member, feeding the output to `sink`; returns whether data follows it.
fn decode(
    source: impl Read,
    mut sink: impl FnMut(&[u8]) -> Result<(), GzipError>,
) -> Result<bool, GzipError> {
    let mut tapped = BufReader::with_capacity(
        CHUNK,
        Tap {
            inner: source,
            error: None,
        },
    );
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match tapped.read(&mut magic[got..]) {
            Ok(0) => return Err(GzipError::NotGzip),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(GzipError::Source(e)),
        }
    }
    if magic != GZIP_MAGIC {
        return Err(GzipError::NotGzip);
    }
    let mut decoder = GzDecoder::new(Cursor::new(magic).chain(tapped));
    let mut buf = vec![0u8; CHUNK];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sink(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Blame the source only when the source itself failed.
                return Err(match decoder.get_mut().get_mut().1.get_mut().error.take() {
                    Some(source_err) => GzipError::Source(source_err),
                    None => GzipError::Corrupt(e.to_string()),
                });
            }
        }
    }
    let mut rest = decoder.into_inner();
    loop {
        match rest.fill_buf() {
            Ok(remaining) => return Ok(!remaining.is_empty()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(GzipError::Source(e)),
        }
    }
}

/// Remembers the source's own error so the decoder's error can be attributed correctly.
struct Tap<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(copy)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn hashes_decompressed_bytes_not_compressed_ones() {
        let data = b"{\"Records\":[]}".repeat(10_000);
        let h = hash_gzip_stream(Cursor::new(gz(&data))).unwrap();
        assert_eq!(h.sha256, sha256(&data));
        assert_eq!(h.uncompressed_len, data.len() as u64);
        assert!(!h.trailing_data);
        let fast = gz_with(&data, Compression::fast());
        assert_eq!(
            hash_gzip_stream(Cursor::new(fast)).unwrap().sha256,
            sha256(&data)
        );
    }

    fn gz_with(data: &[u8], level: Compression) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), level);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn second_member_and_garbage_are_trailing_data() {
        let mut two = gz(b"first");
        two.extend(gz(b"second"));
        let h = hash_gzip_stream(Cursor::new(&two)).unwrap();
        assert!(h.trailing_data);
        assert_eq!(h.sha256, sha256(b"first"));
        let mut one_byte = gz(b"first");
        one_byte.push(0);
        assert!(gunzip_member(&one_byte, 1 << 20).unwrap().trailing_data);
        assert!(!gunzip_member(&gz(b"first"), 1 << 20).unwrap().trailing_data);
    }

    #[test]
    fn not_gzip_and_truncation_are_format_errors() {
        assert!(matches!(
            hash_gzip_stream(Cursor::new(b"{\"Records\":[]}")),
            Err(GzipError::NotGzip)
        ));
        assert!(matches!(
            hash_gzip_stream(Cursor::new(b"")),
            Err(GzipError::NotGzip)
        ));
        let full = gz(&b"x".repeat(5000));
        let truncated = &full[..full.len() - 5];
        assert!(matches!(
            gunzip_member(truncated, 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
        let mut bad_crc = full.clone();
        let n = bad_crc.len();
        bad_crc[n - 6] ^= 0xff;
        assert!(matches!(
            gunzip_member(&bad_crc, 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
    }

    #[test]
    fn output_limit_is_enforced() {
        let big = gz(&vec![0u8; 10_000]);
        assert!(matches!(
            gunzip_member(&big, 9_999),
            Err(GzipError::TooLarge(_))
        ));
        assert_eq!(gunzip_member(&big, 10_000).unwrap().content.len(), 10_000);
    }

    /// A reader that fails after some bytes, like a dropped S3 connection.
    struct Failing {
        data: Vec<u8>,
        pos: usize,
        fail_at: usize,
    }
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos >= self.fail_at {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "connection reset",
                ));
            }
            let n = buf
                .len()
                .min(self.fail_at - self.pos)
                .min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn source_failures_are_never_format_errors() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let compressed = gz(&data);
        for fail_at in [0, 1, 10, compressed.len() / 2, compressed.len() - 1] {
            let r = Failing {
                data: compressed.clone(),
                pos: 0,
                fail_at,
            };
            match hash_gzip_stream(r) {
                Err(GzipError::Source(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
                other => panic!("fail_at {fail_at}: expected a source error, got {other:?}"),
            }
        }
    }
}
