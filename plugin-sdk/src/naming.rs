//! Deterministic file names for file drops.
//!
//! The hub retries and replays orders, and an OPS that takes files books one
//! order per file it finds. If a retry wrote `ORD_<timestamp>.csv` again, the
//! OPS would book the order twice; if it wrote the same name, the second
//! upload replaces the first and the OPS books once. So the name must come
//! from the order's idempotency key — the same on every retry and replay —
//! and from nothing else (no clock, no counter, no random part).
//!
//! Keys are not file-name safe in general (they may hold `/`, `:`, spaces or
//! Chinese text), and FTP servers and OPS on Windows disagree about what a
//! name may contain. [`file_name`] keeps only `[A-Za-z0-9._-]`, and whenever
//! it had to change or shorten the key it appends a hash of the *original*
//! key, so two keys that sanitise to the same text still get different names.
//!
//! ```
//! use hub_plugin_sdk::naming::file_name;
//!
//! assert_eq!(file_name("ORD", "01J9ZK3M7Q", "csv")?, "ORD_01J9ZK3M7Q.csv");
//! let name = file_name("ORD", "订单/2024:001", "csv")?;
//! assert!(name.starts_with("ORD_-2024-001_") && name.ends_with(".csv"));
//! # Ok::<(), hub_plugin_sdk::naming::NamingError>(())
//! ```

use std::fmt;

/// Keys up to this many characters are used whole; longer ones are cut to
/// this length and get the hash.
pub const MAX_KEY_CHARS: usize = 64;
/// The longest prefix [`file_name`] accepts.
pub const MAX_PREFIX_CHARS: usize = 64;
/// The longest extension [`file_name`] accepts (without the leading dot).
pub const MAX_EXTENSION_CHARS: usize = 16;

