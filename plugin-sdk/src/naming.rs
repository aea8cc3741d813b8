//! Deterministic file names for file-drop OPS.
//!
//! Why: an FTP/SFTP OPS books whatever file lands in its inbox. If a retry
//! wrote `order-<timestamp>.csv` the OPS would book the order twice; a name
//! derived from the order's idempotency key is the same on every retry and
//! replay, so the second upload overwrites the first instead.

use std::fmt;

/// Why a name could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamingError {
    /// The extension is empty or has characters other than `[A-Za-z0-9]`.
    Extension(String),
    /// The prefix has characters other than `[A-Za-z0-9_-]`.
    Prefix(String),
    /// The idempotency key is empty.
    EmptyKey,
}

impl fmt::Display for NamingError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamingError::Extension(extension) => {
                write!(
                    formatter,
                    "file extension `{extension}` must be 1-10 characters of A-Z, a-z, 0-9"
                )
            }
            NamingError::Prefix(prefix) => {
                write!(
                    formatter,
                    "file name prefix `{prefix}` may only hold A-Z, a-z, 0-9, `_` and `-`"
                )
            }
            NamingError::EmptyKey => formatter.write_str("the idempotency key is empty"),
        }
    }
}

impl std::error::Error for NamingError {}

/// Longest key kept as is; longer keys are cut and hashed.
const MAX_KEY_CHARS: usize = 64;

/// `PREFIX_KEY.EXT`, the same for the same key on every retry.
///
/// The key is kept readable where it can be: characters outside
/// `[A-Za-z0-9._-]` become `-`. If anything was replaced or cut, a 16-digit
/// FNV-1a hash of the original key is appended, so two keys that sanitise to
/// the same text never share a file name.
pub fn file_name(prefix: &str, idempotency_key: &str, extension: &str) -> Result<String, NamingError> {
    if extension.is_empty() || extension.len() > 10 || !extension.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(NamingError::Extension(extension.to_owned()));
    }
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(NamingError::Prefix(prefix.to_owned()));
    }
    if idempotency_key.is_empty() {
        return Err(NamingError::EmptyKey);
    }
    let mut changed = false;
    let mut stem: String = idempotency_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                changed = true;
                '-'
            }
        })
        .collect();
    if stem.chars().count() > MAX_KEY_CHARS {
        stem = stem.chars().take(MAX_KEY_CHARS).collect();
        changed = true;
    }
    if stem.starts_with('.') {
        stem.replace_range(0..1, "-");
        changed = true;
    }
    if changed {
        stem = format!("{stem}-{:016x}", fnv1a(idempotency_key.as_bytes()));
    }
    Ok(if prefix.is_empty() {
        format!("{stem}.{extension}")
    } else {
        format!("{prefix}_{stem}.{extension}")
    })
}

/// `.NAME.part`: for OPS that watch a directory their own way. The hub's
/// files transport already uploads under a temporary name and renames, so
/// most plugins never need this.
pub fn temporary_name(final_name: &str) -> String {
    format!(".{final_name}.part")
}

/// FNV-1a, 64 bit: small, stable across platforms and releases (unlike
/// `std`'s hasher), good enough to tell keys apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_gives_the_same_name_every_time() {
        let first = file_name("ORD", "01J9Z3K6W8", "csv").ok();
        assert_eq!(first.as_deref(), Some("ORD_01J9Z3K6W8.csv"));
        assert_eq!(file_name("ORD", "01J9Z3K6W8", "csv").ok(), first);
    }

    #[test]
    fn unsafe_characters_are_replaced_and_the_name_gets_a_hash() {
        let name = file_name("ORD", "acme/order 7", "xml").unwrap_or_default();
        assert!(name.starts_with("ORD_acme-order-7-"), "{name}");
        assert!(name.ends_with(".xml"));
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name}"
        );
    }

    #[test]
    fn keys_that_sanitise_alike_do_not_collide() {
        let a = file_name("", "a/b", "csv").unwrap_or_default();
        let b = file_name("", "a:b", "csv").unwrap_or_default();
        assert_ne!(a, b);
    }

    #[test]
    fn chinese_keys_become_safe_distinct_names() {
        let a = file_name("PO", "上海-0001", "csv").unwrap_or_default();
        let b = file_name("PO", "北京-0001", "csv").unwrap_or_default();
        assert!(a.starts_with("PO_---0001-") && b.starts_with("PO_---0001-"), "{a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn long_keys_are_cut_and_hashed_and_dots_cannot_hide_files() {
        let long = "k".repeat(200);
        let name = file_name("X", &long, "txt").unwrap_or_default();
        assert_eq!(name.len(), "X_".len() + 64 + 1 + 16 + ".txt".len());
        assert!(!file_name("", ".hidden", "csv").unwrap_or_default().starts_with('.'));
    }

    #[test]
    fn bad_prefixes_extensions_and_empty_keys_are_errors() {
        assert_eq!(file_name("A B", "k", "csv"), Err(NamingError::Prefix("A B".into())));
        assert_eq!(file_name("A", "k", ".csv"), Err(NamingError::Extension(".csv".into())));
        assert_eq!(file_name("A", "", "csv"), Err(NamingError::EmptyKey));
        assert_eq!(temporary_name("A_k.csv"), ".A_k.csv.part");
    }
}
