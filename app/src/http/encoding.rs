//! Content codings of rendered read responses: `Accept-Encoding` negotiation (gzip, br, zstd,
//! identity), and a rendered body whose compressed forms are made once, on first demand, and kept
//! beside it (a 34 KB page is a few KB on the wire; compressing it per request would cost more
//! than serving it).
//!
//! Every representation has its own strong `ETag`: the identity body's tag, with `-gzip`, `-br`
//! or `-zstd` before the closing quote for the compressed ones, so a cache never takes one for
//! the other, and `If-None-Match` matches the representation the request would get.

use std::io::Write as _;
use std::sync::OnceLock;

use bytes::Bytes;
use poem::http::HeaderValue;

/// A content coding this server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Br,
    Zstd,
}

/// Compressed codings, in the order a tie of weights is broken: br compresses JSON best, zstd
/// nearly as well, gzip is what every client has.
const COMPRESSED: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

/// Bodies smaller than this go out as they are: the coding's framing eats what it would save.
pub const MIN_COMPRESS_BYTES: usize = 1024;

impl Coding {
    /// The `Content-Encoding` value, none for identity.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Br => Some("br"),
            Self::Zstd => Some("zstd"),
        }
    }

    fn slot(self) -> usize {
        match self {
            Self::Identity | Self::Br => 0,
            Self::Zstd => 1,
            Self::Gzip => 2,
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Identity => &["identity"],
            Self::Gzip => &["gzip", "x-gzip"],
            Self::Br => &["br"],
            Self::Zstd => &["zstd"],
        }
    }

    fn compress(self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Identity => Ok(body.to_vec()),
            Self::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
                enc.write_all(body)?;
                enc.finish()
            }
            Self::Br => {
                let mut out = Vec::new();
                let params = brotli::enc::BrotliEncoderParams { quality: 5, lgwin: 22, ..Default::default() };
                brotli::BrotliCompress(&mut &body[..], &mut out, &params)?;
                Ok(out)
            }
            Self::Zstd => zstd::bulk::compress(body, 6),
        }
    }
}

/// The coding to answer an `Accept-Encoding` with: the acceptable compressed coding of highest
/// weight (ties: br, zstd, gzip), unless identity weighs more; identity without the header or when
/// no compressed coding is acceptable (identity is then sent even if refused: RFC 9110 12.5.3
/// allows it, and a 406 helps no client).
pub fn negotiate(accept: Option<&HeaderValue>) -> Coding {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else { return Coding::Identity };
    let (star, weights) = weights(accept);
    let identity = weights[0].or(star).unwrap_or(1.0);
    let best = COMPRESSED
        .into_iter()
        .zip(&weights[1..])
        .map(|(coding, q)| (coding, q.or(star).unwrap_or(0.0)))
        .filter(|(_, q)| *q > 0.0)
        .fold(None, |best: Option<(Coding, f32)>, (c, q)| match best {
            Some((_, bq)) if bq >= q => best,
            _ => Some((c, q)),
        });
    match best {
        Some((coding, q)) if q >= identity => coding,
        _ => Coding::Identity,
    }
}

/// Whether an `Accept-Encoding` takes gzip at all (a weight above zero, its own or `*`'s).
pub fn takes_gzip(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else { return false };
    let (star, weights) = weights(accept);
    weights[3].or(star).is_some_and(|q| q > 0.0)
}

/// The weight of `*` and of identity, br, zstd and gzip, as an `Accept-Encoding` gives them.
fn weights(accept: &str) -> (Option<f32>, [Option<f32>; 4]) {
    let (mut star, mut weights) = (None, [None::<f32>; 4]);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        if name.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name == "*" {
            star = Some(q);
        }
        for (i, coding) in [Coding::Identity, Coding::Br, Coding::Zstd, Coding::Gzip].into_iter().enumerate() {
            if coding.names().iter().any(|n| n.eq_ignore_ascii_case(name)) {
                weights[i] = Some(q);
            }
        }
    }
    (star, weights)
}

