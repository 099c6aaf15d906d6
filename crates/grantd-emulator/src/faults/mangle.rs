//! Turning a good answer into a broken one, for `malformed` faults.

use super::Malformed;

/// Breaks a rendered successful answer at the text level; returns the body
/// and its content type. [`Malformed::Expired`] is applied earlier, to the
/// credentials themselves, and leaves the text alone here.
pub(crate) fn mangle(kind: Malformed, body: String) -> (String, &'static str) {
    const XML: &str = "application/xml";
    match kind {
        Malformed::Truncated => {
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            (body[..cut].to_string(), XML)
        }
        Malformed::NotXml => (
            "grantd emulator: injected answer that is not XML\n".to_string(),
            "text/plain",
        ),
        Malformed::MissingField => (remove_element(&body, "SessionToken"), XML),
        Malformed::BadExpiration => (replace_text(&body, "Expiration", "soon"), XML),
        Malformed::Expired => (body, XML),
    }
}

fn remove_element(body: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    match (body.find(&open), body.find(&close)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{}", &body[..start], &body[end + close.len()..])
        }
        _ => body.to_string(),
    }
}

fn replace_text(body: &str, name: &str, text: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    match (body.find(&open), body.find(&close)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{text}{}", &body[..start + open.len()], &body[end..])
        }
        _ => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mangling_removes_or_breaks_fields() {
        let body =
            "<R><SessionToken>tok</SessionToken><Expiration>2026-01-01T00:00:00Z</Expiration></R>";
        assert_eq!(
            mangle(Malformed::MissingField, body.into()).0,
            "<R><Expiration>2026-01-01T00:00:00Z</Expiration></R>"
        );
        assert_eq!(
            mangle(Malformed::BadExpiration, body.into()).0,
            "<R><SessionToken>tok</SessionToken><Expiration>soon</Expiration></R>"
        );
        assert_eq!(
            mangle(Malformed::Truncated, body.into()).0.len(),
            body.len() / 2
        );
    }
}
