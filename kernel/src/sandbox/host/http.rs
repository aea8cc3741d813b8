//! `hub:plugin/http`: requests to the target's base URL.

use super::super::bindings::hub::plugin::http::{Host, Method, Request, Response};
use super::super::bindings::hub::plugin::types;
use super::super::grants::Capability;
use super::super::state::CallState;
use super::super::target::path_matches;
use super::{check_relative, check_size, shorten, to_wit};
use crate::transports::{HttpMethod, HttpRequest, HttpResponse, TransportError};

/// Headers only the host sets: credentials, framing and trace context. A
/// target with an API-key header adds that one ([`HttpTransport::host_headers`]).
///
/// [`HttpTransport::host_headers`]: crate::transports::HttpTransport::host_headers
const RESERVED_HEADERS: [&str; 9] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "traceparent",
    "tracestate",
];

impl Host for CallState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, types::TransportError>> {
        if let Err(denied) = self.gate(Capability::Http, "http.send")? {
            return Ok(to_wit::<HttpResponse, Response>(Err(denied)));
        }
        let transport = self.target.transports.http.clone();
        let host_headers = transport.as_deref().map(|http| http.host_headers()).unwrap_or_default();
        let checked = self.check_request(request, host_headers);
        let result = match (checked, transport) {
            (Err(error), _) => Err(error),
            (Ok(_), None) => Err(TransportError::Denied(format!(
                "target `{}` has no HTTP endpoint",
                self.target.name
            ))),
            (Ok(request), Some(transport)) => {
                let limit = self.limits.max_message_bytes();
                transport.send(request).await.and_then(|response| {
                    check_size(response.body.len(), limit)?;
                    Ok(response)
                })
            }
        };
        Ok(to_wit(result))
    }
}

impl CallState {
    /// `host_headers`: what the target's transport sets besides
    /// [`RESERVED_HEADERS`] (its API-key header), refused the same way.
    fn check_request(&self, request: Request, host_headers: &[String]) -> Result<HttpRequest, TransportError> {
        check_relative(&request.path)?;
        let path_only = request.path.split(['?', '#']).next().unwrap_or_default();
        let patterns = &self.target.http_paths;
        if !patterns.is_empty() && !patterns.iter().any(|pattern| path_matches(pattern, path_only)) {
            return Err(TransportError::Denied(format!(
                "path `{}` is not among target `{}`'s allowed paths",
                shorten(path_only),
                self.target.name
            )));
        }
        if let Some((name, _)) = request.headers.iter().find(|(name, _)| {
            let name = name.to_ascii_lowercase();
            RESERVED_HEADERS.contains(&name.as_str()) || host_headers.contains(&name)
        }) {
            return Err(TransportError::Denied(format!(
                "header `{}` is set by the host only",
                shorten(name)
            )));
        }
        if let Some(body) = &request.body {
            check_size(body.len(), self.limits.max_message_bytes())?;
        }
        let mut headers = request.headers;
        if let Some(traceparent) = &self.traceparent {
            headers.push(("traceparent".to_owned(), traceparent.clone()));
        }
        Ok(HttpRequest {
            method: match request.method {
                Method::Get => HttpMethod::Get,
                Method::Head => HttpMethod::Head,
                Method::Post => HttpMethod::Post,
                Method::Put => HttpMethod::Put,
                Method::Patch => HttpMethod::Patch,
                Method::Delete => HttpMethod::Delete,
            },
            path: request.path.trim_start_matches('/').to_owned(),
            headers,
            body: request.body,
        })
    }
}

impl From<HttpResponse> for Response {
    fn from(response: HttpResponse) -> Self {
        Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }
    }
}
