//! Bounding text that comes from outside — providers' messages, scripts' and plugins' errors —
//! before it is stored, logged or answered: a script can raise an error of any size, and a
//! provider can send any message; neither may grow a row or a log line without bound.

/// `text` cut to at most `max` characters, saying how much was left out.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} more bytes)", &text[..end], text.len() - end),
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
}
