//! String clean-up: the `x-hub-text` operations and full-width folding.
//!
//! Chinese customers type codes and numbers with an IME that often emits
//! full-width forms (`ＣＮＳＨＡ`, `１２`). Folding maps exactly the Unicode
//! "Halfwidth and Fullwidth Forms" block's ASCII variants (U+FF01–U+FF5E) and
//! the ideographic space (U+3000) to ASCII, and nothing else, so Chinese names
//! and addresses pass through untouched.

use serde::Deserialize;

/// One step of `x-hub-text`, applied in the order the schema lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextOp {
    Trim,
    CollapseWhitespace,
    Upper,
    Lower,
    FoldWidth,
}

impl TextOp {
    pub fn apply(self, value: &str) -> String {
        match self {
            TextOp::Trim => value.trim().to_owned(),
            TextOp::CollapseWhitespace => value.split_whitespace().collect::<Vec<_>>().join(" "),
            TextOp::Upper => value.to_uppercase(),
            TextOp::Lower => value.to_lowercase(),
            TextOp::FoldWidth => fold_width(value),
        }
    }
}

/// Full-width ASCII variants and the ideographic space to ASCII; every other
/// character (CJK included) unchanged.
pub fn fold_width(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Parses a customer-typed decimal number: width folded, surrounding and inner
/// spaces and thousands separators (`,` `，` `_` `'`) removed. Returns `None`
/// for anything that is not a finite decimal.
pub fn parse_decimal(raw: &str) -> Option<f64> {
    let folded = fold_width(raw);
    let cleaned: String = folded
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, ',' | '，' | '_' | '\''))
        .collect();
    if cleaned.is_empty()
        || !cleaned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A JSON number for `n`: an integer when `n` has no fractional part (so
/// `12` stays `12`, not `12.0`), else a float.
pub fn json_number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_full_width_codes_but_keeps_chinese() {
        assert_eq!(fold_width("ＣＮＳＨＡ"), "CNSHA");
        assert_eq!(fold_width("上海市浦东新区张江路８８号"), "上海市浦东新区张江路88号");
        assert_eq!(fold_width("Ａ\u{3000}Ｂ"), "A B");
    }

    #[test]
    fn parses_customer_numbers() {
        assert_eq!(parse_decimal("１,２００.５"), Some(1200.5));
        assert_eq!(parse_decimal(" 12 000 "), Some(12000.0));
        assert_eq!(parse_decimal("12kg"), None);
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal("1e400"), None);
    }

    #[test]
    fn ops_apply_in_order() {
        let ops = [TextOp::FoldWidth, TextOp::Trim, TextOp::Upper];
        let out = ops.iter().fold("  ｆｏｂ ".to_owned(), |s, op| op.apply(&s));
        assert_eq!(out, "FOB");
        assert_eq!(TextOp::CollapseWhitespace.apply(" a \t b  c "), "a b c");
    }
}
