//! A test OPS over HTTP(S): a customs declaration SOAP service with
//! WS-Security, plus an echo endpoint for plain REST checks.
//!
//! Why a real server and not a mock: the transport's claims — the
//! UsernameToken is well-formed and its digest checks out, Chinese text
//! arrives byte-for-byte, the custom CA is trusted and the public roots are
//! not bypassed, timeouts fire — are only proven when bytes cross a socket
//! and another program, written independently of the hub, verifies them.
//! This server verifies the token the way a SOAP stack does (digest of the
//! nonce, creation time and password; freshness; nonce replay) and reads
//! the declaration namespace-aware with quick-xml, so it does not care which
//! prefixes the plugin or the host chose.
//!
//! Endpoints:
//! - `POST /customs/DeclarationService` — SOAP 1.1 (`text/xml`, `SOAPAction:
//!   "urn:example:customs:v1#SubmitDeclaration"`);
//! - `POST /customs/v12/DeclarationService` — the same in SOAP 1.2
//!   (`application/soap+xml; action="…"`);
//! - any method on `/echo` — 200 with the request body and content type;
//! - any method on `/echo-headers` — a careless (or hostile) OPS that
//!   mirrors the request's headers: each one back as a response header of
//!   the same name (framing headers aside), all of them again in the value
//!   of `X-Echo`, the `Authorization` value inside a `Set-Cookie`, and a
//!   JSON body `{"headers": {name: value}}`; plus a `Proxy-Authorization`
//!   of its own and `X-Booking-Ref: FO-000001`, which is nobody's secret;
//! - anything else — 404.
//!
//! Every request is recorded (method, path, headers, body bytes) before it
//! is answered, so a test can assert what the OPS actually received. What
//! the customs service answers is programmable ([`CustomsBehaviour`]): a
//! default plus a queue of one-shot behaviours for the next requests.
//! Declaration numbers are `CD-000001`, `CD-000002`, …; a repeated
//! `RequestId` gets the number it got the first time (status `DUPLICATE`),
//! as an idempotent OPS would answer a retry.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use sha1::{Digest as _, Sha1};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

pub const SOAP11_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_NAMESPACE: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const WSSE_NAMESPACE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU_NAMESPACE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const TOKEN_PROFILE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0";
/// The customs service's namespace.
pub const CUSTOMS_NAMESPACE: &str = "urn:example:customs:v1";
/// The SOAPAction of `SubmitDeclaration`.
pub const SUBMIT_ACTION: &str = "urn:example:customs:v1#SubmitDeclaration";
/// The SOAP 1.1 service path (relative to the base URL).
pub const CUSTOMS_PATH: &str = "customs/DeclarationService";
/// The SOAP 1.2 service path.
pub const CUSTOMS_V12_PATH: &str = "customs/v12/DeclarationService";
/// How far a `wsu:Created` may be from the server's clock.
const FRESHNESS_WINDOW_SECONDS: i64 = 300;

/// What the customs service does with the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomsBehaviour {
    /// Verify, read, answer a declaration number.
    Accept,
    /// Verify, read, answer a Client (1.2: Sender) Fault listing these errors.
    ClientFault(Vec<FieldError>),
    /// Verify, read, answer a Server (1.2: Receiver) Fault with this text.
    ServerFault(String),
    /// Wait this long, then behave as [`CustomsBehaviour::Accept`].
    Slow(Duration),
    /// HTTP 200 with a truncated, not well-formed document.
    Malformed,
    /// HTTP 200 with an empty body.
    Empty,
    /// HTTP 503 with `Retry-After: <seconds>`.
    Unavailable { retry_after_seconds: u64 },
}

