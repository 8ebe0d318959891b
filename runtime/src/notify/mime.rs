//! An [`Email`] as a raw MIME message (RFC 2045-2049): `multipart/mixed`
//! with the text and HTML parts as `multipart/alternative`, then each
//! attachment, every part base64 in lines of 76. SES v2 sends it as `Raw`
//! content. Deterministic (no date or message id: SES adds both), so its
//! size is known before sending.

use super::ports::Email;
use aws_smithy_types::base64;

// `=_` never occurs in base64, so no part can contain a boundary.
const MIXED: &str = "=_rekey_mixed_0";
const ALTERNATIVE: &str = "=_rekey_alternative_0";

/// The message's bytes.
pub fn message(email: &Email) -> Vec<u8> {
    let mut out = String::new();
    header(&mut out, "From", &email.from);
    header(&mut out, "To", &email.to);
    header(&mut out, "Subject", &encoded_word(&email.subject));
    header(&mut out, "MIME-Version", "1.0");
    header(&mut out, "Content-Type", &format!("multipart/mixed; boundary=\"{MIXED}\""));
    out.push_str("\r\n");
    out.push_str(&format!("--{MIXED}\r\n"));
    header(&mut out, "Content-Type", &format!("multipart/alternative; boundary=\"{ALTERNATIVE}\""));
    out.push_str("\r\n");
    for (kind, body) in [("text/plain", &email.text), ("text/html", &email.html)] {
        out.push_str(&format!("--{ALTERNATIVE}\r\n"));
        header(&mut out, "Content-Type", &format!("{kind}; charset=UTF-8"));
        body_base64(&mut out, body.as_bytes());
    }
    out.push_str(&format!("--{ALTERNATIVE}--\r\n"));
    for a in &email.attachments {
        let name = header_safe(&a.file_name);
        out.push_str(&format!("--{MIXED}\r\n"));
        header(&mut out, "Content-Type", &format!("{}; charset=UTF-8; name=\"{name}\"", header_safe(&a.content_type)));
        header(&mut out, "Content-Disposition", &format!("attachment; filename=\"{name}\""));
        body_base64(&mut out, &a.data);
    }
    out.push_str(&format!("--{MIXED}--\r\n"));
    out.into_bytes()
}

fn header(out: &mut String, name: &str, value: &str) {
    // One line: a line break in a value would start another header.
    let value: String = value.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
    out.push_str(&format!("{name}: {value}\r\n"));
}

fn body_base64(out: &mut String, data: &[u8]) {
    out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    let encoded = base64::encode(data);
    for line in encoded.as_bytes().chunks(76) {
        // Base64 is ASCII.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
}

/// The subject as is when it is printable ASCII, else as an RFC 2047 word.
fn encoded_word(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64::encode(text.as_bytes()))
    }
}

/// Letters, digits and `./_-+;= ` only (names rekey makes are already so).
fn header_safe(value: &str) -> String {
    value.chars().map(|c| if c.is_ascii_alphanumeric() || "./_-+;= ".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::attachment::encoded_len;
    use crate::notify::ports::Attachment;

    fn email(attachments: Vec<Attachment>) -> Email {
        Email {
            from: "rekey@example.com".into(),
            to: "sec@example.com".into(),
            subject: "Schlüssel\r\nBcc: x@evil.example".into(),
            html: "<p>h</p>".into(),
            text: "t".into(),
            attachments,
        }
    }

    #[test]
    fn attachments_are_base64_parts_and_the_subject_cannot_add_a_header() {
        let csv =
            Attachment { file_name: "r\"x\".csv".into(), content_type: "text/csv".into(), data: b"a,b\r\n".to_vec() };
        let raw = String::from_utf8(message(&email(vec![csv]))).unwrap();
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(raw.contains("Subject: =?UTF-8?B?"), "{raw}");
        assert!(raw.contains("Content-Disposition: attachment; filename=\"r_x_.csv\"\r\n"), "{raw}");
        assert!(raw.contains(&base64::encode(b"a,b\r\n")), "{raw}");
        assert!(raw.ends_with(&format!("--{MIXED}--\r\n")));
        assert!(raw.lines().all(|l| l.len() <= 998), "SMTP's line limit");
    }

    #[test]
    fn the_size_estimate_matches_the_encoding() {
        for n in [0, 1, 56, 57, 58, 1000, 123_457] {
            let mut out = String::new();
            body_base64(&mut out, &vec![b'x'; n]);
            let body = out.len() - "Content-Transfer-Encoding: base64\r\n\r\n".len();
            assert_eq!(body, encoded_len(n), "{n} bytes");
        }
    }
}
