//! Opaque page cursors: the `(time, id)` pair of the last item of a page,
//! base64url-encoded so clients pass it back unchanged instead of building
//! their own. Lists ordered on such a pair never skip or repeat an item.

use axum::http::StatusCode;
use base64::Engine as _;

use super::problem::ApiProblem;

pub fn encode(at: &str, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{at}\n{id}"))
}

pub fn decode(cursor: &str) -> Result<(String, String), ApiProblem> {
    let invalid = || {
        ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "bad-cursor",
            "Bad Request",
            "cursor is not one this API gave out; pass next_cursor unchanged",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('\n').ok_or_else(invalid)?;
    Ok((at.to_owned(), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let cursor = encode("2026-12-01T08:00:00.000000Z", "ord_1");
        assert_eq!(
            decode(&cursor).unwrap(),
            ("2026-12-01T08:00:00.000000Z".into(), "ord_1".into())
        );
        assert!(decode("not base64!").is_err());
        assert!(decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("no newline")).is_err());
    }
}
