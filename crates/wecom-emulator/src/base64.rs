//! Base64 decoding (RFC 4648, standard alphabet) for robot image messages.
//!
//! Strict on purpose: padding is required and nothing else (no line breaks, no URL-safe
//! alphabet) is accepted, so a client that sends anything but canonical base64 finds out here
//! rather than against the real robot.

/// The decoded bytes, or `None` if `text` is not canonical base64.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let last_quad = bytes.len().saturating_sub(4);
    for (start, quad) in (0..).step_by(4).zip(bytes.chunks_exact(4)) {
        let pad = if start == last_quad { padding } else { 0 };
        let mut group = 0u32;
        for &symbol in &quad[..4 - pad] {
            group = (group << 6) | u32::from(sextet(symbol)?);
        }
        group <<= 6 * pad;
        let [_, b0, b1, b2] = group.to_be_bytes();
        out.extend_from_slice(&[b0, b1, b2][..3 - pad]);
    }
    Some(out)
}

fn sextet(symbol: u8) -> Option<u8> {
    match symbol {
        b'A'..=b'Z' => Some(symbol - b'A'),
        b'a'..=b'z' => Some(symbol - b'a' + 26),
        b'0'..=b'9' => Some(symbol - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_base64_decodes_the_rfc_4648_vectors() {
        for (encoded, decoded) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(decode(encoded).as_deref(), Some(decoded.as_bytes()));
        }
        assert_eq!(
            decode("iVBORw0KGgpmYWtl").as_deref(),
            Some(&b"\x89PNG\r\n\x1a\nfake"[..])
        );
        assert_eq!(decode("+/+/").as_deref(), Some(&[0xfb, 0xff, 0xbf][..]));
    }

    #[test]
    fn emulator_base64_rejects_anything_not_canonical() {
        for bad in [
            "Zg",         // missing padding
            "Zg=",        // short padding
            "Z===",       // too much padding
            "Zg==Zg==",   // padding in the middle
            "Zm9v\nYmFy", // line break
            "Zm9v YmFy",  // space
            "-_-_",       // URL-safe alphabet
            "Zm9=Zm9v",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
