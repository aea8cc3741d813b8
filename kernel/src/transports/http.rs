//! HTTP(S) to an OPS with reqwest: REST, SOAP, anything over HTTP.
//!
//! The transport owns the base URL and the credentials. The sandbox has
//! already checked that the plugin's path stays inside the target; this file
//! joins it to the base URL, attaches the credentials, reads the answer up to
//! the size limit and maps failures onto [`TransportError`].

use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use super::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use crate::secret::Secret;

/// How the host authenticates to the OPS. The plugin never sees these.
#[derive(Debug, Clone)]
pub enum HttpAuth {
    Bearer(Secret),
    Basic {
        username: String,
        password: Secret,
    },
    /// A custom header, e.g. `X-Api-Key`.
    Header {
        name: String,
        value: Secret,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("base URL `{0}` must be http or https and end with `/`")]
    BaseUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

#[derive(Debug)]
pub struct ReqwestHttp {
    client: reqwest::Client,
    base_url: Url,
    auth: Option<HttpAuth>,
    max_response_bytes: usize,
}

impl ReqwestHttp {
    pub fn new(
        base_url: Url,
        auth: Option<HttpAuth>,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> Result<Self, HttpSetupError> {
        if !matches!(base_url.scheme(), "http" | "https") || !base_url.path().ends_with('/') {
            return Err(HttpSetupError::BaseUrl(base_url.to_string()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect could leave the target; the plugin sees the 3xx.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| HttpSetupError::Client(error.to_string()))?;
        Ok(ReqwestHttp {
            client,
            base_url,
            auth,
            max_response_bytes,
        })
    }

    /// Where a relative path lands; refuses anything that leaves the base.
    fn resolve(&self, path: &str) -> Result<Url, TransportError> {
        let url = self
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|error| TransportError::Denied(format!("path `{path}` is not a relative URL: {error}")))?;
        let same_origin = url.origin() == self.base_url.origin();
        if !same_origin || !url.path().starts_with(self.base_url.path()) {
            return Err(TransportError::Denied(format!(
                "path `{path}` leaves the target's base URL"
            )));
        }
        Ok(url)
    }
}

fn map_error(error: &reqwest::Error) -> TransportError {
    // reqwest's Display includes the URL but never our credentials (they are
    // headers); strip the URL anyway to keep query strings out of logs.
    let text = error.without_url_ref();
    if error.is_timeout() {
        TransportError::Timeout(text)
    } else if error.is_connect() {
        TransportError::Refused(text)
    } else {
        TransportError::ProtocolError(text)
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<target>");
        }
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

#[async_trait]
impl HttpTransport for ReqwestHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = self.resolve(&request.path)?;
        let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
            .map_err(|error| TransportError::ProtocolError(error.to_string()))?;
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = match &self.auth {
            Some(HttpAuth::Bearer(token)) => builder.bearer_auth(token.expose()),
            Some(HttpAuth::Basic { username, password }) => builder.basic_auth(username, Some(password.expose())),
            Some(HttpAuth::Header { name, value }) => builder.header(name.as_str(), value.expose()),
            None => builder,
        };
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(|error| map_error(&error))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let limit = self.max_response_bytes;
        if response.content_length().is_some_and(|length| length > limit as u64) {
            return Err(TransportError::TooLarge(limit as u64));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| map_error(&error))? {
            if body.len() + chunk.len() > limit {
                return Err(TransportError::TooLarge(limit as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(base: &str) -> ReqwestHttp {
        ReqwestHttp::new(Url::parse(base).unwrap(), None, Duration::from_secs(1), 1024).unwrap()
    }

    #[test]
    fn relative_paths_land_under_the_base_url() {
        let http = transport("http://127.0.0.1:9/api/v2/");
        assert_eq!(
            http.resolve("bookings").unwrap().as_str(),
            "http://127.0.0.1:9/api/v2/bookings"
        );
        assert_eq!(
            http.resolve("/bookings?x=1").unwrap().as_str(),
            "http://127.0.0.1:9/api/v2/bookings?x=1"
        );
    }

    #[test]
    fn paths_that_leave_the_base_url_are_denied() {
        let http = transport("http://127.0.0.1:9/api/v2/");
        // A scheme-relative URL loses its leading slashes and stays a path under the base.
        assert_eq!(
            http.resolve("//evil.example/x").unwrap().as_str(),
            "http://127.0.0.1:9/api/v2/evil.example/x"
        );
        for path in ["../admin", "http://evil.example/", "%2e%2e/admin"] {
            let result = http.resolve(path);
            assert!(
                matches!(result, Err(TransportError::Denied(_))),
                "{path} resolved to {result:?}"
            );
        }
    }

    #[test]
    fn a_base_url_without_trailing_slash_is_refused() {
        let error = ReqwestHttp::new(Url::parse("http://h/api").unwrap(), None, Duration::from_secs(1), 1).unwrap_err();
        assert!(error.to_string().contains("end with `/`"), "{error}");
    }
}