/// One error in a Client Fault's detail; `field` is the OPS's path, e.g.
/// `Goods/Item[1]/HsCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: &str) -> FieldError {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// The UsernameToken the service requires (digest and text both accepted).
#[derive(Debug, Clone)]
pub struct WsseAccount {
    pub username: String,
    pub password: String,
}

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct OpsHttpOptions {
    /// `None`: the customs service does not check WS-Security.
    pub wsse: Option<WsseAccount>,
    /// Serve HTTPS with a certificate signed by a CA generated for this
    /// server ([`OpsHttpServer::ca_pem`]).
    pub tls: bool,
    /// Where to listen; `None`: a free port on 127.0.0.1 (tests).
    pub address: Option<SocketAddr>,
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/customs/DeclarationService`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A declaration the customs service read and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedDeclaration {
    pub soap_version: &'static str,
    /// `PasswordDigest` or `PasswordText`; `None` when WS-Security is off.
    pub password_type: Option<String>,
    pub request_id: Option<String>,
    pub hub_order_id: String,
    pub declarant_name: Option<String>,
    pub item_descriptions: Vec<String>,
    /// The number answered (also for faults: empty).
    pub declaration_no: String,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    declarations: Mutex<Vec<ReceivedDeclaration>>,
    next: Mutex<VecDeque<CustomsBehaviour>>,
    default: Mutex<Option<CustomsBehaviour>>,
    numbers: Mutex<HashMap<String, String>>,
    issued: Mutex<u64>,
    nonces: Mutex<HashSet<String>>,
    arrived: Notify,
    wsse: Option<WsseAccount>,
}

/// Locks ignoring poisoning: a panicking test thread must not hide what
/// the server recorded.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running server; it stops when dropped.
pub struct OpsHttpServer {
    address: SocketAddr,
    tls: bool,
    ca_pem: Option<String>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl OpsHttpServer {
    /// Plain HTTP, no WS-Security check.
    pub async fn start_plain() -> anyhow::Result<OpsHttpServer> {
        OpsHttpServer::start(OpsHttpOptions::default()).await
    }

    pub async fn start(options: OpsHttpOptions) -> anyhow::Result<OpsHttpServer> {
        let address = options
            .address
            .unwrap_or_else(|| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)));
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding the OPS HTTP server to {address}"))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            wsse: options.wsse.clone(),
            ..Shared::default()
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let ca_pem = if options.tls {
            let (ca_pem, config) = generate_tls()?;
            let listener = TlsListener {
                tcp: listener,
                acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            };
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
                if let Err(error) = served {
                    tracing::warn!(%error, "the HTTPS test OPS stopped");
                }
            });
            Some(ca_pem)
        } else {
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
                if let Err(error) = served {
                    tracing::warn!(%error, "the HTTP test OPS stopped");
                }
            });
            None
        };
        Ok(OpsHttpServer {
            address,
            tls: options.tls,
            ca_pem,
            shared,
            stop: Some(stop),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>/` (or `https://…`), ready as a target's base URL.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/", self.address)
    }

    /// The PEM of the CA that signed the HTTPS certificate (HTTPS only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// What the customs service does once the queued behaviours are used up
    /// (initially [`CustomsBehaviour::Accept`]).
    pub fn set_behaviour(&self, behaviour: CustomsBehaviour) {
        *lock(&self.shared.default) = Some(behaviour);
    }

    /// What the customs service does with the next request not yet covered
    /// by earlier queued behaviours.
    pub fn queue_behaviour(&self, behaviour: CustomsBehaviour) {
        lock(&self.shared.next).push_back(behaviour);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Every declaration the customs service read (accepted or faulted).
    pub fn declarations(&self) -> Vec<ReceivedDeclaration> {
        lock(&self.shared.declarations).clone()
    }

    /// Waits until at least `count` requests arrived, up to `within`.
    pub async fn wait_for_requests(&self, count: usize, within: Duration) -> anyhow::Result<Vec<RecordedRequest>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.shared.arrived.notified();
            let requests = self.requests();
            if requests.len() >= count {
                return Ok(requests);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                anyhow::bail!(
                    "the OPS received {} requests within {within:?}, expected {count}",
                    self.requests().len()
                );
            }
        }
    }
}

impl Drop for OpsHttpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A CA and a server certificate for `127.0.0.1`/`localhost` signed by it.
fn generate_tls() -> anyhow::Result<(String, rustls::ServerConfig)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Order Hub test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "customs-ops.test");
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![server_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )?;
    Ok((ca_cert.pem(), config))
}

