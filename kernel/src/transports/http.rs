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
//! **Both ways** ([`HostCredentials`]): the plugin cannot send the host's
//! credential header itself (a request carrying it is `denied`; the sandbox
//! refuses it first, this file again), and it never *receives* the host's
//! credentials either. An OPS that echoes request headers — a debugging
//! proxy, an httpbin-style error page, a hostile or compromised server —
//! would otherwise hand the host's secret to the plugin, which could log it,
//! put it on an order's timeline or forward it in its next request; what the
//! plugin never holds it cannot leak. So before an answer leaves this file:
//! - every response header named like a credential header is removed:
//!   `Authorization`, `Proxy-Authorization`, the target's API-key header;
//! - every response header whose *value* contains one of the target's
//!   secrets as they travel (bearer token, basic password and the base64
//!   `user:password`, API key, WS-Security password) is removed, whatever its
//!   name (`X-Echo: Bearer …`);
//! - every occurrence of such a secret in the body is masked with `*`, byte
//!   for byte (same length: offsets, `Content-Length` and the document's
//!   structure stay as the OPS sent them).
//!
//! Secrets shorter than [`MIN_SEARCHED_SECRET`] bytes are not searched for
//! in values and bodies (they would match innocent text, and a credential
//! that short is guessable anyway); the credential headers go by name
//! regardless. The search is for the exact bytes: an OPS that re-encodes a
//! secret (URL-encoding, JSON escapes, compression) is not caught — this
//! closes the accidental echo, not an OPS set on exfiltration, which holds
//! the secret anyway.
//!
//! `Set-Cookie` (and the obsolete `Set-Cookie2`) is removed too: the host
//! keeps no cookie jar and `cookie` is a host-owned request header, so a
//! plugin could never send a cookie back, and a session cookie an OPS issues
//! in answer to the host's credentials is itself a credential (it
//! authenticates whoever presents it). A target that needs cookie sessions
//! needs the host to keep the jar, not the plugin.
//!
//! TLS: an OPS on a private PKI is reached by adding its CA (`ca_file`, a
//! PEM bundle) to the public roots, never by switching verification off —
//! there is no setting for that, on purpose. A certificate the roots do not
//! vouch for is a [`TransportError::ProtocolError`] naming TLS, not a
//! refusal: retrying cannot fix it, an operator must.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use url::Url;

use super::wsse::WsSecurity;
use super::{HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError};
use crate::secret::Secret;

/// Response headers no plugin sees, whatever the target's auth: credentials…
const CREDENTIAL_HEADERS: [&str; 2] = ["authorization", "proxy-authorization"];
/// …and sessions (see the module documentation).
const COOKIE_HEADERS: [&str; 2] = ["set-cookie", "set-cookie2"];

/// Shorter secrets are not searched for in header values and bodies.
pub const MIN_SEARCHED_SECRET: usize = 8;

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

impl HttpAuth {
    /// The request header this credential travels in, lowercase.
    pub fn header_name(&self) -> String {
        match self {
            HttpAuth::Bearer(_) | HttpAuth::Basic { .. } => "authorization".to_owned(),
            HttpAuth::Header { name, .. } => name.to_ascii_lowercase(),
        }
    }
}

/// What the host attaches to one target's requests, kept out of the
/// plugin's hands both ways (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct HostCredentials {
    /// Lowercase names of the request headers the host sets.
    headers: Vec<String>,
    /// The secrets as they cross the wire, each at least
    /// [`MIN_SEARCHED_SECRET`] bytes.
    secrets: Vec<Secret>,
}

impl HostCredentials {
    pub fn new(auth: Option<&HttpAuth>, wsse: Option<&WsSecurity>) -> Self {
        let mut secrets = Vec::new();
        match auth {
            Some(HttpAuth::Bearer(token)) => secrets.push(token.clone()),
            Some(HttpAuth::Basic { username, password }) => {
                secrets.push(password.clone());
                // what `Authorization: Basic …` carries
                secrets.push(Secret::new(BASE64.encode(format!("{username}:{}", password.expose()))));
            }
            Some(HttpAuth::Header { value, .. }) => secrets.push(value.clone()),
            None => {}
        }
        if let Some(wsse) = wsse {
            secrets.extend(wsse.password_as_sent());
        }
        secrets.retain(|secret| secret.expose().len() >= MIN_SEARCHED_SECRET);
        HostCredentials {
            headers: auth.map(HttpAuth::header_name).into_iter().collect(),
            secrets,
        }
    }

    /// The request headers the host sets, lowercase.
    pub fn host_headers(&self) -> &[String] {
        &self.headers
    }

    /// `denied` when the plugin set a header the host sets.
    pub fn refuse_host_headers(&self, headers: &[(String, String)]) -> Result<(), TransportError> {
        match headers.iter().find(|(name, _)| self.is_host_header(name)) {
            Some((name, _)) => Err(host_only(name)),
            None => Ok(()),
        }
    }

