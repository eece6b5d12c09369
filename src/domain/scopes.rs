//! The scope vocabulary: one list of scope names shared by user access tokens and service
//! tokens, and the roles that map to sets of them. Loaded once at start from TOML; an invalid file
//! stops the server with a message naming the problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

/// The reserved scope that lets a user manage service tokens; never grantable to a service token.
pub const TOKENS_MANAGE: &str = "tokens:manage";

const DEFAULT_VOCABULARY: &str = r#"
scopes = ["customer:read", "photos:read", "photos:write", "photos:delete", "tags:read", "tags:write", "tokens:manage"]

[roles]
viewer = ["customer:read", "photos:read", "tags:read"]
member = ["customer:read", "photos:read", "tags:read", "photos:write", "tags:write"]
admin  = ["customer:read", "photos:read", "tags:read", "photos:write", "tags:write", "photos:delete"]
owner  = ["customer:read", "photos:read", "tags:read", "photos:write", "tags:write", "photos:delete", "tokens:manage"]
"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    scopes: Vec<String>,
    roles: BTreeMap<String, Vec<String>>,
}

/// Known scopes and role → scopes.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    scopes: BTreeSet<String>,
    roles: BTreeMap<String, BTreeSet<String>>,
}

/// Whether `s` matches `^[a-z0-9][a-z0-9_.:-]{0,63}$`.
pub fn is_valid_scope_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

impl Vocabulary {
    /// The contract's default (the PhotoPick scope table).
    pub fn builtin() -> Self {
        // The built-in text is a constant checked by a unit test.
        Self::parse(DEFAULT_VOCABULARY).unwrap_or_else(|_| Self {
            scopes: BTreeSet::new(),
            roles: BTreeMap::new(),
        })
    }

    /// Reads a vocabulary file, or the built-in one when `path` is `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Self::builtin()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading scopes file {}", p.display()))?;
                Self::parse(&text).with_context(|| format!("scopes file {}", p.display()))
            }
        }
    }

    /// Parses and validates TOML of the form `scopes = [...]` + `[roles] name = [...]`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: VocabularyFile = toml::from_str(text).context("invalid TOML")?;
        let mut scopes = BTreeSet::new();
        for s in file.scopes {
            if !is_valid_scope_name(&s) {
                bail!("scope {s:?} does not match ^[a-z0-9][a-z0-9_.:-]{{0,63}}$");
            }
            if !scopes.insert(s.clone()) {
                bail!("scope {s:?} is listed twice");
            }
        }
        scopes.insert(TOKENS_MANAGE.to_string());
        if file.roles.is_empty() {
            bail!("at least one role is needed under [roles]");
        }
        let mut roles = BTreeMap::new();
        for (role, granted) in file.roles {
            if role.is_empty()
                || !role
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                bail!("role name {role:?} must be letters, digits, '_' or '-'");
            }
            let mut set = BTreeSet::new();
            for s in granted {
                if !scopes.contains(&s) {
                    bail!("role {role:?} grants {s:?}, which is not in `scopes`");
                }
                set.insert(s);
            }
            roles.insert(role, set);
        }
        Ok(Self { scopes, roles })
    }

    /// Whether a scope exists.
    pub fn contains(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Every scope, sorted (RFC 8414 `scopes_supported`).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(String::as_str)
    }

    /// The scopes a role grants; `None` for an unknown role.
    pub fn role(&self, role: &str) -> Option<&BTreeSet<String>> {
        self.roles.get(role)
    }

    /// Narrows `held` to `requested`: every requested scope must be well-formed, in the
    /// vocabulary and held. The one rule behind user-token down-scoping and service-token
    /// creation, so neither can escalate. `Err` names the first scope that fails.
    pub fn narrow(
        &self,
        requested: impl IntoIterator<Item = String>,
        held: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, String> {
        requested
            .into_iter()
            .map(|scope| {
                if is_valid_scope_name(&scope) && self.contains(&scope) && held.contains(&scope) {
                    Ok(scope)
                } else {
                    Err(scope)
                }
            })
            .collect()
    }

    /// Role names.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
}

/// Splits a space-separated scope string (RFC 6749 section 3.3), dropping empties and repeats.
pub fn split_scopes(s: &str) -> BTreeSet<String> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Joins scopes with single spaces, in sorted order.
pub fn join_scopes<'a>(scopes: impl IntoIterator<Item = &'a String>) -> String {
    scopes
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_matches_the_contract() {
        let v = Vocabulary::parse(DEFAULT_VOCABULARY).unwrap();
        assert_eq!(v.scopes().count(), 7);
        assert_eq!(v.role("viewer").unwrap().len(), 3);
        assert!(v.role("owner").unwrap().contains(TOKENS_MANAGE));
        assert!(!v.role("admin").unwrap().contains(TOKENS_MANAGE));
        assert_eq!(Vocabulary::builtin().roles().count(), 4);
    }

    #[test]
    fn invalid_files_name_the_problem() {
        let bad_name =
            Vocabulary::parse("scopes = [\"Photos:Read\"]\n[roles]\nx = []").unwrap_err();
        assert!(format!("{bad_name:#}").contains("Photos:Read"));
        let unknown = Vocabulary::parse("scopes = [\"a\"]\n[roles]\nx = [\"b\"]").unwrap_err();
        assert!(format!("{unknown:#}").contains("\"b\""));
        let typo = Vocabulary::parse("scope = [\"a\"]\n[roles]\nx = []").unwrap_err();
        assert!(format!("{typo:#}").contains("scope"));
        assert!(Vocabulary::parse("scopes = [\"a\", \"a\"]\n[roles]\nx = []").is_err());
    }

    #[test]
    fn narrowing_never_escalates() {
        let v = Vocabulary::builtin();
        let held: BTreeSet<String> = ["photos:read".to_string(), "tags:read".to_string()].into();
        let ok = v.narrow(["tags:read".to_string()], &held).unwrap();
        assert_eq!(ok.into_iter().collect::<Vec<_>>(), ["tags:read"]);
        assert_eq!(
            v.narrow(["photos:write".to_string()], &held),
            Err("photos:write".to_string())
        );
        assert_eq!(
            v.narrow(["made:up".to_string()], &held),
            Err("made:up".to_string())
        );
        let odd: BTreeSet<String> = ["Bad Name".to_string()].into();
        assert_eq!(
            v.narrow(["Bad Name".to_string()], &odd),
            Err("Bad Name".to_string())
        );
    }

    #[test]
    fn scope_names_follow_the_pattern() {
        assert!(is_valid_scope_name("photos:read"));
        assert!(is_valid_scope_name("a"));
        assert!(!is_valid_scope_name("-a"));
        assert!(!is_valid_scope_name(""));
        assert!(!is_valid_scope_name(&"a".repeat(65)));
        assert!(!is_valid_scope_name("a b"));
    }
}
