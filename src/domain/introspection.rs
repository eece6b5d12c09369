//! RFC 7662 token introspection for resource servers (issue #4).