    fn is_host_header(&self, name: &str) -> bool {
        self.headers.iter().any(|host| host.eq_ignore_ascii_case(name))
    }

    /// The answer as the plugin may see it: credential headers and headers
    /// carrying a secret removed, secrets in the body masked.
    pub fn scrub(&self, response: &mut HttpResponse) -> Scrubbed {
        let mut scrubbed = Scrubbed::default();
        response.headers.retain(|(name, value)| {
            let is = |header: &&str| header.eq_ignore_ascii_case(name);
            if COOKIE_HEADERS.iter().any(is) {
                scrubbed.cookies += 1;
                return false;
            }
            let echoed = CREDENTIAL_HEADERS.iter().any(is)
                || self.is_host_header(name)
                || self.secrets.iter().any(|secret| value.contains(secret.expose()));
            if echoed {
                scrubbed.echoed_headers += 1;
            }
            !echoed
        });
        scrubbed.masked_in_body = self
            .secrets
            .iter()
            .map(|secret| mask_occurrences(&mut response.body, secret.expose().as_bytes()))
            .sum();
        scrubbed
    }
}

/// What [`HostCredentials::scrub`] took out of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scrubbed {
    /// Credential headers by name, or headers whose value held a secret.
    pub echoed_headers: usize,
    /// `Set-Cookie` headers (routine for many servers, not a warning).
    pub cookies: usize,
    /// Occurrences of a secret masked in the body.
    pub masked_in_body: usize,
}

/// The refusal of a header only the host sets.
pub fn host_only(name: &str) -> TransportError {
    let shown: String = name.chars().take(100).collect();
    TransportError::Denied(format!("header `{shown}` is set by the host only"))
}

