//! The HTTP transport against a real HTTP(S) server on loopback: the
//! WS-Security UsernameToken the host adds is verified by a server that
//! knows nothing of the hub's code (digest and text), Chinese text arrives
//! byte-for-byte, a private CA is trusted only when configured, and slow or
//! overloaded OPS reach the caller as a timeout or as a 503 with its
//! Retry-After, and an OPS that echoes the host's credentials (bearer,
//! basic, API key, a WS-Security password) does not hand them to the plugin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hub_e2e::servers::ops_http::{
    CUSTOMS_PATH, CUSTOMS_V12_PATH, CustomsBehaviour, FieldError, OpsHttpOptions, OpsHttpServer, SOAP11_NAMESPACE,
    SOAP12_NAMESPACE, SUBMIT_ACTION, WsseAccount,
};
use hub_kernel::config::{HubConfig, WssePasswordType};
use hub_kernel::plugins::PluginHost;
use hub_kernel::secret::Secret;
use hub_kernel::transports::http::{HttpAuth, HttpSetupError, HttpTargetOptions, ReqwestHttp};
use hub_kernel::transports::wsse::WsSecurity;
use hub_kernel::transports::{HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError};
use reqwest::Url;

const USER: &str = "hub-broker";
const PASSWORD: &str = "Zoll-Passw0rt&<密>";
const DECLARANT: &str = "宁波海关报关有限公司 张伟";
const GOODS: &str = "蓝牙耳机 <Bluetooth> & 充电盒";

fn options(base_url: &str) -> HttpTargetOptions {
    HttpTargetOptions {
        base_url: Url::parse(base_url).unwrap(),
        auth: None,
        timeout: Duration::from_secs(10),
        max_response_bytes: 1 << 20,
        ca_file: None,
        wsse: None,
    }
}

fn wsse(password: &str, password_type: WssePasswordType) -> Option<WsSecurity> {
    Some(WsSecurity {
        username: USER.to_owned(),
        password: Secret::new(password),
        password_type,
    })
}

async fn wss_server() -> OpsHttpServer {
    OpsHttpServer::start(OpsHttpOptions {
        wsse: Some(WsseAccount {
            username: USER.to_owned(),
            password: PASSWORD.to_owned(),
        }),
        tls: false,
        address: None,
    })
    .await
    .unwrap()
}

/// A SubmitDeclaration the way a plugin would write it (escaped by hand
/// here: the test must not depend on the code under test).
fn declaration(envelope_prefix: &str, namespace: &str, order_id: &str) -> String {
    let goods = GOODS.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <{p}:Envelope xmlns:{p}=\"{namespace}\" xmlns:c=\"urn:example:customs:v1\"><{p}:Body>\
         <c:SubmitDeclaration><c:RequestId>idem-{order_id}</c:RequestId><c:HubOrderId>{order_id}</c:HubOrderId>\
         <c:Type>EXPORT</c:Type><c:Declarant><c:Name>{DECLARANT}</c:Name><c:CustomsCode>3302961234</c:CustomsCode></c:Declarant>\
         <c:TradeTerms>CIF</c:TradeTerms><c:Currency>CNY</c:Currency><c:Goods><c:Item line=\"1\">\
         <c:Description>{goods}</c:Description><c:HsCode>8518300000</c:HsCode><c:Quantity unit=\"PCS\">5000</c:Quantity>\
         <c:Value currency=\"CNY\">125000.5</c:Value><c:Origin>CN</c:Origin></c:Item></c:Goods>\
         </c:SubmitDeclaration></{p}:Body></{p}:Envelope>",
        p = envelope_prefix
    )
}

fn soap11(body: String) -> HttpRequest {
    HttpRequest {
        method: HttpMethod::Post,
        path: CUSTOMS_PATH.to_owned(),
        headers: vec![
            ("Content-Type".to_owned(), "text/xml; charset=utf-8".to_owned()),
            ("SOAPAction".to_owned(), format!("\"{SUBMIT_ACTION}\"")),
        ],
        body: Some(body.into_bytes()),
    }
}

fn text(response: &HttpResponse) -> String {
    String::from_utf8(response.body.clone()).unwrap()
}

