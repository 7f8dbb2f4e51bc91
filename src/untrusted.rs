//! Text that came from outside (a feed, a hub, a client, an OPML file), made fit to store,
//! log and print: bounded in length, and with no control character that could forge a log
//! line (a newline) or drive a terminal (an escape sequence). Everything such text reaches —
//! the stored errors, the log, `feedmerge sources`, `import`'s report — takes it through
//! [`printable`].

/// Bytes of one outside text kept (an error, a hub's reason): enough for any real message.
pub(crate) const MAX_SAID: usize = 2_000;

/// `text` with every control character written as an escape (`\n`, `\u{1b}`) and cut to at
/// most `max` bytes (at a character boundary, marked ` […]` where it was cut).
pub(crate) fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        if out.len() >= max {
            out.push_str(" […]");
            break;
        }
        match c {
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        let forged = "bad\r\n2026-12-06T00:00:00Z  INFO forged line\u{1b}[2J";
        let out = printable(forged, 100);
        assert!(!out.chars().any(char::is_control), "{out}");
        assert!(
            out.contains("\\r\\n") && out.contains("\\u{1b}[2J"),
            "{out}"
        );
        let long = "é".repeat(5_000);
        let cut = printable(&long, MAX_SAID);
        assert!(cut.len() <= MAX_SAID + " […]".len() + 2 && cut.ends_with(" […]"));
        assert_eq!(printable("plain words", 100), "plain words");
    }
}
