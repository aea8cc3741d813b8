//! The capabilities a plugin imports, one file each, all the same shape:
//! count the call and check the grant ([`CallState::gate`]), apply the
//! capability's own policy (addresses, sizes, reserved headers), call the
//! target's transport, map the answer back into WIT types.
//!
//! [`CallState::gate`]: super::state::CallState::gate

mod amqp;
mod clock;
mod config;
mod files;
mod http;
mod log;

use super::bindings::hub::plugin::types;
use super::state::CallState;
use crate::transports::TransportError;

impl types::Host for CallState {}

/// A message bigger than the target allows never reaches the transport.
pub(crate) fn check_size(length: usize, limit: usize) -> Result<(), TransportError> {
    if length > limit {
        Err(TransportError::TooLarge(limit as u64))
    } else {
        Ok(())
    }
}

/// A relative address with no way out of the target's root: no scheme, no
/// `..` (also percent-encoded), no backslashes or control characters.
pub(crate) fn check_relative(path: &str) -> Result<(), TransportError> {
    let lowered = path.to_ascii_lowercase();
    let escapes = path.contains("://")
        || path.starts_with("//")
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || lowered.contains("%2e%2e")
        || lowered.contains("%2f")
        || path.split(['/', '?', '#']).any(|segment| segment == "..");
    if escapes {
        Err(TransportError::Denied(format!(
            "address `{}` is outside the target",
            shorten(path)
        )))
    } else {
        Ok(())
    }
}

/// At most 100 characters of plugin-provided text in an error.
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Turns a `Result<T, TransportError>` into what a WIT function returns.
pub(crate) fn to_wit<T, U: From<T>>(result: Result<T, TransportError>) -> Result<U, types::TransportError> {
    result.map(U::from).map_err(types::TransportError::from)
}

#[cfg(test)]
mod tests {
    use super::check_relative;

    #[test]
    fn relative_addresses_cannot_leave_the_target() {
        for good in ["bookings", "bookings/T-1?x=1", "out/2026/上海.csv", "/bookings"] {
            assert!(check_relative(good).is_ok(), "{good}");
        }
        for bad in [
            "../admin",
            "a/../../b",
            "http://evil/",
            "//evil/x",
            "a\\b",
            "%2E%2E/x",
            "a%2fb",
            "a\nb",
        ] {
            assert!(check_relative(bad).is_err(), "{bad}");
        }
    }
}