/// TCP plus a TLS handshake per connection. A failed handshake (a client
/// that does not trust the CA) drops that connection and waits for the next.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, address) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "test OPS accept failed");
                    continue;
                }
            };
            let handshake = tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(stream)).await;
            match handshake {
                Ok(Ok(tls)) => return (tls, address),
                Ok(Err(error)) => tracing::debug!(%error, "test OPS TLS handshake failed"),
                Err(_) => tracing::debug!("test OPS TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |path| path.to_string());
    let request = RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
    };
    lock(&shared.requests).push(request.clone());
    shared.arrived.notify_waiters();

    match (method, uri.path()) {
        (_, "/echo") => {
            let content_type = request
                .header("content-type")
                .unwrap_or("application/octet-stream")
                .to_owned();
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        (_, "/echo-headers") => echo_headers(&request),
        (Method::POST, "/customs/DeclarationService") => customs(&shared, &request, Soap::V11).await,
        (Method::POST, "/customs/v12/DeclarationService") => customs(&shared, &request, Soap::V12).await,
        _ => (StatusCode::NOT_FOUND, "no such service").into_response(),
    }
}

/// `/echo-headers`: every request header mirrored, three ways.
fn echo_headers(request: &RecordedRequest) -> Response {
    const FRAMING: [&str; 5] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "host",
        "content-type",
    ];
    let mirrored: Vec<&(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| !FRAMING.contains(&name.as_str()))
        .collect();
    let mut response = serde_json::json!({
        "headers": mirrored.iter().map(|(name, value)| (name.clone(), serde_json::json!(value))).collect::<serde_json::Map<_, _>>(),
    })
    .to_string()
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in &mirrored {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    let all = mirrored
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    if let Ok(all) = HeaderValue::try_from(all) {
        headers.insert("x-echo", all);
    }
    let session = request
        .header("authorization")
        .unwrap_or("none")
        .replace([' ', ';', ','], "_");
    if let Ok(cookie) = HeaderValue::try_from(format!("session={session}; Path=/; HttpOnly")) {
        headers.append(header::SET_COOKIE, cookie);
    }
    // as if a proxy on the OPS's side had let its own credentials slip through
    headers.insert(
        "proxy-authorization",
        HeaderValue::from_static("Basic b3BzLXByb3h5OnByb3h5LXB3"),
    );
    headers.insert("x-booking-ref", HeaderValue::from_static("FO-000001"));
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Soap {
    V11,
    V12,
}

impl Soap {
    fn namespace(self) -> &'static str {
        match self {
            Soap::V11 => SOAP11_NAMESPACE,
            Soap::V12 => SOAP12_NAMESPACE,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Soap::V11 => "text/xml; charset=utf-8",
            Soap::V12 => "application/soap+xml; charset=utf-8",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Soap::V11 => "1.1",
            Soap::V12 => "1.2",
        }
    }
}

/// A fault to answer: who is at fault, a WS-Security code if any, the text,
/// and the detail's XML.
struct FaultAnswer {
    sender: bool,
    security_code: Option<&'static str>,
    reason: String,
    detail: Option<String>,
}

impl FaultAnswer {
    fn client(reason: impl Into<String>) -> FaultAnswer {
        FaultAnswer {
            sender: true,
            security_code: None,
            reason: reason.into(),
            detail: None,
        }
    }

    fn authentication(reason: impl Into<String>) -> FaultAnswer {
        FaultAnswer {
            sender: true,
            security_code: Some("FailedAuthentication"),
            reason: reason.into(),
            detail: None,
        }
    }
}

async fn customs(shared: &Shared, request: &RecordedRequest, soap: Soap) -> Response {
    let behaviour = lock(&shared.next)
        .pop_front()
        .or_else(|| lock(&shared.default).clone())
        .unwrap_or(CustomsBehaviour::Accept);
    match &behaviour {
        CustomsBehaviour::Unavailable { retry_after_seconds } => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, retry_after_seconds.to_string())],
                "declaration service under maintenance",
            )
                .into_response();
        }
        CustomsBehaviour::Malformed => {
            let truncated = format!(
                "<?xml version=\"1.0\"?><S:Envelope xmlns:S=\"{}\"><S:Body><c:SubmitDeclarationRes",
                soap.namespace()
            );
            return xml_response(StatusCode::OK, soap, truncated);
        }
        CustomsBehaviour::Empty => return xml_response(StatusCode::OK, soap, String::new()),
        // The server is slow on purpose: this is the OPS's behaviour under
        // test (the client's timeout), not synchronisation.
        CustomsBehaviour::Slow(delay) => tokio::time::sleep(*delay).await,
        CustomsBehaviour::Accept | CustomsBehaviour::ClientFault(_) | CustomsBehaviour::ServerFault(_) => {}
    }

    match check_and_read(shared, request, soap) {
        Err(fault) => fault_response(soap, fault),
        Ok(mut declaration) => {
            let answer = match behaviour {
                CustomsBehaviour::ClientFault(errors) => Err(FaultAnswer {
                    sender: true,
                    security_code: None,
                    reason: "申报数据有误 the declaration has errors".to_owned(),
                    detail: Some(validation_errors(&errors)),
                }),
                CustomsBehaviour::ServerFault(text) => Err(FaultAnswer {
                    sender: false,
                    security_code: None,
                    reason: text,
                    detail: None,
                }),
                _ => Ok(number_for(shared, declaration.request_id.as_deref())),
            };
            match answer {
                Ok((number, duplicate)) => {
                    declaration.declaration_no = number.clone();
                    lock(&shared.declarations).push(declaration);
                    let status = if duplicate { "DUPLICATE" } else { "ACCEPTED" };
                    // Prefixes differ from the plugin's on purpose.
                    let xml = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><S:Envelope xmlns:S=\"{}\"><S:Body>\
                         <ns2:SubmitDeclarationResponse xmlns:ns2=\"{CUSTOMS_NAMESPACE}\">\
                         <ns2:DeclarationNo>{number}</ns2:DeclarationNo><ns2:Status>{status}</ns2:Status>\
                         <ns2:Message>申报已受理 declaration accepted</ns2:Message>\
                         </ns2:SubmitDeclarationResponse></S:Body></S:Envelope>",
                        soap.namespace()
                    );
                    xml_response(StatusCode::OK, soap, xml)
                }
                Err(fault) => {
                    lock(&shared.declarations).push(declaration);
                    fault_response(soap, fault)
                }
            }
        }
    }
}

