//! The one shape every order problem takes, from normalization and from
//! JSON Schema validation alike, so the portal can show each next to its
//! form field.

use serde::{Deserialize, Serialize};

/// One thing wrong with an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// JSON Pointer (RFC 6901) into the *normalized* order; `""` is the whole order.
    pub pointer: String,
    /// Stable machine-readable code: a normalization code (`missing-unit`,
    /// `unknown-code`, …) or the JSON Schema keyword that failed (`required`, `type`, …).
    pub code: String,
    /// Human-readable explanation, safe to show to the customer.
    pub message: String,
    /// Whether the schema lets staff fix this one in the review queue.
    pub reviewable: bool,
}

/// Appends `token` to a JSON Pointer, escaping `~` and `/` as RFC 6901 requires.
pub fn pointer_push(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Splits a JSON Pointer into unescaped tokens.
pub fn pointer_tokens(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
}

/// True when `inner` is `outer` or lies below it.
pub fn pointer_within(inner: &str, outer: &str) -> bool {
    inner == outer || (inner.starts_with(outer) && inner[outer.len()..].starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_and_nest() {
        assert_eq!(pointer_push("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(pointer_tokens("/a/b~1c~0d").collect::<Vec<_>>(), ["a", "b/c~d"]);
        assert!(pointer_within("/lines/0/qty", "/lines/0"));
        assert!(!pointer_within("/lines/01", "/lines/0"));
        assert!(pointer_within("/x", ""));
    }
}