/// Overwrites every occurrence of `needle` in `haystack` with `*`; returns
/// how many. Knuth–Morris–Pratt: linear in the body whatever the OPS sent.
fn mask_occurrences(haystack: &mut [u8], needle: &[u8]) -> usize {
    if needle.is_empty() || needle.len() > haystack.len() {
        return 0;
    }
    // border[i]: length of the longest proper border of needle[..=i]
    let mut border = vec![0usize; needle.len()];
    let mut length = 0;
    for i in 1..needle.len() {
        while length > 0 && needle[i] != needle[length] {
            length = border[length - 1];
        }
        if needle[i] == needle[length] {
            length += 1;
        }
        border[i] = length;
    }
    let mut found = Vec::new();
    let mut matched = 0;
    for (i, byte) in haystack.iter().enumerate() {
        while matched > 0 && *byte != needle[matched] {
            matched = border[matched - 1];
        }
        if *byte == needle[matched] {
            matched += 1;
        }
        if matched == needle.len() {
            found.push(i + 1 - needle.len());
            matched = border[matched - 1];
        }
    }
    for start in &found {
        haystack[*start..*start + needle.len()].fill(b'*');
    }
    found.len()
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
    credentials: HostCredentials,
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
            credentials: HostCredentials::new(auth.as_ref(), wsse.as_ref()),
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
        self.credentials.refuse_host_headers(&request.headers)?;
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
        let mut response = HttpResponse { status, headers, body };
        let scrubbed = self.credentials.scrub(&mut response);
        if scrubbed.echoed_headers + scrubbed.masked_in_body > 0 {
            // Which headers is no secret, but their values are: say how many.
            tracing::warn!(
                status,
                removed_headers = scrubbed.echoed_headers,
                masked_in_body = scrubbed.masked_in_body,
                "the OPS's answer carried credential headers or echoed the target's credentials; \
                 removed before the plugin sees it"
            );
        }
        Ok(response)
    }

    fn host_headers(&self) -> &[String] {
        self.credentials.host_headers()
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

    fn response(headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn names(response: &HttpResponse) -> Vec<&str> {
        response.headers.iter().map(|(name, _)| name.as_str()).collect()
    }

    #[test]
    fn credential_headers_and_echoed_secrets_never_reach_the_plugin() {
        let token = "tok-3f9c2a7e51d8";
        let credentials = HostCredentials::new(Some(&HttpAuth::Bearer(Secret::new(token))), None);
        let mut answer = response(
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("proxy-authorization", "Basic b3BzOnB3"),
                ("X-Echo", &format!("authorization=Bearer {token}; accept=*/*")),
                ("Set-Cookie", "session=abc; HttpOnly"),
                ("set-cookie2", "legacy=1"),
                ("X-Booking-Ref", "FO-000001"),
                ("Content-Type", "application/json"),
                ("WWW-Authenticate", "Bearer realm=\"ops\""),
            ],
            &format!(r#"{{"seen": "Bearer {token}", "again": "{token}", "ref": "FO-000001"}}"#),
        );
        let scrubbed = credentials.scrub(&mut answer);
        assert_eq!(names(&answer), ["X-Booking-Ref", "Content-Type", "WWW-Authenticate"]);
        let masked = "*".repeat(token.len());
        assert_eq!(
            String::from_utf8(answer.body).unwrap(),
            format!(r#"{{"seen": "Bearer {masked}", "again": "{masked}", "ref": "FO-000001"}}"#),
            "masked byte for byte, the rest as sent"
        );
        assert_eq!(
            scrubbed,
            Scrubbed {
                echoed_headers: 3,
                cookies: 2,
                masked_in_body: 2
            }
        );
    }

    #[test]
    fn basic_and_api_key_credentials_are_filtered_in_every_form_they_travel() {
        let basic = HttpAuth::Basic {
            username: "hub-broker".to_owned(),
            password: Secret::new("opensesame-42"),
        };
        let credentials = HostCredentials::new(Some(&basic), None);
        assert_eq!(credentials.host_headers(), ["authorization"]);
        // base64("hub-broker:opensesame-42"), what `Authorization: Basic …` carries
        let wire = BASE64.encode("hub-broker:opensesame-42");
        let mut answer = response(
            &[
                ("x-debug", &format!("basic {wire}")),
                ("x-login", "opensesame-42"),
                ("x-user", "hub-broker"),
            ],
            &format!("{wire} / opensesame-42"),
        );
        credentials.scrub(&mut answer);
        assert_eq!(names(&answer), ["x-user"], "the user name is no secret");
        assert!(answer.body.iter().all(|byte| matches!(byte, b'*' | b' ' | b'/')));

        let key = HttpAuth::Header {
            name: "X-Api-Key".to_owned(),
            value: Secret::new("ak_live_5b1d0e9f"),
        };
        let credentials = HostCredentials::new(Some(&key), None);
        assert_eq!(credentials.host_headers(), ["x-api-key"]);
        let mut answer = response(
            &[
                ("x-api-key", "something-else"),
                ("X-Echo", "ak_live_5b1d0e9f"),
                ("Etag", "\"1\""),
            ],
            "",
        );
        credentials.scrub(&mut answer);
        assert_eq!(
            names(&answer),
            ["Etag"],
            "the API-key header goes by name, whatever its value"
        );
        let refused = credentials.refuse_host_headers(&[("X-API-KEY".to_owned(), "forged".to_owned())]);
        assert_eq!(
            refused,
            Err(TransportError::Denied(
                "header `X-API-KEY` is set by the host only".to_owned()
            ))
        );
        assert_eq!(
            credentials.refuse_host_headers(&[("accept".to_owned(), "*/*".to_owned())]),
            Ok(())
        );
    }

    #[test]
    fn short_secrets_are_not_searched_for_but_credential_headers_still_go() {
        let credentials = HostCredentials::new(Some(&HttpAuth::Bearer(Secret::new("json"))), None);
        let mut answer = response(
            &[("Content-Type", "application/json"), ("Authorization", "Bearer json")],
            r#"{"json": true}"#,
        );
        credentials.scrub(&mut answer);
        assert_eq!(names(&answer), ["Content-Type"]);
        assert_eq!(answer.body, br#"{"json": true}"#);
        // without auth nothing is reserved, but credential headers still go
        let none = HostCredentials::new(None, None);
        assert!(none.host_headers().is_empty());
        let mut answer = response(&[("Authorization", "Bearer x"), ("x-ok", "1")], "body");
        none.scrub(&mut answer);
        assert_eq!(names(&answer), ["x-ok"]);
        assert_eq!(answer.body, b"body");
    }

    #[test]
    fn masking_finds_every_occurrence_in_linear_time() {
        let mut text = b"abab-aabab-ababab".to_vec();
        assert_eq!(mask_occurrences(&mut text, b"abab"), 4, "overlapping occurrences too");
        assert_eq!(text, b"****-a****-******");
        let mut short = b"ab".to_vec();
        assert_eq!(mask_occurrences(&mut short, b"abc"), 0);
        assert_eq!(mask_occurrences(&mut short, b""), 0);
        // a body built to defeat a naive search: 4 MiB of `a` against `aaa…ab`
        let mut hostile = vec![b'a'; 4 << 20];
        let needle = [vec![b'a'; 63], vec![b'b']].concat();
        assert_eq!(mask_occurrences(&mut hostile, &needle), 0);
    }

    #[test]
    fn a_base_url_without_trailing_slash_is_refused() {
        let error = ReqwestHttp::new(Url::parse("http://h/api").unwrap(), None, Duration::from_secs(1), 1).unwrap_err();
        assert!(error.to_string().contains("end with `/`"), "{error}");
    }
}
