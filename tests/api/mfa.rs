//! MFA tests (issue #3).