/// Why a file name could not be made. These are mistakes in the plugin's
/// constants (prefix, extension) or an order without a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamingError {
    /// The idempotency key is empty.
    EmptyKey,
    /// The prefix cannot be used as given.
    InvalidPrefix { prefix: String, reason: &'static str },
    /// The extension cannot be used as given.
    InvalidExtension { extension: String, reason: &'static str },
}

impl fmt::Display for NamingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamingError::EmptyKey => write!(f, "cannot name a file after an empty idempotency key"),
            NamingError::InvalidPrefix { prefix, reason } => write!(f, "file name prefix {prefix:?}: {reason}"),
            NamingError::InvalidExtension { extension, reason } => {
                write!(f, "file name extension {extension:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for NamingError {}

fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// FNV-1a, 64 bits: tiny, stable across platforms and versions (unlike
/// `std`'s hashers, whose output may change between Rust releases).
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(PRIME))
}

/// A file name for the order with this idempotency key: identical on every
/// retry, made of `[A-Za-z0-9._-]` only, never starting with `.`.
///
/// The name is `{prefix}_{key}.{extension}` (`{key}.{extension}` for an empty
/// prefix). When the key held other characters (each run of them becomes one
/// `-`), started with `.` (with an empty prefix), or was longer than
/// [`MAX_KEY_CHARS`] (it is cut), `_{hash}` follows the key: 16 hex digits of
/// the FNV-1a 64-bit hash of the original key, so keys that sanitise to the
/// same text still get different names.
///
/// The prefix must be made of `[A-Za-z0-9._-]`, not start with `.` and be at
/// most [`MAX_PREFIX_CHARS`] long; the extension (a leading `.` is allowed and
/// ignored) must be letters and digits, possibly in dotted parts such as
/// `tar.gz`, at most [`MAX_EXTENSION_CHARS`] long.
pub fn file_name(prefix: &str, idempotency_key: &str, extension: &str) -> Result<String, NamingError> {
    check_prefix(prefix)?;
    let extension = check_extension(extension)?;
    if idempotency_key.is_empty() {
        return Err(NamingError::EmptyKey);
    }

    let mut key = String::with_capacity(idempotency_key.len());
    let mut changed = false;
    let mut in_replaced_run = false;
    for c in idempotency_key.chars() {
        if is_safe(c) {
            key.push(c);
            in_replaced_run = false;
        } else {
            changed = true;
            if !in_replaced_run {
                key.push('-');
            }
            in_replaced_run = true;
        }
    }
    if prefix.is_empty() && key.starts_with('.') {
        key.replace_range(..1, "-");
        changed = true;
    }
    if key.len() > MAX_KEY_CHARS {
        // Only ASCII is left, so byte and character counts agree.
        key.truncate(MAX_KEY_CHARS);
        changed = true;
    }

    let mut name = String::with_capacity(prefix.len() + key.len() + extension.len() + 20);
    if !prefix.is_empty() {
        name.push_str(prefix);
        name.push('_');
    }
    name.push_str(&key);
    if changed {
        name.push('_');
        name.push_str(&format!("{:016x}", fnv1a64(idempotency_key.as_bytes())));
    }
    name.push('.');
    name.push_str(extension);
    Ok(name)
}

fn check_prefix(prefix: &str) -> Result<(), NamingError> {
    let reason = if prefix.chars().count() > MAX_PREFIX_CHARS {
        Some("longer than 64 characters")
    } else if prefix.starts_with('.') {
        Some("must not start with '.' (a hidden file)")
    } else if !prefix.chars().all(is_safe) {
        Some("may contain only A-Z, a-z, 0-9, '.', '_' and '-'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(NamingError::InvalidPrefix {
            prefix: prefix.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_extension(extension: &str) -> Result<&str, NamingError> {
    let bare = extension.strip_prefix('.').unwrap_or(extension);
    let reason = if bare.is_empty() {
        Some("is empty")
    } else if bare.chars().count() > MAX_EXTENSION_CHARS {
        Some("longer than 16 characters")
    } else if !bare
        .split('.')
        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        Some("must be letters and digits, optionally in dotted parts such as \"tar.gz\"")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(NamingError::InvalidExtension {
            extension: extension.to_owned(),
            reason,
        }),
        None => Ok(bare),
    }
}

/// The name to upload under before renaming to `final_name`: `.` + name +
/// `.part` (`out/ORD_1.csv` → `out/.ORD_1.csv.part`; only the last path
/// segment changes). Most OPS ignore hidden and `.part` files while they
/// grow.
///
/// The hub's `files` capability already uploads atomically (temporary name,
/// then rename), so plugins do not need this for a plain `files::put`. It is
/// for OPS that watch their directories in their own way, e.g. expecting a
/// particular temporary name, or a marker file written after the data.
pub fn temporary_name(final_name: &str) -> String {
    match final_name.rsplit_once('/') {
        Some((directory, file)) => format!("{directory}/.{file}.part"),
        None => format!(".{final_name}.part"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn allowed(name: &str) -> bool {
        !name.starts_with('.') && name.chars().all(is_safe)
    }

    #[test]
    fn fnv1a64_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn clean_keys_are_used_as_they_are() {
        assert_eq!(
            file_name("ORD", "01J9ZK3M7QX8V2N5", "csv").unwrap(),
            "ORD_01J9ZK3M7QX8V2N5.csv"
        );
        assert_eq!(
            file_name("ORD", "0190f5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d", ".txt").unwrap(),
            "ORD_0190f5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d.txt"
        );
        assert_eq!(file_name("", "A-1", "tar.gz").unwrap(), "A-1.tar.gz");
    }

    #[test]
    fn names_are_stable() {
        for key in ["01J9ZK3M7Q", "order 42/retry", "订单-上海-001", &"x".repeat(200)] {
            let first = file_name("ORD", key, "csv").unwrap();
            for _ in 0..3 {
                assert_eq!(file_name("ORD", key, "csv").unwrap(), first);
            }
        }
        // Pinned: a change here renames every file on every retry after an upgrade.
        assert_eq!(
            file_name("ORD", "a b", "csv").unwrap(),
            format!("ORD_a-b_{:016x}.csv", fnv1a64(b"a b"))
        );
    }

    #[test]
    fn sanitises_and_appends_a_hash() {
        let name = file_name("ORD", "shop:42/order #7", "csv").unwrap();
        assert!(name.starts_with("ORD_shop-42-order-7_"), "{name}");
        assert!(name.ends_with(".csv"));
        assert_eq!(name.len(), "ORD_shop-42-order-7_".len() + 16 + ".csv".len());
        assert!(allowed(&name), "{name}");
    }

    #[test]
    fn chinese_keys() {
        let name = file_name("ORD", "张三-上海市浦东新区-001", "csv").unwrap();
        assert!(name.starts_with("ORD_----001_"), "{name}");
        assert!(allowed(&name), "{name}");
        let other = file_name("ORD", "李四-上海市浦东新区-001", "csv").unwrap();
        assert_ne!(name, other);
    }

    #[test]
    fn keys_that_sanitise_alike_do_not_collide() {
        let keys = ["a/b", "a:b", "a b", "a//b", "a张b", "a-b"];
        let names: Vec<String> = keys.iter().map(|key| file_name("ORD", key, "csv").unwrap()).collect();
        for (i, a) in names.iter().enumerate() {
            for b in names.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
        // "a-b" is clean and keeps its plain name.
        assert_eq!(names[5], "ORD_a-b.csv");
    }

    #[test]
    fn long_keys_are_cut_and_hashed() {
        let base = "k".repeat(MAX_KEY_CHARS);
        assert_eq!(file_name("P", &base, "csv").unwrap(), format!("P_{base}.csv"));
        let long_a = format!("{base}A");
        let long_b = format!("{base}B");
        let a = file_name("P", &long_a, "csv").unwrap();
        let b = file_name("P", &long_b, "csv").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("P_{base}_")));
        assert_eq!(a.len(), 2 + MAX_KEY_CHARS + 1 + 16 + 4);
    }

    #[test]
    fn never_starts_with_a_dot() {
        let name = file_name("", ".hidden", "csv").unwrap();
        assert!(name.starts_with("-hidden_"), "{name}");
        assert_ne!(name, file_name("", "-hidden", "csv").unwrap());
        assert!(file_name("ORD", ".x", "csv").unwrap().starts_with("ORD_.x"));
        assert!(allowed(&file_name("", "../../etc/passwd", "csv").unwrap()));
    }

    #[test]
    fn invalid_inputs() {
        assert_eq!(file_name("ORD", "", "csv"), Err(NamingError::EmptyKey));
        for extension in ["", ".", "c sv", "csv.", "a..b", "文本", "x".repeat(17).as_str()] {
            assert!(
                matches!(
                    file_name("ORD", "k", extension),
                    Err(NamingError::InvalidExtension { .. })
                ),
                "{extension:?}"
            );
        }
        for prefix in [".ORD", "OR D", "订单", "a/b", "P".repeat(65).as_str()] {
            assert!(
                matches!(file_name(prefix, "k", "csv"), Err(NamingError::InvalidPrefix { .. })),
                "{prefix:?}"
            );
        }
        let error = file_name("ORD", "k", "").unwrap_err();
        assert_eq!(error.to_string(), "file name extension \"\": is empty");
    }

    #[test]
    fn temporary_names() {
        assert_eq!(temporary_name("ORD_1.csv"), ".ORD_1.csv.part");
        assert_eq!(temporary_name("in/orders/ORD_1.csv"), "in/orders/.ORD_1.csv.part");
    }
}
