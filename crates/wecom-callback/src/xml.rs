//! WeCom's XML ↔ a JSON tree: [`parse_message`] reads callbacks (and envelopes), [`write_xml`]
//! writes replies (and, for the emulator, callbacks).
//!
//! The tree has one rule both ways: an element with children is an object, a leaf is a string,
//! and a child name that occurs more than once is an array of those values, in order. So
//! `<PicList><item>a</item><item>b</item></PicList>` is `{"PicList": {"item": ["a", "b"]}}`,
//! and news articles are written from `{"Articles": {"item": [{..}, {..}]}}`.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

use crate::error::{CallbackError, ErrorKind};
use crate::{MAX_BODY, MAX_DEPTH};

/// The elements a callback or a reply starts with, in WeCom's order; [`write_xml`] writes them
/// first at the top level, and the rest after them in the tree's (sorted) key order.
const HEADER: [&str; 5] = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Event",
];

/// Parses a WeCom XML message (a decrypted callback, an envelope, a reply) into a tree: the root
/// `<xml>`'s children become a JSON object; a leaf element is a string (its text and CDATA,
/// the five predefined entities and character references resolved, line ends normalised as XML
/// requires); an element with children is an object; a child name seen more than once becomes
/// an array of those values in document order (one `<item>` stays a plain value, so readers of
/// `PicList`, `SelectedItems`, `OptionIds` accept both). Every field is optional and unknown
/// fields are kept; attributes and comments are ignored.
///
/// Refused as [`ErrorKind::Malformed`]: input that is not UTF-8, not well formed, whose root is
/// not `<xml>`, a DOCTYPE (so no DTD and no custom entity: "billion laughs" cannot start), an
/// entity other than `&lt; &gt; &amp; &apos; &quot;`, a processing instruction other than the
/// leading XML declaration, an encoding other than UTF-8, text beside child elements, nesting
/// deeper than [`MAX_DEPTH`]. Input over [`MAX_BODY`] is [`ErrorKind::TooLarge`].
pub fn parse_message(xml: &[u8]) -> Result<Map<String, Value>, CallbackError> {
    if xml.len() > MAX_BODY {
        return Err(CallbackError::new(
            ErrorKind::TooLarge,
            format!(
                "the XML is {} bytes, over the {MAX_BODY}-byte limit",
                xml.len()
            ),
        ));
    }
    let text =
        std::str::from_utf8(xml).map_err(|_| CallbackError::malformed("the XML is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.expand_empty_elements = true;

    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Map<String, Value>> = None;
    let mut first = true;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| CallbackError::malformed(format!("ill-formed XML: {e}")))?;
        let was_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(decl) => {
                if !was_first {
                    return Err(CallbackError::malformed(
                        "an XML declaration after the start of the document",
                    ));
                }
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding
                        .map_err(|e| CallbackError::malformed(format!("ill-formed XML: {e}")))?;
                    if !encoding.eq_ignore_ascii_case("utf-8") {
                        return Err(CallbackError::malformed(
                            "the XML declares an encoding other than UTF-8",
                        ));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(CallbackError::malformed(
                    "the XML has a DOCTYPE (DTDs and entities are refused)",
                ))
            }
            Event::PI(_) => {
                return Err(CallbackError::malformed(
                    "the XML has a processing instruction",
                ))
            }
            Event::Comment(_) => {}
            Event::Start(start) => open_element(&mut stack, &root, start.name().0)?,
            Event::Empty(empty) => {
                // Not produced while expand_empty_elements is set; handled the same all the same.
                open_element(&mut stack, &root, empty.name().0)?;
                close_element(&mut stack, &mut root)?;
            }
            // check_end_names has matched the name.
            Event::End(_) => close_element(&mut stack, &mut root)?,
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(frame) => frame.text.push_str(&content),
                    None if is_xml_space(&content) => {}
                    None => return Err(CallbackError::malformed("text outside the root element")),
                }
            }
            Event::CData(c) => match stack.last_mut() {
                Some(frame) => frame.text.push_str(&c.xml10_content()),
                None => return Err(CallbackError::malformed("CDATA outside the root element")),
            },
            Event::GeneralRef(r) => {
                let Some(frame) = stack.last_mut() else {
                    return Err(CallbackError::malformed(
                        "an entity outside the root element",
                    ));
                };
                let ch = match &*r {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "apos" => '\'',
                    "quot" => '"',
                    _ => match r.resolve_char_ref() {
                        Ok(Some(ch)) => ch,
                        Ok(None) => {
                            return Err(CallbackError::malformed(
                                "the XML uses an entity that XML does not predefine",
                            ))
                        }
                        Err(_) => {
                            return Err(CallbackError::malformed(
                                "the XML has an invalid character reference",
                            ))
                        }
                    },
                };
                frame.text.push(ch);
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CallbackError::malformed(
            "ill-formed XML: the document ends inside an element",
        ));
    }
    root.ok_or_else(|| CallbackError::malformed("the XML has no root element"))
}