/// A large, rarely read body kept gzip-compressed: the Swagger UI page is 1.8 MB, nearly all of
/// it the bundled script and styles, and a quarter of that compressed. A client that takes gzip
/// gets the compressed bytes as they are; any other gets them inflated for its request.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The gzip bytes (or the body itself, in the unexpected case that compressing failed).
    stored: Bytes,
    coding: Coding,
}

impl Packed {
    /// Packs `body`.
    pub fn new(body: &[u8]) -> Self {
        match Coding::Gzip.compress(body) {
            Ok(gzip) => Self { stored: Bytes::from(gzip), coding: Coding::Gzip },
            Err(_) => Self { stored: Bytes::copy_from_slice(body), coding: Coding::Identity },
        }
    }

    /// The body for a request with this `Accept-Encoding`: gzip when it takes gzip, else identity.
    pub fn body(&self, accept: Option<&HeaderValue>) -> (Coding, Bytes) {
        if self.coding == Coding::Identity || takes_gzip(accept) {
            return (self.coding, self.stored.clone());
        }
        let mut out = Vec::new();
        // Compressed here, from bytes in memory: it inflates.
        let _ = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&self.stored[..]), &mut out);
        (Coding::Identity, Bytes::from(out))
    }
}

/// A compressed form: the bytes and their `ETag`; `None` when compressing did not make the body
/// smaller (the identity body is sent instead).
type Compressed = Option<(Bytes, Box<str>)>;

/// A rendered body, its `ETag`, and its compressed forms once asked for.
#[derive(Debug)]
pub struct Rendered {
    identity: Bytes,
    etag: Box<str>,
    compressed: [OnceLock<Compressed>; 3],
}

impl Rendered {
    /// `body` with its strong `etag` (quoted).
    pub fn new(body: Bytes, etag: String) -> Self {
        Self { identity: body, etag: etag.into_boxed_str(), compressed: Default::default() }
    }

    /// The identity body's size.
    pub fn len(&self) -> usize {
        self.identity.len()
    }

    /// Whether the identity body is empty.
    pub fn is_empty(&self) -> bool {
        self.identity.is_empty()
    }

