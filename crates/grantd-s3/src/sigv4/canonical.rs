//! The canonical request, S3's flavour: the path exactly as sent, the query
//! decoded and re-encoded with AWS's URI-encoding and sorted, the signed
//! headers lowercased with their values trimmed and joined.

use http::{HeaderMap, Uri};
use percent_encoding::percent_decode_str;

/// AWS's URI-encoding: `A-Za-z0-9-._~` kept, every other byte `%XX` in
/// upper-case hex. (`/` too: the path is never re-encoded, so this only
/// ever encodes query names and values, where `/` is `%2F`.)
pub(crate) fn uri_encode(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// One query parameter, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryPair {
    pub(crate) name: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

/// Splits a raw query into decoded pairs. A `%` not followed by two hex
/// digits stays literal (and is re-encoded as `%25`); a name without `=`
/// has an empty value; empty pieces (`a&&b`) are dropped.
///
/// `plus_as_space`: whether a raw `+` means a space (form encoding, what
/// S3 decodes `prefix=a+b` to) or itself. Signers disagree, so the
/// verifier tries the first and falls back to the second.
pub(crate) fn parse_query(raw: &str, plus_as_space: bool) -> Vec<QueryPair> {
    let decode = |s: &str| -> Vec<u8> {
        if plus_as_space && s.contains('+') {
            percent_decode_str(&s.replace('+', " ")).collect()
        } else {
            percent_decode_str(s).collect()
        }
    };
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            QueryPair {
                name: decode(name),
                value: decode(value),
            }
        })
        .collect()
}

/// The canonical query string: every pair but those `skip` names,
/// re-encoded, sorted by encoded name then encoded value, `&`-joined.
pub(crate) fn canonical_query(pairs: &[QueryPair], skip: impl Fn(&[u8]) -> bool) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|pair| !skip(&pair.name))
        .map(|pair| {
            let mut name = String::with_capacity(pair.name.len());
            uri_encode(&mut name, &pair.name);
            let mut value = String::with_capacity(pair.value.len());
            uri_encode(&mut value, &pair.value);
            (name, value)
        })
        .collect();
    encoded.sort_unstable();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The canonical headers block: `name:value\n` per signed header, in the
/// order `SignedHeaders` lists them, values trimmed with inner runs of
/// whitespace collapsed, repeated headers joined with `,`.
///
/// A signed header the request lacks contributes an empty value, so the
/// signature fails unless the client signed that emptiness too; `host`
/// falls back to the URI's authority (HTTP/2 carries it as `:authority`).
pub(crate) fn canonical_headers(headers: &HeaderMap, uri: &Uri, signed: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for name in signed {
        out.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        out.push(b':');
        let mut values = headers.get_all(*name).iter().peekable();
        if values.peek().is_none()
            && name.eq_ignore_ascii_case("host")
            && let Some(authority) = uri.authority()
        {
            let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
            push_trimmed(&mut out, host_port.as_bytes());
        }
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out
}

fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let words = value
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty());
    for (i, word) in words.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
}

/// The whole canonical request. `path` is the raw path as sent (S3 neither
/// normalises nor re-encodes it); an empty one is `/`.
pub(crate) fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[u8],
    signed_headers: &str,
    payload: &str,
) -> Vec<u8> {
    let path = if path.is_empty() { "/" } else { path };
    let mut out = Vec::with_capacity(
        method.len() + path.len() + query.len() + headers.len() + signed_headers.len() + 80,
    );
    for part in [method, path, query] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(headers);
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str, plus_as_space: bool) -> String {
        canonical_query(&parse_query(raw, plus_as_space), |_| false)
    }

    #[test]
    fn the_query_is_decoded_reencoded_and_sorted() {
        assert_eq!(canonical("", true), "");
        assert_eq!(canonical("b=2&a=1&a=0", true), "a=0&a=1&b=2");
        assert_eq!(canonical("uploads", true), "uploads=");
        assert_eq!(canonical("acl=&x", true), "acl=&x=");
        assert_eq!(canonical("a&&b=", true), "a=&b=");
        assert_eq!(canonical("k=a%2fb%7e", true), "k=a%2Fb~");
        assert_eq!(canonical("k=a b!*'()", true), "k=a%20b%21%2A%27%28%29");
        assert_eq!(canonical("k=%E2%82%AC", true), "k=%E2%82%AC");
        assert_eq!(canonical("k=100%", true), "k=100%25");
        assert_eq!(canonical("k=%zz", true), "k=%25zz");
        assert_eq!(canonical("k=1=2", true), "k=1%3D2");
        // Sorting is on the encoded names: "a%20" < "a-" ('%' < '-').
        assert_eq!(canonical("a-=1&a%20=2", true), "a%20=2&a-=1");
    }

    #[test]
    fn a_raw_plus_is_a_space_or_itself_and_an_encoded_plus_is_a_plus() {
        assert_eq!(canonical("p=a+b&q=c%2Bd", true), "p=a%20b&q=c%2Bd");
        assert_eq!(canonical("p=a+b&q=c%2Bd", false), "p=a%2Bb&q=c%2Bd");
    }

    #[test]
    fn header_values_are_trimmed_collapsed_and_joined() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.com".parse().unwrap());
        headers.append("x-amz-meta-a", "  one   two\t three ".parse().unwrap());
        headers.append("x-amz-meta-a", "four".parse().unwrap());
        let uri: Uri = "/".parse().unwrap();
        let block = canonical_headers(&headers, &uri, &["host", "x-amz-meta-a", "x-amz-meta-b"]);
        assert_eq!(
            String::from_utf8(block).unwrap(),
            "host:example.com\nx-amz-meta-a:one two three,four\nx-amz-meta-b:\n"
        );
    }

    #[test]
    fn a_missing_host_header_falls_back_to_the_authority() {
        let uri: Uri = "https://user@bucket.example.com:9000/key".parse().unwrap();
        let block = canonical_headers(&HeaderMap::new(), &uri, &["host"]);
        assert_eq!(block, b"host:bucket.example.com:9000\n");
    }
}
