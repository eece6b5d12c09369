//! All secret material: signing keys, JWTs, opaque tokens, password hashing and encryption at rest.
//! Nothing outside this module touches raw key bytes.

pub mod dpop_nonce;
mod hash_pool;
pub mod jwt;
pub mod keys;
pub mod opaque;
pub mod password;
pub mod refresh;
pub mod sealing;
pub mod service_token;
pub mod totp;