fn open_element(
    stack: &mut Vec<Frame>,
    root: &Option<Map<String, Value>>,
    name: &str,
) -> Result<(), CallbackError> {
    if stack.is_empty() {
        if root.is_some() {
            return Err(CallbackError::malformed("the XML has more than one root"));
        }
        if name != "xml" {
            return Err(CallbackError::malformed("the root element is not <xml>"));
        }
    }
    if stack.len() >= MAX_DEPTH {
        return Err(CallbackError::malformed(format!(
            "the XML nests deeper than {MAX_DEPTH} elements"
        )));
    }
    stack.push(Frame::new(name.to_owned()));
    Ok(())
}

fn close_element(
    stack: &mut Vec<Frame>,
    root: &mut Option<Map<String, Value>>,
) -> Result<(), CallbackError> {
    let frame = stack
        .pop()
        .ok_or_else(|| CallbackError::malformed("ill-formed XML: an unmatched end tag"))?;
    let (name, value) = frame.finish()?;
    match stack.last_mut() {
        Some(parent) => parent.add_child(name, value),
        None => {
            *root = Some(match value {
                Value::Object(map) => map,
                Value::String(s) if is_xml_space(&s) => Map::new(), // <xml></xml>
                _ => return Err(CallbackError::malformed("text directly inside <xml>")),
            })
        }
    }
    Ok(())
}

/// An element being read: its name, the text seen so far and its children.
struct Frame {
    name: String,
    text: String,
    children: Map<String, Value>,
}

impl Frame {
    fn new(name: String) -> Self {
        Frame {
            name,
            text: String::new(),
            children: Map::new(),
        }
    }