/// The number for a request id: a new one, or the one it got before.
fn number_for(shared: &Shared, request_id: Option<&str>) -> (String, bool) {
    let mut numbers = lock(&shared.numbers);
    if let Some(number) = request_id.and_then(|id| numbers.get(id)) {
        return (number.clone(), true);
    }
    let mut issued = lock(&shared.issued);
    *issued += 1;
    let number = format!("CD-{:06}", *issued);
    if let Some(id) = request_id {
        numbers.insert(id.to_owned(), number.clone());
    }
    (number, false)
}

fn validation_errors(errors: &[FieldError]) -> String {
    let mut xml = format!("<v:ValidationErrors xmlns:v=\"{CUSTOMS_NAMESPACE}\">");
    for error in errors {
        xml.push_str(&format!(
            "<v:Error><v:Field>{}</v:Field><v:Code>{}</v:Code><v:Message>{}</v:Message></v:Error>",
            escape(error.field.as_str()),
            escape(error.code.as_str()),
            escape(error.message.as_str())
        ));
    }
    xml.push_str("</v:ValidationErrors>");
    xml
}

fn xml_response(status: StatusCode, soap: Soap, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(soap.content_type()));
    response
}

fn fault_response(soap: Soap, fault: FaultAnswer) -> Response {
    let reason = escape(fault.reason.as_str());
    let xml = match soap {
        Soap::V11 => {
            let code = match fault.security_code {
                Some(code) => format!("<faultcode xmlns:wsse=\"{WSSE_NAMESPACE}\">wsse:{code}</faultcode>"),
                None if fault.sender => "<faultcode>soapenv:Client</faultcode>".to_owned(),
                None => "<faultcode>soapenv:Server</faultcode>".to_owned(),
            };
            let detail = fault
                .detail
                .map(|detail| format!("<detail>{detail}</detail>"))
                .unwrap_or_default();
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"{SOAP11_NAMESPACE}\">\
                 <soapenv:Body><soapenv:Fault>{code}<faultstring xml:lang=\"zh\">{reason}</faultstring>{detail}\
                 </soapenv:Fault></soapenv:Body></soapenv:Envelope>"
            )
        }
        Soap::V12 => {
            let value = if fault.sender { "env:Sender" } else { "env:Receiver" };
            let subcode = fault
                .security_code
                .map(|code| {
                    format!(
                        "<env:Subcode><env:Value xmlns:wsse=\"{WSSE_NAMESPACE}\">wsse:{code}</env:Value></env:Subcode>"
                    )
                })
                .unwrap_or_default();
            let detail = fault
                .detail
                .map(|detail| format!("<env:Detail>{detail}</env:Detail>"))
                .unwrap_or_default();
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><env:Envelope xmlns:env=\"{SOAP12_NAMESPACE}\">\
                 <env:Body><env:Fault><env:Code><env:Value>{value}</env:Value>{subcode}</env:Code>\
                 <env:Reason><env:Text xml:lang=\"zh\">{reason}</env:Text></env:Reason>{detail}\
                 </env:Fault></env:Body></env:Envelope>"
            )
        }
    };
    let status = match (soap, fault.sender) {
        (Soap::V12, true) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    xml_response(status, soap, xml)
}

