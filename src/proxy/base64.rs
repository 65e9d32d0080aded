//! Base64 decoding, canonical forms only (a corrupt value never decodes by accident): the
//! standard alphabet with padding (`Mcp-Name`'s `=?base64?…?=` sentinel, `http::headers`) and
//! the URL-safe alphabet without padding (JSON Web Tokens and keys, `http::jwt`).

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard padded base64; refuses non-canonical input (bad length, stray bits, bad chars).
pub fn decode_padded(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let pad = bytes.iter().rev().take_while(|b| **b == b'=').count();
    if pad > 2 {
        return None;
    }
    decode(&bytes[..bytes.len() - pad], STANDARD)
}

/// URL-safe base64 without padding (RFC 7515 §2); refuses padding and stray bits.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    decode(bytes, URL_SAFE)
}

fn decode(symbols: &[u8], alphabet: &[u8; 64]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3 + 2);
    let mut bits = 0u32;
    let mut nbits = 0;
    for &b in symbols {
        let v = alphabet.iter().position(|a| *a == b)?;
        bits = ((bits << 6) | u32::try_from(v).ok()?) & 0xffff;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push(u8::try_from((bits >> nbits) & 0xff).ok()?);
        }
    }
    // Leftover bits must be zero (canonical form).
    (bits & ((1 << nbits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_alphabets_decode_canonical_text_only() {
        assert_eq!(decode_padded("w6l0w6k=").unwrap(), "été".as_bytes());
        assert_eq!(decode_padded("ZW="), None);
        assert_eq!(decode_padded("ZWNobx=="), None);
        assert_eq!(decode_padded("ZWNobw"), None, "padding required");
        assert_eq!(decode_url("ZWNobw").unwrap(), b"echo");
        assert_eq!(decode_url("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_url("ZWNobw=="), None, "no padding");
        assert_eq!(decode_url("+/8"), None, "not the URL-safe alphabet");
        assert_eq!(decode_url("ZWNobx"), None, "stray bits");
        assert_eq!(decode_url("Z"), None);
        assert_eq!(decode_url("").unwrap(), b"");
    }

    proptest::proptest! {
        #[test]
        fn url_safe_text_of_any_bytes_decodes_back(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let mut text = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    text.push(char::from(URL_SAFE[((n >> (18 - 6 * i)) & 63) as usize]));
                }
            }
            proptest::prop_assert_eq!(decode_url(&text), Some(bytes));
        }
    }
}
