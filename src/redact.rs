//! `Debug` that never prints a value, for request and response types carrying secrets (tokens,
//! codes): a stray `?req` in a log line then shows the type name and nothing else.

/// Implements `Debug` as `TypeName(***)`.
#[macro_export]
macro_rules! redacted_debug {
    ($($ty:ty),+ $(,)?) => {
        $(
            impl std::fmt::Debug for $ty {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(concat!(stringify!($ty), "(***)"))
                }
            }
        )+
    };
}
