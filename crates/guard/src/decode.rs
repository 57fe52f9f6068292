//! Decoding shared by the detectors.

/// Decodes base64 in either alphabet (standard `+/` or URL-safe `-_`, even mixed), with or
/// without padding; `None` at the first byte outside both. Lenient on purpose: the detectors
/// look inside whatever an attacker or a service wrote, not at well-formed input only.
pub(crate) fn base64_any_alphabet(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6 | u32::from(v)) & 0xff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_any_alphabet;

    #[test]
    fn both_alphabets_with_and_without_padding() {
        assert_eq!(
            base64_any_alphabet("dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        let url_safe = base64_any_alphabet("Pz8_Pz8-");
        assert!(url_safe.is_some());
        assert_eq!(url_safe, base64_any_alphabet("Pz8/Pz8+"));
        assert_eq!(base64_any_alphabet("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_any_alphabet("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_any_alphabet("not base64!"), None);
    }
}
