//! `x-hub-quantity`: weights to kilograms, volumes to cubic metres.
//!
//! Customers write units every way there is (`lbs`, `公斤`, `斤`, `cbm`,
//! `ft³`); the OPS systems all want one canonical unit. A value whose unit we
//! cannot tell is never guessed: it becomes a problem the schema may declare
//! reviewable.

use serde::Deserialize;
use serde_json::Value;

use super::text::{fold_width, parse_decimal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    Weight,
    Volume,
}

impl Dimension {
    pub fn canonical_unit(self) -> &'static str {
        match self {
            Dimension::Weight => "kg",
            Dimension::Volume => "m3",
        }
    }

    /// Factor from `unit` to the canonical unit, or `None` for a unit of
    /// another dimension or an unknown one.
    fn factor(self, unit: &str) -> Option<f64> {
        let unit = unit.trim().to_lowercase();
        let unit = unit.trim_end_matches('.');
        match self {
            Dimension::Weight => match unit {
                "kg" | "kgs" | "kilo" | "kilos" | "kilogram" | "kilograms" | "公斤" | "千克" => Some(1.0),
                "g" | "gr" | "gram" | "grams" | "克" => Some(0.001),
                "t" | "mt" | "ton" | "tons" | "tonne" | "tonnes" | "吨" => Some(1000.0),
                "lb" | "lbs" | "pound" | "pounds" | "磅" => Some(0.453_592_37),
                "jin" | "斤" | "市斤" => Some(0.5),
                _ => None,
            },
            Dimension::Volume => match unit {
                "m3" | "m³" | "cbm" | "cu m" | "cubic meter" | "cubic meters" | "cubic metre" | "cubic metres"
                | "立方" | "立方米" | "方" => Some(1.0),
                "l" | "ltr" | "liter" | "liters" | "litre" | "litres" | "升" => Some(0.001),
                "ft3" | "ft³" | "cft" | "cuft" | "cu ft" | "cubic foot" | "cubic feet" => Some(0.028_316_846_592),
                _ => None,
            },
        }
    }
}

/// Why a quantity could not be converted; each maps to a problem code.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantityError {
    MissingUnit,
    UnknownUnit(String),
    NotANumber,
}

impl QuantityError {
    pub fn code(&self) -> &'static str {
        match self {
            QuantityError::MissingUnit => "missing-unit",
            QuantityError::UnknownUnit(_) => "unknown-unit",
            QuantityError::NotANumber => "not-a-number",
        }
    }
}

/// Converts `value` to the canonical unit of `dimension`, rounded to three
/// decimals. `bare_number_is_canonical` says whether a number without unit
/// may be taken as already canonical (true under the canonical field name).
pub fn to_canonical(dimension: Dimension, value: &Value, bare_number_is_canonical: bool) -> Result<f64, QuantityError> {
    let (amount, unit) = match value {
        Value::Number(n) => (n.as_f64().ok_or(QuantityError::NotANumber)?, None),
        Value::String(s) => split_amount_unit(s)?,
        Value::Object(map) => {
            let amount = match map.get("value") {
                Some(Value::Number(n)) => n.as_f64().ok_or(QuantityError::NotANumber)?,
                Some(Value::String(s)) => parse_decimal(s).ok_or(QuantityError::NotANumber)?,
                _ => return Err(QuantityError::NotANumber),
            };
            let unit = match map.get("unit") {
                Some(Value::String(u)) => Some(fold_width(u)),
                _ => None,
            };
            (amount, unit)
        }
        _ => return Err(QuantityError::NotANumber),
    };
    let factor = match unit {
        Some(unit) if !unit.trim().is_empty() => dimension.factor(&unit).ok_or(QuantityError::UnknownUnit(unit))?,
        _ if bare_number_is_canonical => 1.0,
        _ => return Err(QuantityError::MissingUnit),
    };
    Ok(round3(amount * factor))
}

fn round3(n: f64) -> f64 {
    (n * 1000.0).round() / 1000.0
}

/// `"2,650 lb"` → `(2650.0, Some("lb"))`; `"12"` → `(12.0, None)`.
fn split_amount_unit(raw: &str) -> Result<(f64, Option<String>), QuantityError> {
    let folded = fold_width(raw);
    let trimmed = folded.trim();
    let split_at = trimmed
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '，' | '-' | '+' | ' ' | '_')))
        .map_or(trimmed.len(), |(i, _)| i);
    let (number, unit) = trimmed.split_at(split_at);
    let amount = parse_decimal(number).ok_or(QuantityError::NotANumber)?;
    let unit = unit.trim();
    Ok((amount, (!unit.is_empty()).then(|| unit.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn weight(v: Value) -> Result<f64, QuantityError> {
        to_canonical(Dimension::Weight, &v, false)
    }

    #[test]
    fn converts_customer_weights_to_kg() {
        assert_eq!(weight(json!("2,650 lb")), Ok(1202.02));
        assert_eq!(weight(json!("1.2t")), Ok(1200.0));
        assert_eq!(weight(json!("300 斤")), Ok(150.0));
        assert_eq!(weight(json!("５００ＫＧＳ")), Ok(500.0));
        assert_eq!(weight(json!({"value": "750", "unit": "g"})), Ok(0.75));
    }

    #[test]
    fn converts_customer_volumes_to_m3() {
        let vol = |v: Value| to_canonical(Dimension::Volume, &v, false);
        assert_eq!(vol(json!("12 cbm")), Ok(12.0));
        assert_eq!(vol(json!("850 ft³")), Ok(24.069));
        assert_eq!(vol(json!("500L")), Ok(0.5));
    }

    #[test]
    fn bare_numbers_need_the_canonical_name() {
        assert_eq!(weight(json!(1200)), Err(QuantityError::MissingUnit));
        assert_eq!(to_canonical(Dimension::Weight, &json!(1200), true), Ok(1200.0));
        assert_eq!(weight(json!("1200")), Err(QuantityError::MissingUnit));
    }

    #[test]
    fn refuses_wrong_dimension_and_garbage() {
        assert_eq!(weight(json!("3 cbm")), Err(QuantityError::UnknownUnit("cbm".into())));
        assert_eq!(weight(json!("heavy")), Err(QuantityError::NotANumber));
        assert_eq!(weight(json!(true)), Err(QuantityError::NotANumber));
    }
}
