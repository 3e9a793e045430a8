//! Bounding text that comes from outside — providers' messages, scripts' and plugins' errors —
//! before it is stored, logged or answered: a script can raise an error of any size, and a
//! provider can send any message; neither may grow a row or a log line without bound. What
//! cannot be cut (identifiers, URLs) is checked and refused instead.

/// `text` cut to at most `max` characters, saying how much was left out.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} more bytes)", &text[..end], text.len() - end),
    }
}

/// The longest provider identifier kept (a payment's, a refund's, a reference).
pub const ID_MAX: usize = 128;

/// Why `id` cannot be kept as a provider's identifier, if it cannot. Identifiers are stored and
/// looked up whole, so one too long or with anything but printable ASCII is refused, never cut:
/// a shortened id would find the wrong payment, or none.
pub fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("is empty".into())
    } else if id.len() > ID_MAX {
        Some(format!("has {} bytes, more than {ID_MAX}", id.len()))
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        Some("holds characters other than printable ASCII".into())
    } else {
        None
    }
}

/// The longest URL a payer is sent to.
pub const URL_MAX: usize = 2048;

/// Whether `url` is one a payer's browser may be sent to: absolute http(s) with a host, bounded,
/// and without control characters or spaces (URL parsers drop some of them, which would turn
/// `java\nscript:` into `javascript:`).
pub fn is_web_url(url: &str) -> bool {
    web_url_problem(url).is_none()
}

/// What keeps `url` from being one a payer's browser may be sent to (see `is_web_url`).
pub fn web_url_problem(url: &str) -> Option<&'static str> {
    let rest = ["http://", "https://"].iter().find_map(|scheme| {
        url.get(..scheme.len()).filter(|s| s.eq_ignore_ascii_case(scheme)).map(|_| &url[scheme.len()..])
    });
    if url.len() > URL_MAX {
        return Some("must be at most 2048 bytes");
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Some("must not hold control characters or spaces");
    }
    // A parser makes a host of what follows `http:///`; a browser may not.
    match rest {
        None => Some("must be an http:// or https:// URL"),
        Some(rest) if rest.is_empty() || rest.starts_with(['/', '?', '#', '\\']) => Some("must name a host"),
        Some(_) if !reqwest::Url::parse(url).is_ok_and(|u| u.host().is_some()) => Some("must name a host"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 2), "éé… (6 more bytes)");
        assert_eq!(clip(&"x".repeat(1_000_000), 5), "xxxxx… (999995 more bytes)");
    }

    #[test]
    fn ids_are_bounded_printable_ascii() {
        assert_eq!(id_problem("pi_3Nq8abc-_.:/"), None);
        assert!(id_problem("").is_some());
        assert!(id_problem(&"x".repeat(ID_MAX)).is_none());
        assert!(id_problem(&"x".repeat(ID_MAX + 1)).is_some());
        for bad in ["pi 1", "pi\n1", "pi\u{0}1", "pí_1"] {
            assert!(id_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn only_http_urls_with_a_host_are_web_urls() {
        assert!(is_web_url("https://pay.example/3ds?x=1"));
        assert!(is_web_url("http://127.0.0.1:8080/return"));
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\nscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://pay.example/\u{7}",
            " https://pay.example/",
            "/relative/path",
            "https://",
            "http:///back",
            "https://?q",
            "https:\\\\evil.example",
            "ftp://files.example/x",
        ] {
            assert!(!is_web_url(bad), "{bad:?}");
        }
        assert!(!is_web_url(&format!("https://pay.example/{}", "x".repeat(URL_MAX))));
    }
}