    /// The representation sent for `coding`: its coding (identity when the body is too small or
    /// does not shrink), its bytes (shared, not copied) and its `ETag`. A compressed form is made
    /// on its first request and kept.
    pub fn representation(&self, coding: Coding) -> (Coding, Bytes, &str) {
        if coding == Coding::Identity || self.identity.len() < MIN_COMPRESS_BYTES {
            return (Coding::Identity, self.identity.clone(), &self.etag);
        }
        let made = self.compressed[coding.slot()].get_or_init(|| {
            let out = coding.compress(&self.identity).ok().filter(|out| out.len() < self.identity.len())?;
            let quoted = self.etag.strip_suffix('"').unwrap_or(&self.etag);
            let name = coding.header().unwrap_or_default();
            Some((Bytes::from(out), format!("{quoted}-{name}\"").into_boxed_str()))
        });
        match made {
            Some((body, etag)) => (coding, body.clone(), etag),
            None => (Coding::Identity, self.identity.clone(), &self.etag),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::io::Read as _;

    use super::{Coding, MIN_COMPRESS_BYTES, Packed, Rendered, negotiate};
    use bytes::Bytes;
    use poem::http::HeaderValue;

    fn pick(accept: &'static str) -> Coding {
        negotiate(Some(&HeaderValue::from_static(accept)))
    }

    #[test]
    fn accept_encoding_is_honoured_with_its_weights() {
        assert_eq!(negotiate(None), Coding::Identity);
        let cases = [
            ("gzip", Coding::Gzip),
            ("x-gzip", Coding::Gzip),
            ("GZIP", Coding::Gzip),
            ("br", Coding::Br),
            ("zstd", Coding::Zstd),
            ("gzip, deflate, br, zstd", Coding::Br),
            ("gzip, deflate, br", Coding::Br),
            ("gzip, zstd", Coding::Zstd),
            ("gzip;q=1.0, br;q=0.5", Coding::Gzip),
            ("br;q=0, gzip", Coding::Gzip),
            ("*", Coding::Br),
            ("*;q=0.5, gzip;q=0.8", Coding::Gzip),
            ("*, br;q=0", Coding::Zstd),
            ("identity", Coding::Identity),
            ("deflate", Coding::Identity),
            ("", Coding::Identity),
            ("identity;q=1, gzip;q=0.5", Coding::Identity),
            ("gzip;q=0", Coding::Identity),
            ("identity;q=0", Coding::Identity),
            ("identity;q=0, gzip;q=0.1", Coding::Gzip),
            ("gzip;q=0.5, identity;q=0.5", Coding::Gzip),
        ];
        for (accept, want) in cases {
            assert_eq!(pick(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn each_representation_has_its_own_etag_and_decodes_to_the_identity_body() {
        let mut body = String::new();
        for i in 0..400 {
            write!(body, "{{\"name\":\"io.github.example/server-{i}\"}},").unwrap();
        }
        let rendered = Rendered::new(Bytes::from(body.clone()), "\"abc\"".to_owned());
        let (coding, identity, etag) = rendered.representation(Coding::Identity);
        assert_eq!((coding, &identity[..], etag), (Coding::Identity, body.as_bytes(), "\"abc\""));

        let (coding, gz, etag) = rendered.representation(Coding::Gzip);
        assert_eq!((coding, etag), (Coding::Gzip, "\"abc-gzip\""));
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, body);
        assert!(gz.len() * 4 < body.len(), "{} of {}", gz.len(), body.len());

        let (coding, br, etag) = rendered.representation(Coding::Br);
        assert_eq!((coding, etag), (Coding::Br, "\"abc-br\""));
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
        assert_eq!(out, body.as_bytes());

        let (coding, zst, etag) = rendered.representation(Coding::Zstd);
        assert_eq!((coding, etag), (Coding::Zstd, "\"abc-zstd\""));
        assert_eq!(zstd::bulk::decompress(&zst, body.len()).unwrap(), body.as_bytes());

        // Made once: the same shared bytes the second time.
        assert_eq!(rendered.representation(Coding::Br).1.as_ptr(), br.as_ptr());
    }

    #[test]
    fn a_packed_body_is_sent_compressed_to_whoever_takes_gzip_and_inflated_to_others() {
        let mut body = String::new();
        for i in 0..5000 {
            writeln!(body, "<p>line {i}</p>").unwrap();
        }
        let packed = Packed::new(body.as_bytes());
        for accept in [Some("gzip"), Some("br, gzip;q=0.1"), Some("*"), Some("x-gzip")] {
            let (coding, bytes) = packed.body(accept.map(HeaderValue::from_static).as_ref());
            assert_eq!(coding, Coding::Gzip, "{accept:?}");
            let mut out = String::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut out).unwrap();
            assert_eq!(out, body);
            assert!(bytes.len() * 4 < body.len());
        }
        for accept in [None, Some("br"), Some("gzip;q=0"), Some("*;q=0, br"), Some("identity")] {
            let (coding, bytes) = packed.body(accept.map(HeaderValue::from_static).as_ref());
            assert_eq!((coding, &bytes[..]), (Coding::Identity, body.as_bytes()), "{accept:?}");
        }
    }

    #[test]
    fn small_bodies_go_out_as_they_are() {
        let small = Rendered::new(Bytes::from(vec![b'a'; MIN_COMPRESS_BYTES - 1]), "\"s\"".to_owned());
        assert_eq!(small.representation(Coding::Gzip).0, Coding::Identity);
        assert_eq!(small.representation(Coding::Gzip).2, "\"s\"");
    }
}