/// SOAPAction, envelope, WS-Security, then the declaration itself.
fn check_and_read(shared: &Shared, request: &RecordedRequest, soap: Soap) -> Result<ReceivedDeclaration, FaultAnswer> {
    let expected_action = format!("\"{SUBMIT_ACTION}\"");
    match soap {
        Soap::V11 => {
            if !request
                .header("content-type")
                .is_some_and(|value| value.to_ascii_lowercase().starts_with("text/xml"))
            {
                return Err(FaultAnswer::client("SOAP 1.1 requests must be text/xml"));
            }
            if request.header("soapaction").map(str::trim) != Some(expected_action.as_str()) {
                return Err(FaultAnswer::client(format!(
                    "unknown SOAPAction {:?}; expected {expected_action}",
                    request.header("soapaction")
                )));
            }
        }
        Soap::V12 => {
            let content_type = request.header("content-type").unwrap_or_default();
            if !content_type.to_ascii_lowercase().starts_with("application/soap+xml") {
                return Err(FaultAnswer::client("SOAP 1.2 requests must be application/soap+xml"));
            }
            if !content_type.contains(&format!("action={expected_action}")) {
                return Err(FaultAnswer::client(format!(
                    "the content type's action is not {expected_action}: {content_type}"
                )));
            }
        }
    }
    let root = parse_xml(&request.body)
        .map_err(|problem| FaultAnswer::client(format!("cannot read the request: {problem}")))?;
    if !root.is(soap.namespace(), "Envelope") {
        return Err(FaultAnswer::client(format!(
            "the root element is not a SOAP {} Envelope",
            soap.name()
        )));
    }
    let password_type = match &shared.wsse {
        None => None,
        Some(account) => Some(verify_token(shared, account, &root)?),
    };
    let body = root
        .child(soap.namespace(), "Body")
        .ok_or_else(|| FaultAnswer::client("the Envelope has no Body"))?;
    let submit = body
        .children
        .first()
        .filter(|element| element.is(CUSTOMS_NAMESPACE, "SubmitDeclaration"))
        .ok_or_else(|| FaultAnswer::client(format!("the Body holds no {{{CUSTOMS_NAMESPACE}}}SubmitDeclaration")))?;
    let text = |element: &XmlNode, name: &str| {
        element
            .child(CUSTOMS_NAMESPACE, name)
            .map(|child| child.text.trim().to_owned())
    };
    let hub_order_id = text(submit, "HubOrderId").ok_or_else(|| FaultAnswer::client("HubOrderId is missing"))?;
    let items: Vec<&XmlNode> = submit
        .child(CUSTOMS_NAMESPACE, "Goods")
        .map(|goods| {
            goods
                .children
                .iter()
                .filter(|item| item.is(CUSTOMS_NAMESPACE, "Item"))
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        return Err(FaultAnswer::client("Goods has no Item"));
    }
    Ok(ReceivedDeclaration {
        soap_version: soap.name(),
        password_type,
        request_id: text(submit, "RequestId"),
        hub_order_id,
        declarant_name: submit
            .child(CUSTOMS_NAMESPACE, "Declarant")
            .and_then(|declarant| text(declarant, "Name")),
        item_descriptions: items.iter().filter_map(|item| text(item, "Description")).collect(),
        declaration_no: String::new(),
    })
}

/// Checks the UsernameToken; returns its password type's short name.
fn verify_token(shared: &Shared, account: &WsseAccount, envelope: &XmlNode) -> Result<String, FaultAnswer> {
    let namespace = envelope.namespace.clone().unwrap_or_default();
    let token = envelope
        .child(&namespace, "Header")
        .and_then(|header| header.child(WSSE_NAMESPACE, "Security"))
        .and_then(|security| security.child(WSSE_NAMESPACE, "UsernameToken"))
        .ok_or_else(|| FaultAnswer::authentication("no wsse:Security UsernameToken in the Header"))?;
    let username = token.child(WSSE_NAMESPACE, "Username").map(|name| name.text.as_str());
    if username != Some(account.username.as_str()) {
        return Err(FaultAnswer::authentication("unknown user"));
    }
    let password = token
        .child(WSSE_NAMESPACE, "Password")
        .ok_or_else(|| FaultAnswer::authentication("no Password"))?;
    let password_type = password.attribute("Type").unwrap_or_default();
    if password_type == format!("{TOKEN_PROFILE}#PasswordText") {
        if password.text != account.password {
            return Err(FaultAnswer::authentication("wrong password"));
        }
        return Ok("PasswordText".to_owned());
    }
    if password_type != format!("{TOKEN_PROFILE}#PasswordDigest") {
        return Err(FaultAnswer::authentication(format!(
            "unknown password type {password_type:?}"
        )));
    }
    let nonce = token
        .child(WSSE_NAMESPACE, "Nonce")
        .ok_or_else(|| FaultAnswer::authentication("a digest without a Nonce"))?;
    let created = token
        .child(WSU_NAMESPACE, "Created")
        .ok_or_else(|| FaultAnswer::authentication("a digest without wsu:Created"))?;
    let nonce_bytes = BASE64
        .decode(nonce.text.trim())
        .map_err(|_| FaultAnswer::authentication("the Nonce is not Base64"))?;
    let created_at =
        parse_utc(created.text.trim()).ok_or_else(|| FaultAnswer::authentication("wsu:Created is not a UTC time"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX));
    if (now - created_at).abs() > FRESHNESS_WINDOW_SECONDS {
        return Err(FaultAnswer::authentication("the token is not fresh"));
    }
    let mut hasher = Sha1::new();
    hasher.update(&nonce_bytes);
    hasher.update(created.text.trim().as_bytes());
    hasher.update(account.password.as_bytes());
    if BASE64.encode(hasher.finalize()) != password.text.trim() {
        return Err(FaultAnswer::authentication("the password digest does not match"));
    }
    if !lock(&shared.nonces).insert(nonce.text.trim().to_owned()) {
        return Err(FaultAnswer::authentication("the nonce was used before (replay)"));
    }
    Ok("PasswordDigest".to_owned())
}

/// `YYYY-MM-DDThh:mm:ss[.fff]Z` as Unix seconds.
fn parse_utc(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let time = time.split('.').next()?;
    let mut time = time.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    // Days from the civil date (H. Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// An element, namespace-resolved.
#[derive(Debug, Default)]
struct XmlNode {
    namespace: Option<String>,
    local: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<XmlNode>,
}

impl XmlNode {
    fn is(&self, namespace: &str, local: &str) -> bool {
        self.local == local && self.namespace.as_deref() == Some(namespace)
    }

    fn child(&self, namespace: &str, local: &str) -> Option<&XmlNode> {
        self.children.iter().find(|child| child.is(namespace, local))
    }

    fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == local)
            .map(|(_, value)| value.as_str())
    }
}

