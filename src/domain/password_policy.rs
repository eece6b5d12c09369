//! The password policy (contract section 7, NIST SP 800-63B §5.1.1.2): at least 8 characters, at
//! most 1024 bytes, no composition rules, and not a well-known common password. It holds for
//! `POST /v1/me/password` and `tokend user add` alike.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Fewest Unicode scalar values accepted; characters, not bytes, so non-Latin passwords are not
/// held to a stricter rule.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most bytes accepted. Checked first, so a huge body never reaches the hasher and passwords are
/// never silently truncated (bcrypt's 72-byte trap).
pub use crate::crypto::password::MAX_PASSWORD_BYTES;

/// Lower-cased, one per line, each at least 8 characters (shorter ones fail the length rule).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Why a new password was refused; mapped to 400 `invalid_request` with `details.reason`. It never
/// carries the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("password must be at least 8 characters long")]
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("password must be at most 1024 bytes long")]
    TooLong,
    /// On the list of passwords attackers try first.
    #[error("password is too common; choose one that is harder to guess")]
    TooCommon,
}

impl PasswordPolicyError {
    /// The machine-readable `details.reason`, stable for clients to branch on.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::TooCommon => "too_common",
        }
    }
}

/// Checks a candidate new password. Length comes first, the byte cap before anything that walks
/// the string, so an oversized password costs nothing; the common-password match ignores case
/// and surrounding whitespace, since `  Password1 ` is just as guessable.
pub fn check_password(password: &str) -> Result<(), PasswordPolicyError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordPolicyError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    if COMMON_PASSWORDS.contains(password.trim().to_lowercase().as_str()) {
        return Err(PasswordPolicyError::TooCommon);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn length_limits() {
        assert_eq!(
            check_password("Xk3#vq7"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(check_password(""), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_password("Xk3#vq7z"), Ok(()));
        // Characters, not bytes: eight multi-byte characters pass, seven do not.
        assert_eq!(check_password("ñandúçéü"), Ok(()));
        assert_eq!(
            check_password("ñandúçé"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(check_password(&"x".repeat(1024)), Ok(()));
        assert_eq!(
            check_password(&"x".repeat(1025)),
            Err(PasswordPolicyError::TooLong)
        );
        // 513 two-byte characters: 1026 bytes, too long even though few characters.
        assert_eq!(
            check_password(&"é".repeat(513)),
            Err(PasswordPolicyError::TooLong)
        );
    }

    #[test]
    fn no_composition_rules() {
        assert_eq!(check_password("correct horse battery staple"), Ok(()));
        assert_eq!(check_password("zqvmtrplwk"), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively_and_trimmed() {
        for p in [
            "password",
            "123456789",
            "qwertyuiop",
            "iloveyou",
            "letmein1",
            "football",
            "monkey123",
            "dragon123",
            "baseball",
            "sunshine",
            "princess",
            "welcome1",
            "passw0rd",
            "trustno1",
            "1q2w3e4r",
            "PassWord",
            "  Password1 ",
            "QWERTYUIOP",
        ] {
            assert_eq!(
                check_password(p),
                Err(PasswordPolicyError::TooCommon),
                "{p}"
            );
        }
    }

    #[test]
    fn the_list_is_large_lowercase_and_long_enough() {
        assert!(COMMON_PASSWORDS.len() >= 500, "{}", COMMON_PASSWORDS.len());
        for p in COMMON_PASSWORDS.iter() {
            assert_eq!(*p, p.to_lowercase());
            assert!(p.chars().count() >= MIN_PASSWORD_CHARS, "{p}");
        }
    }

    #[test]
    fn reasons_and_messages() {
        assert_eq!(PasswordPolicyError::TooShort.reason(), "too_short");
        assert_eq!(PasswordPolicyError::TooLong.reason(), "too_long");
        assert_eq!(PasswordPolicyError::TooCommon.reason(), "too_common");
        assert!(PasswordPolicyError::TooShort.to_string().contains('8'));
    }
}
