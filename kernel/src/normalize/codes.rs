//! `x-hub-code` and `x-hub-phone`: values that must come from a code list.
//!
//! Country and currency lists come from maintained crates (`rust_iso3166`,
//! `iso_currency`), phone rules from libphonenumber's metadata
//! (`phonenumber`); the hub keeps only what no crate carries: Incoterms 2020
//! and its list of known UN/LOCODE ports (`data/unlocode.txt`).

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::Deserialize;

use super::text::fold_width;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeList {
    Country,
    Currency,
    Incoterm,
    Unlocode,
}

/// Why a code was refused; each maps to a problem code.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeError {
    /// Not shaped like a code of this list at all.
    Invalid(String),
    /// Well-shaped but not on the list (a new port, a typo of a real one).
    Unknown(String),
}

impl CodeError {
    pub fn code(&self) -> &'static str {
        match self {
            CodeError::Invalid(_) => "invalid-code",
            CodeError::Unknown(_) => "unknown-code",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CodeError::Invalid(m) | CodeError::Unknown(m) => m,
        }
    }
}

const INCOTERMS_2020: [&str; 11] = [
    "EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP",
];

static KNOWN_PORTS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("data/unlocode.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next())
        .collect()
});

impl CodeList {
    /// Canonical spelling of `raw` in this list.
    pub fn normalize(self, raw: &str) -> Result<String, CodeError> {
        let folded = fold_width(raw);
        let upper = folded.trim().to_uppercase();
        match self {
            CodeList::Country => country(&upper),
            CodeList::Currency => currency(&upper),
            CodeList::Incoterm => {
                // "FOB Shanghai" names the place too; the term is the first word.
                let term = upper.split_whitespace().next().unwrap_or_default();
                if INCOTERMS_2020.contains(&term) {
                    Ok(term.to_owned())
                } else if term.len() == 3 && term.chars().all(|c| c.is_ascii_alphabetic()) {
                    Err(CodeError::Unknown(format!("'{term}' is not an Incoterms 2020 rule")))
                } else {
                    Err(CodeError::Invalid(format!("'{}' is not an Incoterms rule", raw.trim())))
                }
            }
            CodeList::Unlocode => unlocode(&upper),
        }
    }
}

fn country(upper: &str) -> Result<String, CodeError> {
    let found = match upper.len() {
        2 => rust_iso3166::from_alpha2(upper),
        3 => rust_iso3166::from_alpha3(upper),
        _ => None,
    };
    match found {
        Some(c) => Ok(c.alpha2.to_owned()),
        None if (2..=3).contains(&upper.len()) && upper.chars().all(|c| c.is_ascii_alphabetic()) => Err(
            CodeError::Unknown(format!("'{upper}' is not an ISO 3166-1 country code")),
        ),
        None => Err(CodeError::Invalid(format!(
            "expected an ISO 3166-1 country code such as CN, got '{upper}'"
        ))),
    }
}

fn currency(upper: &str) -> Result<String, CodeError> {
    // RMB is how most Chinese customers write the renminbi.
    let code = if upper == "RMB" { "CNY" } else { upper };
    match iso_currency::Currency::from_code(code) {
        Some(c) => Ok(c.code().to_owned()),
        None if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) => {
            Err(CodeError::Unknown(format!("'{code}' is not an ISO 4217 currency")))
        }
        None => Err(CodeError::Invalid(format!(
            "expected an ISO 4217 currency code such as CNY, got '{upper}'"
        ))),
    }
}

fn unlocode(upper: &str) -> Result<String, CodeError> {
    let compact: String = upper.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let shaped = compact.len() == 5
        && compact[..2].chars().all(|c| c.is_ascii_uppercase())
        && compact[2..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='9').contains(&c));
    if !shaped {
        return Err(CodeError::Invalid(format!(
            "'{upper}' is not a UN/LOCODE (two-letter country + three characters, e.g. CNSHA)"
        )));
    }
    if rust_iso3166::from_alpha2(&compact[..2]).is_none() {
        return Err(CodeError::Invalid(format!(
            "'{compact}' does not start with a country code"
        )));
    }
    if KNOWN_PORTS.contains(compact.as_str()) {
        Ok(compact)
    } else {
        Err(CodeError::Unknown(format!("'{compact}' is not a port the hub knows")))
    }
}

/// E.164 for a phone number typed any local way.
pub fn normalize_phone(raw: &str, default_region: phonenumber::country::Id) -> Result<String, String> {
    let folded = fold_width(raw);
    let number = phonenumber::parse(Some(default_region), folded.trim())
        .map_err(|e| format!("'{}' is not a phone number: {e}", folded.trim()))?;
    if !number.is_valid() {
        return Err(format!("'{}' is not a valid phone number", folded.trim()));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_currencies_incoterms() {
        assert_eq!(CodeList::Country.normalize(" cn "), Ok("CN".into()));
        assert_eq!(CodeList::Country.normalize("CHN"), Ok("CN".into()));
        assert_eq!(
            CodeList::Country.normalize("XX").map_err(|e| e.code()),
            Err("unknown-code")
        );
        assert_eq!(
            CodeList::Country.normalize("China").map_err(|e| e.code()),
            Err("invalid-code")
        );
        assert_eq!(CodeList::Currency.normalize("rmb"), Ok("CNY".into()));
        assert_eq!(CodeList::Currency.normalize("ＵＳＤ"), Ok("USD".into()));
        assert_eq!(CodeList::Incoterm.normalize("fob shanghai"), Ok("FOB".into()));
        assert_eq!(
            CodeList::Incoterm.normalize("DAT").map_err(|e| e.code()),
            Err("unknown-code")
        );
    }

    #[test]
    fn ports_are_shaped_then_looked_up() {
        assert_eq!(CodeList::Unlocode.normalize("cn sha"), Ok("CNSHA".into()));
        assert_eq!(CodeList::Unlocode.normalize("ＣＮＮＧＢ"), Ok("CNNGB".into()));
        assert_eq!(
            CodeList::Unlocode.normalize("CNZZZ").map_err(|e| e.code()),
            Err("unknown-code")
        );
        assert_eq!(
            CodeList::Unlocode.normalize("Shanghai").map_err(|e| e.code()),
            Err("invalid-code")
        );
        assert_eq!(
            CodeList::Unlocode.normalize("QQSHA").map_err(|e| e.code()),
            Err("invalid-code")
        );
    }

    #[test]
    fn phones_to_e164() {
        let cn = phonenumber::country::Id::CN;
        assert_eq!(normalize_phone("138 1234 5678", cn), Ok("+8613812345678".into()));
        assert_eq!(normalize_phone("021-6888 1234", cn), Ok("+862168881234".into()));
        assert_eq!(normalize_phone("+86 138-1234-5678", cn), Ok("+8613812345678".into()));
        assert_eq!(
            normalize_phone("１３８１２３４５６７８", cn),
            Ok("+8613812345678".into())
        );
        assert!(normalize_phone("12345", cn).is_err());
        assert!(normalize_phone("call me", cn).is_err());
    }
}