    fn add_child(&mut self, name: String, value: Value) {
        // Parsed values are never arrays themselves, so an array here is one made by a repeat.
        match self.children.get_mut(&name) {
            None => {
                self.children.insert(name, value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }

    fn finish(self) -> Result<(String, Value), CallbackError> {
        if self.children.is_empty() {
            return Ok((self.name, Value::String(self.text)));
        }
        if !is_xml_space(&self.text) {
            return Err(CallbackError::malformed(
                "an element has both text and child elements",
            ));
        }
        Ok((self.name, Value::Object(self.children)))
    }
}

fn is_xml_space(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Writes a tree as WeCom XML under `<xml>`, the inverse of [`parse_message`]: a string becomes
/// CDATA (a `]]>` inside is split across two sections, a carriage return is written as `&#13;`
/// so that XML's line-end normalisation keeps it), a number or a boolean plain text, null an
/// empty element, an object nested elements, an array repeated elements of the key's name (an
/// empty array writes nothing). At the top level `ToUserName`, `FromUserName`, `CreateTime`,
/// `MsgType`, `Event` come first, in that order; other keys follow in the map's order.
///
/// So `parse_message(write_xml(t)) == t` for every tree of strings, non-empty objects and
/// arrays of two or more items (a one-item array reads back as its item, an empty object as
/// `""`, a number or a boolean as its text). News articles are written from
/// `{"Articles": {"item": [{..}, {..}]}}` as `<Articles><item>..</item><item>..</item></Articles>`.
///
/// Refused as [`ErrorKind::Config`]: a key that is not an XML element name, an array directly
/// inside an array (it has no XML form), nesting deeper than [`MAX_DEPTH`] (counting `<xml>`).
pub fn write_xml(tree: &Map<String, Value>) -> Result<String, CallbackError> {
    let mut out = String::with_capacity(256);
    out.push_str("<xml>");
    for name in HEADER {
        if let Some(value) = tree.get(name) {
            write_element(&mut out, name, value, 2)?;
        }
    }
    for (name, value) in tree {
        if !HEADER.contains(&name.as_str()) {
            write_element(&mut out, name, value, 2)?;
        }
    }
    out.push_str("</xml>");
    Ok(out)
}

fn write_element(
    out: &mut String,
    name: &str,
    value: &Value,
    depth: usize,
) -> Result<(), CallbackError> {
    if !is_xml_name(name) {
        return Err(CallbackError::new(
            ErrorKind::Config,
            format!("{:?} is not an XML element name", truncate(name, 64)),
        ));
    }
    if depth > MAX_DEPTH {
        return Err(CallbackError::new(
            ErrorKind::Config,
            format!("the tree nests deeper than {MAX_DEPTH} elements"),
        ));
    }
    if let Value::Array(items) = value {
        for item in items {
            if item.is_array() {
                return Err(CallbackError::new(
                    ErrorKind::Config,
                    format!("{name:?} holds an array directly inside an array"),
                ));
            }
            write_element(out, name, item, depth)?;
        }
        return Ok(());
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::String(s) => push_cdata(out, s),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => {}
        Value::Object(children) => {
            for (child, v) in children {
                write_element(out, child, v, depth + 1)?;
            }
        }
        Value::Array(_) => unreachable!("handled above"),
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}

/// Appends `s` as CDATA: `]]>` is split as `]]` + `>` across two sections, and `\r` goes
/// between sections as `&#13;` (a literal one would read back as `\n`).
pub(crate) fn push_cdata(out: &mut String, s: &str) {
    let mut rest = s;
    loop {
        let cut = match (rest.find("]]>"), rest.find('\r')) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(at) = cut else { break };
        if rest[at..].starts_with('\r') {
            if at > 0 {
                push_section(out, &rest[..at]);
            }
            out.push_str("&#13;");
            rest = &rest[at + 1..];
        } else {
            push_section(out, &rest[..at + 2]);
            rest = &rest[at + 2..];
        }
    }
    if !rest.is_empty() || s.is_empty() {
        push_section(out, rest);
    }
}

fn push_section(out: &mut String, s: &str) {
    out.push_str("<![CDATA[");
    out.push_str(s);
    out.push_str("]]>");
}

/// Appends `s` as escaped character data.
pub(crate) fn push_text(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => out.push_str("&#13;"),
            _ => out.push(ch),
        }
    }
}

/// An XML `Name` (ASCII and Unicode letters and digits, `_ : - .`, not starting with a digit,
/// `-` or `.`).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.' | '\u{b7}'))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_splits_terminators_and_keeps_carriage_returns() {
        let mut out = String::new();
        push_cdata(&mut out, "a]]>b\r\nc");
        assert_eq!(out, "<![CDATA[a]]]]><![CDATA[>b]]>&#13;<![CDATA[\nc]]>");
        let mut empty = String::new();
        push_cdata(&mut empty, "");
        assert_eq!(empty, "<![CDATA[]]>");
    }

    #[test]
    fn xml_names() {
        assert!(is_xml_name("ToUserName"));
        assert!(is_xml_name("Location_X"));
        assert!(is_xml_name("a.b-c"));
        assert!(!is_xml_name(""));
        assert!(!is_xml_name("1a"));
        assert!(!is_xml_name("a b"));
        assert!(!is_xml_name("a><b"));
    }
}
