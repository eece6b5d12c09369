//! Service-token tests (issue #4).