/// The document as a tree; refuses DTDs like any hardened SOAP stack.
fn parse_xml(bytes: &[u8]) -> Result<XmlNode, String> {
    let text = std::str::from_utf8(bytes).map_err(|error| format!("not UTF-8: {error}"))?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<XmlNode> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|error| error.to_string())?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let (namespace, local) = reader.resolver().resolve_element(start.name());
                let mut node = XmlNode {
                    namespace: match namespace {
                        ResolveResult::Bound(namespace) => {
                            Some(String::from_utf8_lossy(namespace.as_ref()).into_owned())
                        }
                        _ => None,
                    },
                    local: String::from_utf8_lossy(local.as_ref()).into_owned(),
                    ..XmlNode::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|error| error.to_string())?;
                    if attribute.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|error| error.to_string())?;
                    node.attributes.push((
                        String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned(),
                        value.into_owned(),
                    ));
                }
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("an end tag without a start tag")?;
                attach(&mut stack, &mut root, node);
            }
            Event::Text(text) => {
                if let Some(node) = stack.last_mut() {
                    node.text
                        .push_str(&text.xml10_content().map_err(|error| error.to_string())?);
                }
            }
            Event::CData(data) => {
                if let Some(node) = stack.last_mut() {
                    node.text
                        .push_str(&data.xml10_content().map_err(|error| error.to_string())?);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|error| error.to_string())? {
                    Some(character) => character.to_string(),
                    None => {
                        let name = reference.decode().map_err(|error| error.to_string())?;
                        quick_xml::escape::resolve_xml_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_owned()
                    }
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => return Err("DTDs are not accepted".to_owned()),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".to_owned());
    }
    root.ok_or_else(|| "no root element".to_owned())
}

fn attach(stack: &mut [XmlNode], root: &mut Option<XmlNode>, node: XmlNode) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_times() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_utc("2026-11-03T08:30:05.123Z"), Some(1_793_694_605));
        assert_eq!(parse_utc("2026-11-03 08:30:05"), None);
    }
}
