//! A strict, bounded reader of S3's small XML documents into a tree.
//!
//! `xmlparser` tokenizes (and refuses characters XML forbids); this module
//! adds what it leaves out: matching end tags, one root, no DTD (so no
//! entity expansion at all), the five predefined entities and character
//! references, CDATA, and XML's end-of-line normalisation (a literal CR LF
//! or CR is a LF; `&#13;` stays a CR, which is how S3 keys keep theirs).
//! Names are matched by local name; namespaces and attributes are ignored.

use xmlparser::{ElementEnd, Token, Tokenizer};

use super::clip;

/// Deepest nesting any S3 document here needs, with room to spare.
const MAX_DEPTH: usize = 16;
/// Most elements read: 1000 objects of 6 elements each, or 1000 results of
/// 5, fit with room; a flood of empty elements does not.
const MAX_ELEMENTS: usize = 16_384;

#[derive(Debug, Default)]
pub(crate) struct Element {
    /// Local name, without prefix.
    pub name: String,
    pub children: Vec<Element>,
    /// All character data directly inside, decoded.
    pub text: String,
}

impl Element {
    /// Whether only whitespace sits between the children.
    pub fn text_is_blank(&self) -> bool {
        self.text.trim_matches([' ', '\t', '\n', '\r']).is_empty()
    }
}

/// One element being read, with its name as written for the end tag check.
struct Open<'a> {
    prefix: &'a str,
    local: &'a str,
    element: Element,
}

/// The document's root element, or why the body is not well-formed XML.
pub(crate) fn parse(body: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_string())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    for token in Tokenizer::from(text) {
        match token.map_err(|e| e.to_string())? {
            Token::Declaration { .. } | Token::ProcessingInstruction { .. } => {}
            Token::Comment { .. } | Token::Attribute { .. } => {}
            Token::DtdStart { .. }
            | Token::EmptyDtd { .. }
            | Token::EntityDeclaration { .. }
            | Token::DtdEnd { .. } => return Err("a DTD is not accepted".into()),
            Token::ElementStart { prefix, local, .. } => {
                if root.is_some() {
                    return Err("more than one root element".into());
                }
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err("document too deep or too large".into());
                }
                stack.push(Open {
                    prefix: prefix.as_str(),
                    local: local.as_str(),
                    element: Element {
                        name: local.as_str().to_string(),
                        ..Element::default()
                    },
                });
            }
            Token::ElementEnd { end, .. } => {
                let close = match end {
                    ElementEnd::Open => continue,
                    ElementEnd::Empty => None,
                    ElementEnd::Close(prefix, local) => Some((prefix.as_str(), local.as_str())),
                };
                let open = stack.pop().ok_or("end tag without start tag")?;
                if let Some((prefix, local)) = close
                    && (prefix, local) != (open.prefix, open.local)
                {
                    return Err(format!("</{}> closes <{}>", clip(local), clip(open.local)));
                }
                match stack.last_mut() {
                    Some(parent) => parent.element.children.push(open.element),
                    None => root = Some(open.element),
                }
            }
            Token::Text { text } => match stack.last_mut() {
                Some(open) => unescape_into(text.as_str(), &mut open.element.text)?,
                None if is_blank(text.as_str()) => {}
                None => return Err("text outside the root element".into()),
            },
            Token::Cdata { text, .. } => match stack.last_mut() {
                Some(open) => normalise_eol(text.as_str(), &mut open.element.text),
                None => return Err("CDATA outside the root element".into()),
            },
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{}> is never closed", clip(open.local)));
    }
    root.ok_or_else(|| "no root element".into())
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Literal text: CR LF and lone CR become LF.
fn normalise_eol(text: &str, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            chars.next_if_eq(&'\n');
            out.push('\n');
        } else {
            out.push(c);
        }
    }
}

/// Character data with its references decoded.
fn unescape_into(text: &str, out: &mut String) -> Result<(), String> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        normalise_eol(&rest[..amp], out);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .filter(|&i| i <= 10)
            .ok_or("'&' that starts no reference")?;
        let name = &after[..semi];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                char_reference(name).ok_or_else(|| format!("unknown reference &{};", clip(name)))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    normalise_eol(rest, out);
    Ok(())
}

/// `#123` or `#x7B`; not NUL, not a surrogate.
fn char_reference(name: &str) -> Option<char> {
    let digits = name.strip_prefix('#')?;
    let code = match digits.strip_prefix('x') {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()?
        }
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok()?
        }
        _ => return None,
    };
    char::from_u32(code).filter(|&c| c != '\0')
}