fn header<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn temp_file(contents: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("hub-http-test-{}.pem", uuid::Uuid::now_v7()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn http_wsse_password_digest_is_verified_by_the_server() {
    let server = wss_server().await;
    let mut target = options(&server.base_url());
    target.wsse = wsse(PASSWORD, WssePasswordType::Digest);
    let http = ReqwestHttp::with_options(target).unwrap();

    // Two requests: each needs its own nonce, or the server sees a replay.
    for (order, number) in [("order-1", "CD-000001"), ("order-2", "CD-000002")] {
        let response = http
            .send(soap11(declaration("soap", SOAP11_NAMESPACE, order)))
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{}", text(&response));
        assert!(text(&response).contains(&format!("<ns2:DeclarationNo>{number}</ns2:DeclarationNo>")));
    }
    let declarations = server.declarations();
    assert_eq!(declarations.len(), 2);
    assert_eq!(declarations[0].password_type.as_deref(), Some("PasswordDigest"));
    let body = server.requests()[0].body_text();
    assert!(
        !body.contains("Zoll-Passw0rt"),
        "a digest never sends the password: {body}"
    );
    assert!(body.contains("<soap:Header><wsse:Security"), "{body}");
}

#[tokio::test]
async fn http_wsse_password_text_is_verified_by_the_server() {
    let server = wss_server().await;
    let mut target = options(&server.base_url());
    target.wsse = wsse(PASSWORD, WssePasswordType::Text);
    let http = ReqwestHttp::with_options(target).unwrap();

    // A default-namespace envelope with a Header of its own: the token goes in.
    let body = declaration("soap", SOAP11_NAMESPACE, "order-text").replace(
        "<soap:Body>",
        "<soap:Header><t:Trace xmlns:t=\"urn:trace\">42</t:Trace></soap:Header><soap:Body>",
    );
    let response = http.send(soap11(body)).await.unwrap();
    assert_eq!(response.status, 200, "{}", text(&response));
    assert_eq!(server.declarations()[0].password_type.as_deref(), Some("PasswordText"));
    let received = server.requests()[0].body_text();
    assert!(
        received.contains("<t:Trace xmlns:t=\"urn:trace\">42</t:Trace>"),
        "{received}"
    );
}

#[tokio::test]
async fn http_wsse_on_soap12_with_a_default_namespace_envelope() {
    let server = wss_server().await;
    let mut target = options(&server.base_url());
    target.wsse = wsse(PASSWORD, WssePasswordType::Digest);
    let http = ReqwestHttp::with_options(target).unwrap();
    let body = declaration("env", SOAP12_NAMESPACE, "order-12")
        .replace(
            &format!("<env:Envelope xmlns:env=\"{SOAP12_NAMESPACE}\""),
            &format!("<Envelope xmlns=\"{SOAP12_NAMESPACE}\""),
        )
        .replace("<env:Body>", "<Body>")
        .replace("</env:Body></env:Envelope>", "</Body></Envelope>");
    let response = http
        .send(HttpRequest {
            method: HttpMethod::Post,
            path: CUSTOMS_V12_PATH.to_owned(),
            headers: vec![(
                "content-type".to_owned(),
                format!("application/soap+xml; charset=utf-8; action=\"{SUBMIT_ACTION}\""),
            )],
            body: Some(body.into_bytes()),
        })
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", text(&response));
    let declaration = &server.declarations()[0];
    assert_eq!(declaration.soap_version, "1.2");
    assert_eq!(declaration.password_type.as_deref(), Some("PasswordDigest"));
}

#[tokio::test]
async fn http_wrong_or_missing_wsse_gets_a_failed_authentication_fault() {
    let server = wss_server().await;
    let mut target = options(&server.base_url());
    target.wsse = wsse("not-the-password", WssePasswordType::Digest);
    let wrong = ReqwestHttp::with_options(target).unwrap();
    let response = wrong
        .send(soap11(declaration("s", SOAP11_NAMESPACE, "o1")))
        .await
        .unwrap();
    assert_eq!(response.status, 500);
    assert!(
        text(&response).contains("wsse:FailedAuthentication</faultcode>"),
        "{}",
        text(&response)
    );

    let none = ReqwestHttp::with_options(options(&server.base_url())).unwrap();
    let response = none
        .send(soap11(declaration("s", SOAP11_NAMESPACE, "o2")))
        .await
        .unwrap();
    assert_eq!(response.status, 500);
    assert!(text(&response).contains("FailedAuthentication"), "{}", text(&response));
    assert!(server.declarations().is_empty(), "nothing was declared");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn http_a_non_soap_body_on_a_wsse_target_is_denied_and_never_sent() {
    let server = wss_server().await;
    let mut target = options(&server.base_url());
    target.wsse = wsse(PASSWORD, WssePasswordType::Text);
    let http = ReqwestHttp::with_options(target).unwrap();

    let mut request = soap11("<Declaration><Id>1</Id></Declaration>".to_owned());
    let error = http.send(request.clone()).await.unwrap_err();
    match &error {
        TransportError::Denied(message) => {
            assert!(message.contains("WS-Security"), "{message}");
            assert!(message.contains("<Declaration>"), "{message}");
        }
        other => panic!("expected denied, got {other:?}"),
    }
    assert!(!error.to_string().contains("Zoll"), "{error}");
    request.body = Some(b"<!DOCTYPE x [<!ENTITY a SYSTEM \"file:///etc/passwd\">]><x>&a;</x>".to_vec());
    assert!(matches!(http.send(request).await, Err(TransportError::Denied(m)) if m.contains("DOCTYPE")));

    // JSON on the same target passes untouched; only SOAP bodies get a token.
    let json = "{\"收货人\":\"张伟\"}";
    let response = http
        .send(HttpRequest {
            method: HttpMethod::Post,
            path: "echo".to_owned(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: Some(json.as_bytes().to_vec()),
        })
        .await
        .unwrap();
    assert_eq!(response.body, json.as_bytes());
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "the refused requests never left the hub");
    assert_eq!(requests[0].path, "/echo");
}

#[tokio::test]
async fn http_chinese_text_reaches_the_server_intact() {
    let server = wss_server().await;
    let mut target = options(&server.base_url());
    target.wsse = wsse(PASSWORD, WssePasswordType::Digest);
    let http = ReqwestHttp::with_options(target).unwrap();

    let sent = declaration("SOAP-ENV", SOAP11_NAMESPACE, "订单-001");
    let response = http.send(soap11(sent.clone())).await.unwrap();
    assert_eq!(response.status, 200, "{}", text(&response));
    assert!(text(&response).contains("申报已受理"));

    let declaration = &server.declarations()[0];
    assert_eq!(declaration.hub_order_id, "订单-001");
    assert_eq!(declaration.declarant_name.as_deref(), Some(DECLARANT));
    assert_eq!(declaration.item_descriptions, vec![GOODS.to_owned()]);
    // The bytes the server got are the plugin's, plus the Header the host added.
    let received = server.requests()[0].body_text();
    let start = received.find("<SOAP-ENV:Header>").unwrap();
    let end = received.find("</SOAP-ENV:Header>").unwrap() + "</SOAP-ENV:Header>".len();
    assert_eq!(format!("{}{}", &received[..start], &received[end..]), sent);
}

#[tokio::test]
async fn http_https_with_a_private_ca_needs_the_ca_file() {
    let server = OpsHttpServer::start(OpsHttpOptions {
        wsse: None,
        tls: true,
        address: None,
    })
    .await
    .unwrap();
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    let echo = || HttpRequest {
        method: HttpMethod::Post,
        path: "echo".to_owned(),
        headers: vec![("content-type".to_owned(), "text/plain; charset=utf-8".to_owned())],
        body: Some("上海市浦东新区".as_bytes().to_vec()),
    };

    // Public roots only: the handshake fails, as an error and not a panic.
    let public_only = ReqwestHttp::with_options(options(&server.base_url())).unwrap();
    match public_only.send(echo()).await {
        Err(TransportError::ProtocolError(message)) => {
            assert!(message.starts_with("TLS handshake failed"), "{message}");
            assert!(message.to_lowercase().contains("certificate"), "{message}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    assert!(server.requests().is_empty(), "no request got through without trust");

    // With the CA file (another certificate in the bundle does no harm).
    let unrelated = rcgen::generate_simple_self_signed(vec!["unrelated.test".to_owned()]).unwrap();
    let bundle = format!("{}{}", unrelated.cert.pem(), server.ca_pem().unwrap());
    let ca_file = temp_file(bundle.as_bytes());
    let mut target = options(&server.base_url());
    target.ca_file = Some(ca_file.clone());
    let trusted = ReqwestHttp::with_options(target).unwrap();
    let response = trusted.send(echo()).await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "上海市浦东新区".as_bytes());
    assert_eq!(server.requests().len(), 1);
    std::fs::remove_file(ca_file).unwrap();
}

#[test]
fn http_bad_ca_files_are_refused_at_start_up() {
    let missing = std::env::temp_dir().join(format!("hub-no-such-ca-{}.pem", uuid::Uuid::now_v7()));
    let no_certificate = temp_file(b"just some text, no PEM here\n");
    let garbage = temp_file(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    for (path, reason) in [
        (&missing, "cannot read it"),
        (&no_certificate, "holds no PEM certificate"),
        (&garbage, "CA"),
    ] {
        let mut target = options("https://127.0.0.1:9/");
        target.ca_file = Some(path.clone());
        match ReqwestHttp::with_options(target) {
            Err(error @ HttpSetupError::CaFile { .. }) => {
                let text = error.to_string();
                assert!(text.contains(&path.display().to_string()), "{text}");
                assert!(text.contains(reason), "{text}");
            }
            other => panic!("{}: expected a CA file error, got {other:?}", path.display()),
        }
    }

    // Through the hub's start-up: the problem names the target and the setting.
    let plugins = std::env::temp_dir().join(format!("hub-http-plugins-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&plugins).unwrap();
    let text = format!(
        "[plugins]\ndir = {:?}\ncache_dir = \"\"\n\n[targets.customs]\nplugin = \"customs-soap\"\n\
         http = {{ base_url = \"https://127.0.0.1:9/\", ca_file = {:?} }}\n",
        plugins.display().to_string(),
        no_certificate.display().to_string()
    );
    let error = PluginHost::start(&HubConfig::parse(&text, "test.toml").unwrap())
        .err()
        .expect("must refuse");
    let expected = format!(
        "[targets.customs] http.ca_file {}: holds no PEM certificate",
        no_certificate.display()
    );
    assert!(
        error.problems.iter().any(|problem| problem.starts_with(&expected)),
        "{:?}",
        error.problems
    );
    for path in [no_certificate, garbage] {
        std::fs::remove_file(path).unwrap();
    }
    std::fs::remove_dir_all(plugins).unwrap();
}

#[tokio::test]
async fn http_a_server_slower_than_the_timeout_is_a_timeout() {
    let server = OpsHttpServer::start_plain().await.unwrap();
    server.set_behaviour(CustomsBehaviour::Slow(Duration::from_secs(5)));
    let mut target = options(&server.base_url());
    target.timeout = Duration::from_millis(400);
    let http = ReqwestHttp::with_options(target).unwrap();
    let started = Instant::now();
    let result = http.send(soap11(declaration("soap", SOAP11_NAMESPACE, "slow"))).await;
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(TransportError::Timeout(_))), "{result:?}");
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(4),
        "the timeout, not the server, ended the call: {elapsed:?}"
    );
    server.wait_for_requests(1, Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn http_503_with_retry_after_reaches_the_caller_as_a_response() {
    let server = OpsHttpServer::start_plain().await.unwrap();
    server.queue_behaviour(CustomsBehaviour::Unavailable { retry_after_seconds: 7 });
    let http = ReqwestHttp::with_options(options(&server.base_url())).unwrap();
    let response = http
        .send(soap11(declaration("soap", SOAP11_NAMESPACE, "busy")))
        .await
        .unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(header(&response, "retry-after"), Some("7"));

    // The queue is used up: the next request is accepted.
    let response = http
        .send(soap11(declaration("soap", SOAP11_NAMESPACE, "busy")))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", text(&response));
}

#[tokio::test]
async fn http_faults_and_broken_answers_come_back_as_responses() {
    let server = OpsHttpServer::start_plain().await.unwrap();
    let http = ReqwestHttp::with_options(options(&server.base_url())).unwrap();
    let send = || http.send(soap11(declaration("soap", SOAP11_NAMESPACE, "f")));

    server.queue_behaviour(CustomsBehaviour::ClientFault(vec![FieldError::new(
        "Goods/Item[1]/HsCode",
        "HS_UNKNOWN",
        "商品编码不存在",
    )]));
    let response = send().await.unwrap();
    assert_eq!(response.status, 500);
    let body = text(&response);
    assert!(body.contains("<faultcode>soapenv:Client</faultcode>"), "{body}");
    assert!(body.contains("<v:Field>Goods/Item[1]/HsCode</v:Field>"), "{body}");
    assert!(body.contains("商品编码不存在"), "{body}");

    server.queue_behaviour(CustomsBehaviour::ServerFault("数据库忙 database busy".to_owned()));
    let body = text(&send().await.unwrap());
    assert!(body.contains("<faultcode>soapenv:Server</faultcode>"), "{body}");

    server.queue_behaviour(CustomsBehaviour::Malformed);
    let response = send().await.unwrap();
    assert_eq!(response.status, 200);
    assert!(text(&response).ends_with("<c:SubmitDeclarationRes"));

    server.queue_behaviour(CustomsBehaviour::Empty);
    let response = send().await.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());

    // A request without the right SOAPAction is the client's fault.
    let mut request = soap11(declaration("soap", SOAP11_NAMESPACE, "f"));
    request.headers.retain(|(name, _)| name != "SOAPAction");
    let body = text(&http.send(request).await.unwrap());
    assert!(body.contains("unknown SOAPAction"), "{body}");
}

#[tokio::test]
async fn http_a_closed_port_is_refused_for_http_and_https_alike() {
    // Bind, learn the port, close: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for scheme in ["http", "https"] {
        let http = ReqwestHttp::with_options(options(&format!("{scheme}://127.0.0.1:{port}/"))).unwrap();
        let result = http.send(soap11(declaration("soap", SOAP11_NAMESPACE, "down"))).await;
        assert!(
            matches!(result, Err(TransportError::Refused(_))),
            "{scheme}: a closed port is retryable, not a TLS failure: {result:?}"
        );
    }
}

/// The answer the plugin side gets from `/echo-headers`, an OPS that mirrors
/// every request header three ways (as headers, inside `X-Echo`, in the
/// JSON body) and sets a cookie made of the `Authorization` it got.
#[tokio::test]
async fn http_credentials_an_ops_echoes_never_reach_the_plugin() {
    const TOKEN: &str = "tok-3f9c2a7e51d8";
    const BASIC_PASSWORD: &str = "opensesame-42";
    const API_KEY: &str = "ak_live_5b1d0e9f";
    let basic_wire = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{BASIC_PASSWORD}"));
    struct Case {
        kind: &'static str,
        auth: HttpAuth,
        /// The request header the host attaches, and its value.
        header: &'static str,
        sent: String,
        /// Every form of the secret that must not come back.
        secrets: Vec<String>,
    }
    let cases = [
        Case {
            kind: "bearer",
            auth: HttpAuth::Bearer(Secret::new(TOKEN)),
            header: "authorization",
            sent: format!("Bearer {TOKEN}"),
            secrets: vec![TOKEN.to_owned()],
        },
        Case {
            kind: "basic",
            auth: HttpAuth::Basic {
                username: USER.to_owned(),
                password: Secret::new(BASIC_PASSWORD),
            },
            header: "authorization",
            sent: format!("Basic {basic_wire}"),
            secrets: vec![BASIC_PASSWORD.to_owned(), basic_wire.clone()],
        },
        Case {
            kind: "api-key",
            auth: HttpAuth::Header {
                name: "X-Api-Key".to_owned(),
                value: Secret::new(API_KEY),
            },
            header: "x-api-key",
            sent: API_KEY.to_owned(),
            secrets: vec![API_KEY.to_owned()],
        },
    ];
    let server = OpsHttpServer::start_plain().await.unwrap();
    for case in cases {
        let kind = case.kind;
        let http = ReqwestHttp::with_options(HttpTargetOptions {
            auth: Some(case.auth),
            ..options(&server.base_url())
        })
        .unwrap();
        let response = http
            .send(HttpRequest {
                method: HttpMethod::Get,
                path: "echo-headers".to_owned(),
                headers: vec![("x-request-id".to_owned(), kind.to_owned())],
                body: None,
            })
            .await
            .unwrap();
        // The echo is real: the OPS got the credential…
        let received = server.requests().pop().unwrap();
        assert_eq!(received.header(case.header), Some(case.sent.as_str()), "{kind}");
        // …and the plugin side gets none of it back.
        assert_eq!(response.status, 200, "{kind}");
        for name in [
            "authorization",
            "proxy-authorization",
            case.header,
            "set-cookie",
            "x-echo",
        ] {
            assert_eq!(
                header(&response, name),
                None,
                "{kind}: `{name}` reached the plugin: {response:?}"
            );
        }
        for (name, value) in &response.headers {
            for secret in &case.secrets {
                assert!(
                    !value.contains(secret.as_str()),
                    "{kind}: `{name}: {value}` carries the secret"
                );
            }
        }
        let body = text(&response);
        for secret in &case.secrets {
            assert!(
                !body.contains(secret.as_str()),
                "{kind}: the body carries the secret: {body}"
            );
        }
        // What is nobody's secret arrives as the OPS sent it.
        assert_eq!(header(&response, "x-booking-ref"), Some("FO-000001"), "{kind}");
        assert_eq!(header(&response, "x-request-id"), Some(kind), "{kind}");
        assert_eq!(header(&response, "content-type"), Some("application/json"), "{kind}");
        let echoed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(echoed["headers"]["x-request-id"], kind, "{body}");
        let masked = echoed["headers"][case.header].as_str().unwrap();
        assert!(
            masked.ends_with(&"*".repeat(case.secrets[0].len().min(16))),
            "{kind}: masked in place: {masked}"
        );
    }
}

#[tokio::test]
async fn http_a_wsse_text_password_echoed_in_the_body_is_masked() {
    let server = OpsHttpServer::start_plain().await.unwrap();
    let http = ReqwestHttp::with_options(HttpTargetOptions {
        wsse: wsse(PASSWORD, WssePasswordType::Text),
        ..options(&server.base_url())
    })
    .unwrap();
    // `/echo` answers the request body: the envelope with the host's token.
    let mut request = soap11(declaration("soap", SOAP11_NAMESPACE, "echo"));
    request.path = "echo".to_owned();
    let response = http.send(request).await.unwrap();
    let sent = server.requests().pop().unwrap().body_text();
    let escaped = "Zoll-Passw0rt&amp;&lt;密&gt;";
    assert!(
        sent.contains(escaped),
        "the OPS got the password (escaped, as XML): {sent}"
    );
    let body = text(&response);
    assert!(!body.contains("Zoll-Passw0rt"), "{body}");
    assert!(body.contains(&"*".repeat(escaped.len())), "{body}");
    assert!(body.contains(DECLARANT), "the rest is as sent: {body}");
    assert_eq!(body.len(), sent.len(), "masked byte for byte");
}

#[tokio::test]
async fn http_a_plugin_header_named_like_the_api_key_is_denied_and_never_sent() {
    let server = OpsHttpServer::start_plain().await.unwrap();
    let http = ReqwestHttp::with_options(HttpTargetOptions {
        auth: Some(HttpAuth::Header {
            name: "X-Api-Key".to_owned(),
            value: Secret::new("ak_live_5b1d0e9f"),
        }),
        ..options(&server.base_url())
    })
    .unwrap();
    let result = http
        .send(HttpRequest {
            method: HttpMethod::Get,
            path: "echo-headers".to_owned(),
            headers: vec![("X-API-KEY".to_owned(), "forged".to_owned())],
            body: None,
        })
        .await;
    assert_eq!(
        result,
        Err(TransportError::Denied(
            "header `X-API-KEY` is set by the host only".to_owned()
        ))
    );
    assert!(server.requests().is_empty());
}
