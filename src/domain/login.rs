//! The one canonical form of a login (contract section 1: unique, compared case-insensitively
//! after trimming and Unicode NFKC). Every lookup, insert and per-login rate-limit key goes
//! through [`normalize_login`], so `Ana@Example.COM`, ` ana@example.com` and its full-width
//! spelling are the same user and share one sign-in budget.

use unicode_normalization::UnicodeNormalization;

/// Longest login accepted, in characters after normalisation: the longest e-mail address a mail
/// server will deliver to (RFC 5321 path limit), so no real login is refused.
pub const MAX_LOGIN_CHARS: usize = 254;

/// Why a login was refused; the login itself is not repeated, so this is safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Nothing but whitespace was given.
    #[error("login must not be empty")]
    Empty,
    /// Longer than [`MAX_LOGIN_CHARS`] after normalisation.
    #[error("login must be at most 254 characters")]
    TooLong,
    /// Control characters have no business in a login and confuse logs and terminals.
    #[error("login must not contain control characters")]
    ControlCharacter,
}

/// Maps a login to its canonical form: trim Unicode whitespace, NFKC, full Unicode case folding
/// (so `STRASSE` and `straße` are one login, which lower-casing alone misses), NFKC again
/// (folding can produce sequences NFKC would compose), then trim once more because NFKC can
/// turn a compatibility character into a space (U+00A8 becomes a space and a combining
/// diaeresis). The result is a fixed point: normalising it again gives it back.
pub fn normalize_login(raw: &str) -> Result<String, LoginError> {
    let folded = caseless::default_case_fold_str(&raw.trim().nfkc().collect::<String>());
    let normalized: String = folded.nfkc().collect();
    let normalized = normalized.trim();
    if normalized.is_empty() {
        return Err(LoginError::Empty);
    }
    if normalized.chars().any(char::is_control) {
        return Err(LoginError::ControlCharacter);
    }
    if normalized.chars().count() > MAX_LOGIN_CHARS {
        return Err(LoginError::TooLong);
    }
    Ok(normalized.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn full_case_folding_not_just_lower_case() {
        assert_eq!(
            normalize_login("STRASSE@example.com"),
            normalize_login("straße@example.com")
        );
        assert_eq!(normalize_login("ΣΑΣ"), normalize_login("σας"));
    }

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(
            normalize_login("  Ana@Example.COM ").unwrap(),
            normalize_login("ana@example.com").unwrap()
        );
        assert_eq!(
            normalize_login("  Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        // Unicode whitespace (ideographic space, no-break space) is trimmed too.
        assert_eq!(normalize_login("\u{3000}ana\u{a0}").unwrap(), "ana");
    }

    #[test]
    fn applies_nfkc() {
        assert_eq!(normalize_login("ａｎａ").unwrap(), "ana");
        assert_eq!(normalize_login("ＡＮＡ").unwrap(), "ana");
        assert_eq!(normalize_login("ﬁle").unwrap(), "file");
        // Composed and decomposed spellings meet.
        assert_eq!(
            normalize_login("Jose\u{301}").unwrap(),
            normalize_login("JOS\u{c9}").unwrap()
        );
    }

    #[test]
    fn is_idempotent() {
        for raw in [
            "  Ana@Example.COM ",
            "ﬁ",
            "ǅemal",
            "İstanbul",
            "x\u{a8}",
            "Straße",
        ] {
            let once = normalize_login(raw).unwrap();
            assert_eq!(normalize_login(&once).unwrap(), once, "{raw}");
        }
    }

    #[test]
    fn rejects_empty_and_whitespace_only() {
        assert_eq!(normalize_login(""), Err(LoginError::Empty));
        assert_eq!(normalize_login(" \t\n\u{3000} "), Err(LoginError::Empty));
    }

    #[test]
    fn rejects_control_characters() {
        assert_eq!(
            normalize_login("ana\u{0}bob"),
            Err(LoginError::ControlCharacter)
        );
        assert_eq!(
            normalize_login("ana\u{1b}[31m"),
            Err(LoginError::ControlCharacter)
        );
        assert_eq!(
            normalize_login("a\u{85}b"),
            Err(LoginError::ControlCharacter)
        );
    }

    #[test]
    fn enforces_length_after_normalisation() {
        assert!(normalize_login(&"a".repeat(254)).is_ok());
        assert_eq!(normalize_login(&"a".repeat(255)), Err(LoginError::TooLong));
        // 254 multi-byte characters are fine: the limit counts characters, not bytes.
        assert!(normalize_login(&"é".repeat(254)).is_ok());
        // A ligature expands under NFKC, so the limit applies to the expanded form.
        assert_eq!(normalize_login(&"ﬁ".repeat(128)), Err(LoginError::TooLong));
    }
}
