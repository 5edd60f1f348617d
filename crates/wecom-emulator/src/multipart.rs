//! A small `multipart/form-data` reader (RFC 7578 over RFC 2046), enough for WeCom uploads.
//!
//! Parts borrow their data from the body, so a 20 MB upload is never copied. Line breaks must
//! be CRLF, as the RFCs and every real client have them. Only the headers WeCom cares about
//! are read: `Content-Disposition` (`name`, `filename`) and `Content-Type`; RFC 5987
//! `filename*` is not supported.

/// One part of a form.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Part<'a> {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: &'a [u8],
}

/// Why a body is not a well-formed multipart body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed(pub &'static str);

const CRLF: &[u8] = b"\r\n";

/// The boundary of a `multipart/form-data` Content-Type; `None` for any other type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut fields = split_params(content_type);
    let media_type = fields.next()?.trim();
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = fields
        .filter_map(|field| field.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| unquote(value.trim()))?;
    // RFC 2046: 1 to 70 characters.
    (1..=70).contains(&boundary.len()).then_some(boundary)
}

/// The parts of `body`, in order.
pub(crate) fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, Malformed> {
    let dash_boundary = [b"--", boundary.as_bytes()].concat();
    // Every delimiter but the first is preceded by a CRLF that belongs to it.
    let delimiter = [CRLF, &dash_boundary].concat();

    // The first delimiter opens the body or ends a preamble.
    let mut at = if body.starts_with(&dash_boundary) {
        0
    } else {
        find(body, &delimiter, 0).ok_or(Malformed("no boundary found"))? + CRLF.len()
    };
    let mut parts = Vec::new();
    loop {
        at += dash_boundary.len();
        if body[at..].starts_with(b"--") {
            // The close delimiter; anything after it is an epilogue to ignore.
            return Ok(parts);
        }
        // Transport padding may follow a delimiter before its line break.
        at += body[at..]
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !body[at..].starts_with(CRLF) {
            return Err(Malformed("a boundary line must end with CRLF"));
        }
        at += CRLF.len();

        let (headers, data_start) = if body[at..].starts_with(CRLF) {
            (&body[at..at], at + CRLF.len())
        } else {
            let end = find(body, b"\r\n\r\n", at).ok_or(Malformed("unterminated part headers"))?;
            (&body[at..end], end + 4)
        };
        let data_end =
            find(body, &delimiter, data_start).ok_or(Malformed("missing close delimiter"))?;
        parts.push(part(headers, &body[data_start..data_end]));
        at = data_end + CRLF.len();
    }
}

fn part<'a>(headers: &[u8], data: &'a [u8]) -> Part<'a> {
    let mut part = Part {
        name: None,
        filename: None,
        content_type: None,
        data,
    };
    let headers = String::from_utf8_lossy(headers);
    for line in headers.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-type") {
            part.content_type = Some(value.trim().to_owned());
        } else if name.eq_ignore_ascii_case("content-disposition") {
            for field in split_params(value).skip(1) {
                let Some((key, value)) = field.split_once('=') else {
                    continue;
                };
                let key = key.trim();
                if key.eq_ignore_ascii_case("name") {
                    part.name = Some(unquote(value.trim()));
                } else if key.eq_ignore_ascii_case("filename") {
                    part.filename = Some(unquote(value.trim()));
                }
            }
        }
    }
    part
}

/// Splits a header value on the `;` that are not inside a quoted string.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// A parameter value without its quotes and backslash escapes.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// The first index at or after `from` where `needle` starts.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(haystack.get(from..)?, needle).map(|at| from + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "----wecom7MA4YWxkTrZu0gW";

    fn body(parts: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(format!("--{B}\r\n{part}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
        out
    }

    #[test]
    fn emulator_multipart_boundary_from_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary(r#"Multipart/Form-Data;charset=utf-8; BOUNDARY="a;b c""#).as_deref(),
            Some("a;b c")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/mixed; boundary=abc"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
            None
        );
    }

    #[test]
    fn emulator_multipart_reads_fields_and_files() {
        let body = body(&[
            "Content-Disposition: form-data; name=\"note\"\r\n\r\nhello",
            "content-disposition: form-data; name=\"media\"; filename=\"a \\\"b\\\".png\"; filelength=6\r\nContent-Type: image/png\r\n\r\n\r\n--x\r\n",
        ]);
        let parts = parse(&body, B).unwrap();
        assert_eq!(
            parts,
            vec![
                Part {
                    name: Some("note".into()),
                    filename: None,
                    content_type: None,
                    data: b"hello",
                },
                Part {
                    name: Some("media".into()),
                    filename: Some("a \"b\".png".into()),
                    content_type: Some("image/png".into()),
                    // Data may hold CRLF and dashes: only CRLF + "--" + boundary ends it.
                    data: b"\r\n--x\r\n",
                },
            ]
        );
    }

    #[test]
    fn emulator_multipart_skips_preamble_epilogue_and_padding() {
        let body = format!(
            "preamble\r\n--{B}  \t\r\nContent-Disposition: form-data; name=media; filename=f.txt\r\n\r\nabc\r\n--{B}--epilogue"
        );
        let parts = parse(body.as_bytes(), B).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name.as_deref(), Some("media"));
        assert_eq!(parts[0].filename.as_deref(), Some("f.txt"));
        assert_eq!(parts[0].data, b"abc");
    }

    #[test]
    fn emulator_multipart_allows_a_part_without_headers_and_empty_data() {
        let body = format!("--{B}\r\n\r\n\r\n--{B}--");
        let parts = parse(body.as_bytes(), B).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].name, None);
        assert_eq!(parts[0].data, b"");
        assert_eq!(parse(format!("--{B}--").as_bytes(), B).unwrap(), vec![]);
    }

    #[test]
    fn emulator_multipart_rejects_malformed_bodies() {
        let unterminated = format!("--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\nabc");
        let no_crlf = format!("--{B}Content-Disposition: form-data\r\n\r\nabc\r\n--{B}--");
        let bare_lf = format!("--{B}\nContent-Disposition: form-data\n\nabc\n--{B}--");
        let headers_never_end = format!("--{B}\r\nContent-Disposition: form-data");
        for (body, why) in [
            ("no boundary here".to_owned(), "no boundary found"),
            (unterminated, "missing close delimiter"),
            (no_crlf, "a boundary line must end with CRLF"),
            (bare_lf, "a boundary line must end with CRLF"),
            (headers_never_end, "unterminated part headers"),
        ] {
            assert_eq!(parse(body.as_bytes(), B), Err(Malformed(why)), "{body:?}");
        }
    }

    #[test]
    fn emulator_multipart_find() {
        assert_eq!(find(b"abcabc", b"bc", 0), Some(1));
        assert_eq!(find(b"abcabc", b"bc", 2), Some(4));
        assert_eq!(find(b"abcabc", b"bc", 5), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
        assert_eq!(find(b"aab", b"ab", 0), Some(1));
    }
}
