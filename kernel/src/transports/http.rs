//! HTTP(S) to an OPS with reqwest: REST, SOAP, anything over HTTP.
//!
//! The transport owns the base URL and the credentials. The sandbox has
//! already checked that the plugin's path stays inside the target; this file
//! joins it to the base URL, attaches the credentials, reads the answer up to
//! the size limit and maps failures onto [`TransportError`].
//!
//! Credentials are the host's business, never the plugin's: an `auth` header
//! is attached here, and a target with WS-Security gets its UsernameToken
//! inserted into every SOAP body here ([`super::wsse`]), after the plugin
//! has built the envelope. Secrets never appear in errors: reqwest's messages
//! carry neither headers nor bodies, and the URL is stripped as well.
//!
//! TLS: an OPS on a private PKI is reached by adding its CA (`ca_file`, a
//! PEM bundle) to the public roots, never by switching verification off —
//! there is no setting for that, on purpose. A certificate the roots do not
//! vouch for is a [`TransportError::ProtocolError`] naming TLS, not a
//! refusal: retrying cannot fix it, an operator must.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use super::wsse::WsSecurity;
use super::{HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError};
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
    /// The extra CA file cannot be used; `path` is the configured file.
    #[error("CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
}

/// Everything one HTTP target needs; [`ReqwestHttp::new`] is the shorthand
/// for a plain target (no extra CA, no WS-Security).
#[derive(Debug, Clone)]
pub struct HttpTargetOptions {
    /// Every plugin path is joined to this; http or https, ending with `/`.
    pub base_url: Url,
    pub auth: Option<HttpAuth>,
    /// The whole request, connection to last byte of the answer.
    pub timeout: Duration,
    pub max_response_bytes: usize,
    /// A PEM file with one or more CA certificates trusted in addition to
    /// the public roots.
    pub ca_file: Option<PathBuf>,
    /// WS-Security UsernameToken inserted into every SOAP request body.
    pub wsse: Option<WsSecurity>,
}

#[derive(Debug)]
pub struct ReqwestHttp {
    client: reqwest::Client,
    base_url: Url,
    auth: Option<HttpAuth>,
    wsse: Option<WsSecurity>,
    max_response_bytes: usize,
}

impl ReqwestHttp {
    /// A target with public TLS roots only and no WS-Security.
    pub fn new(
        base_url: Url,
        auth: Option<HttpAuth>,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> Result<Self, HttpSetupError> {
        ReqwestHttp::with_options(HttpTargetOptions {
            base_url,
            auth,
            timeout,
            max_response_bytes,
            ca_file: None,
            wsse: None,
        })
    }

    pub fn with_options(options: HttpTargetOptions) -> Result<Self, HttpSetupError> {
        let HttpTargetOptions {
            base_url,
            auth,
            timeout,
            max_response_bytes,
            ca_file,
            wsse,
        } = options;
        if !matches!(base_url.scheme(), "http" | "https") || !base_url.path().ends_with('/') {
            return Err(HttpSetupError::BaseUrl(base_url.to_string()));
        }
        let extra_roots = match &ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let builder = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                // A redirect could leave the target; the plugin sees the 3xx.
                .redirect(reqwest::redirect::Policy::none())
                // Explicit, though it is the default: the public roots stay.
                .tls_built_in_root_certs(true)
        };
        let mut with_roots = builder();
        for certificate in extra_roots {
            with_roots = with_roots.add_root_certificate(certificate);
        }
        let client = match (with_roots.build(), &ca_file) {
            (Ok(client), _) => client,
            // The roots are only checked when the client is built: tell a
            // bad certificate in the CA file from any other failure.
            (Err(error), Some(path)) if builder().build().is_ok() => {
                return Err(HttpSetupError::CaFile {
                    path: path.clone(),
                    reason: format!("not a usable CA certificate: {}", error_chain(&error)),
                });
            }
            (Err(error), _) => return Err(HttpSetupError::Client(error_chain(&error))),
        };
        Ok(ReqwestHttp {
            client,
            base_url,
            auth,
            wsse,
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

/// The certificates of a PEM bundle; a file without any is an error (an
/// empty trust addition is surely a wrong path or a key file).
fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, HttpSetupError> {
    let failed = |reason: String| HttpSetupError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|error| failed(format!("cannot read it: {error}")))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|error| failed(format!("not a PEM certificate bundle: {}", error_chain(&error))))?;
    if certificates.is_empty() {
        return Err(failed(
            "holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)".to_owned(),
        ));
    }
    Ok(certificates)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn map_error(error: &reqwest::Error) -> TransportError {
    // reqwest's Display includes the URL but never our credentials (they are
    // headers); strip the URL anyway to keep query strings out of logs.
    let text = error.without_url_ref();
    if error.is_timeout() {
        TransportError::Timeout(text)
    } else if error.is_connect() && is_tls_failure(&text) {
        TransportError::ProtocolError(format!("TLS handshake failed: {text}"))
    } else if error.is_connect() {
        TransportError::Refused(text)
    } else {
        TransportError::ProtocolError(text)
    }
}

/// reqwest reports a failed handshake as a connect error, like a refused
/// port; but a certificate nobody trusts will not get better by retrying.
/// rustls is not a direct dependency, so the error chain's text is the
/// only way to tell (its messages name the certificate or the handshake).
fn is_tls_failure(chain: &str) -> bool {
    let chain = chain.to_ascii_lowercase();
    ["certificate", "handshake", "tls", "alert"]
        .iter()
        .any(|word| chain.contains(word))
}

/// The media type of a Content-Type header, lowercase, without parameters.
fn media_type(headers: &[(String, String)]) -> Option<String> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))?;
    let media = value.split(';').next().unwrap_or_default().trim();
    Some(media.to_ascii_lowercase())
}

/// SOAP 1.1 travels as `text/xml`, SOAP 1.2 as `application/soap+xml`.
fn is_soap_request(request: &HttpRequest) -> bool {
    request.method == HttpMethod::Post
        && request.body.is_some()
        && media_type(&request.headers).is_some_and(|media| media == "text/xml" || media == "application/soap+xml")
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
        let mut request = request;
        if let Some(wsse) = &self.wsse
            && is_soap_request(&request)
            && let Some(body) = &request.body
        {
            request.body = Some(wsse.secure(body)?);
        }
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
