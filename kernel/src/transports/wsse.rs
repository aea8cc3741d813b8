//! WS-Security UsernameToken, added by the host to the plugin's SOAP envelope.
//!
//! Why the host and not the plugin: the password is a secret of the target,
//! and plugins never see secrets (a plugin is third-party code in a sandbox;
//! what it never holds it cannot leak). So the plugin builds a plain SOAP
//! envelope and the HTTP transport of a target configured with `[wsse]`
//! passes every SOAP request body through [`WsSecurity::secure`] just before
//! it leaves, the way it adds a bearer token to a REST request.
//!
//! Why a streaming rewrite (quick-xml reader → writer) rather than string
//! search: plugins and SOAP stacks pick any prefix for the envelope
//! (`soap:`, `SOAP-ENV:`, `s:`, a default namespace…) and may or may not
//! have written a `Header`. The reader resolves namespaces, so the Header is
//! found by namespace and local name; every event is written back as it was
//! read (raw bytes, escapes untouched), so the plugin's content — Chinese
//! names included — leaves byte-for-byte as the plugin wrote it. Only the
//! `<wsse:Security>` block is new, as the Header's first child (a Header is
//! created, with the envelope's own prefix, when the plugin wrote none).
//!
//! What is refused, as [`TransportError::Denied`] (the request never leaves):
//! a body that is not a SOAP 1.1/1.2 envelope (the target is configured for
//! WS-Security, so a SOAP content type with another body is a plugin bug), a
//! DOCTYPE (SOAP forbids DTDs), an envelope without a Body, and an envelope
//! that already carries a `wsse:Security` header (two would make the OPS's
//! choice of credentials unpredictable).
//!
//! PasswordDigest (the default) follows the OASIS UsernameToken Profile 1.0:
//! `Password = Base64(SHA-1(nonce + created + password))` with a fresh
//! 16-byte nonce and the current UTC time per request, so a recorded request
//! cannot be replayed outside the OPS's freshness window and the password
//! itself never crosses the wire. The nonce is public (it travels in the
//! message); it must be unique, not secret, so the process's fast generator
//! (seeded from OS entropy) is enough. PasswordText sends the password in
//! the clear and is only sensible over TLS.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use sha1::{Digest as _, Sha1};

use super::TransportError;
use crate::config::WssePasswordType;
use crate::secret::Secret;

/// The WS-Security 1.0 "secext" namespace (`wsse:`).
pub const WSSE_NAMESPACE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// The WS-Security utility namespace (`wsu:`), home of `Created`.
pub const WSU_NAMESPACE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// `Password/@Type` for a clear-text password.
pub const PASSWORD_TEXT_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
/// `Password/@Type` for a digest.
pub const PASSWORD_DIGEST_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
/// `Nonce/@EncodingType`.
pub const BASE64_BINARY_ENCODING: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

const SOAP11_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_NAMESPACE: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The credentials of one SOAP target.
#[derive(Debug, Clone)]
pub struct WsSecurity {
    pub username: String,
    pub password: Secret,
    pub password_type: WssePasswordType,
}

/// What makes one digest token unique: the nonce and its creation time.
struct Freshness<'a> {
    nonce: [u8; 16],
    created: &'a str,
}

impl WsSecurity {
    /// The envelope with a `<wsse:Security>` UsernameToken in its Header.
    /// Digest tokens get a fresh nonce and the current time.
    pub fn secure(&self, envelope: &[u8]) -> Result<Vec<u8>, TransportError> {
        let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        // 122 bits from the operating system's CSPRNG (UUID v4 is getrandom).
        let nonce = uuid::Uuid::new_v4().into_bytes();
        self.secure_with(
            envelope,
            &Freshness {
                nonce,
                created: &created,
            },
        )
    }

    fn secure_with(&self, envelope: &[u8], freshness: &Freshness<'_>) -> Result<Vec<u8>, TransportError> {
        let mut reader = NsReader::from_reader(envelope);
        let mut writer = Writer::new(Vec::with_capacity(envelope.len() + 1024));
        // Open elements; the Envelope is depth 1 once its start tag is read.
        let mut depth = 0usize;
        let mut soap: Option<Soap> = None;
        let mut header_written = false;
        let mut inside_header = false;
        let mut saw_body = false;
        loop {
            let event = reader.read_event().map_err(|error| {
                refuse(format!(
                    "is not well-formed XML at byte {}: {error}",
                    reader.error_position()
                ))
            })?;
            match &event {
                Event::DocType(_) => return Err(refuse("has a DOCTYPE; SOAP forbids DTDs")),
                Event::Start(start) | Event::Empty(start) => {
                    let empty = matches!(event, Event::Empty(_));
                    let (namespace, local) = reader.resolver().resolve_element(start.name());
                    let namespace = match namespace {
                        ResolveResult::Bound(namespace) => Some(namespace.as_ref().to_vec()),
                        ResolveResult::Unbound | ResolveResult::Unknown(_) => None,
                    };
                    let local = local.as_ref();
                    match (depth, &soap) {
                        (0, Some(_)) => return Err(refuse("has more than one root element")),
                        (0, None) => {
                            let root = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                            let envelope_namespace = match namespace.as_deref() {
                                Some(namespace) if local == b"Envelope" && namespace == SOAP11_NAMESPACE.as_bytes() => {
                                    SOAP11_NAMESPACE
                                }
                                Some(namespace) if local == b"Envelope" && namespace == SOAP12_NAMESPACE.as_bytes() => {
                                    SOAP12_NAMESPACE
                                }
                                _ => {
                                    return Err(refuse(format!(
                                        "is not a SOAP 1.1 or 1.2 Envelope (its root element is <{root}>)"
                                    )));
                                }
                            };
                            if empty {
                                return Err(refuse("is an Envelope without a Body"));
                            }
                            let prefix = start
                                .name()
                                .prefix()
                                .map(|prefix| String::from_utf8_lossy(prefix.as_ref()).into_owned());
                            soap = Some(Soap {
                                namespace: envelope_namespace,
                                prefix,
                            });
                        }
                        (1, Some(soap)) => {
                            let in_envelope_namespace = namespace.as_deref() == Some(soap.namespace.as_bytes());
                            let is_header = in_envelope_namespace && local == b"Header";
                            if in_envelope_namespace && local == b"Body" {
                                saw_body = true;
                            }
                            if is_header && header_written {
                                return Err(refuse("has a Header after its Body; SOAP puts the Header first"));
                            }
                            if is_header {
                                header_written = true;
                                if empty {
                                    // `<soap:Header/>` becomes `<soap:Header>Security</soap:Header>`.
                                    writer.write_event(Event::Start(start.borrow())).map_err(write_error)?;
                                    self.write_security(&mut writer, soap, freshness)?;
                                    writer.write_event(Event::End(start.to_end())).map_err(write_error)?;
                                    continue;
                                }
                                writer.write_event(Event::Start(start.borrow())).map_err(write_error)?;
                                self.write_security(&mut writer, soap, freshness)?;
                                inside_header = true;
                                depth += 1;
                                continue;
                            }
                            if !header_written {
                                header_written = true;
                                let header = soap.qualified("Header");
                                writer
                                    .write_event(Event::Start(BytesStart::new(header.as_str())))
                                    .map_err(write_error)?;
                                self.write_security(&mut writer, soap, freshness)?;
                                writer
                                    .write_event(Event::End(BytesEnd::new(header.as_str())))
                                    .map_err(write_error)?;
                            }
                        }
                        (2, Some(_))
                            if inside_header
                                && local == b"Security"
                                && namespace.as_deref() == Some(WSSE_NAMESPACE.as_bytes()) =>
                        {
                            return Err(refuse(
                                "already has a wsse:Security header; the hub adds WS-Security for this target, \
                                 the plugin must not",
                            ));
                        }
                        _ => {}
                    }
                    if !empty {
                        depth += 1;
                    }
                }
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    if depth == 1 {
                        inside_header = false;
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            writer.write_event(event).map_err(write_error)?;
        }
        if soap.is_none() {
            return Err(refuse("has no root element, so it is not a SOAP Envelope"));
        }
        if !saw_body {
            return Err(refuse("is an Envelope without a Body"));
        }
        Ok(writer.into_inner())
    }

    fn write_security(
        &self,
        writer: &mut Writer<Vec<u8>>,
        soap: &Soap,
        freshness: &Freshness<'_>,
    ) -> Result<(), TransportError> {
        let must_understand_value = if soap.namespace == SOAP12_NAMESPACE {
            "true"
        } else {
            "1"
        };
        let mut security = BytesStart::new("wsse:Security");
        security.push_attribute(("xmlns:wsse", WSSE_NAMESPACE));
        security.push_attribute(("xmlns:wsu", WSU_NAMESPACE));
        // mustUnderstand is a SOAP attribute, so it needs a prefix bound to
        // the envelope namespace. Reuse the envelope's unless it has none
        // (default namespace) or it is one of the two we just rebound.
        let must_understand = match soap.prefix.as_deref() {
            Some(prefix) if prefix != "wsse" && prefix != "wsu" => format!("{prefix}:mustUnderstand"),
            _ => {
                security.push_attribute(("xmlns:soapenv", soap.namespace));
                "soapenv:mustUnderstand".to_owned()
            }
        };
        security.push_attribute((must_understand.as_str(), must_understand_value));

        let mut events = vec![
            Event::Start(security),
            Event::Start(BytesStart::new("wsse:UsernameToken")),
        ];
        push_leaf(&mut events, BytesStart::new("wsse:Username"), &self.username);
        let password = self.password.expose();
        match self.password_type {
            WssePasswordType::Text => {
                let mut element = BytesStart::new("wsse:Password");
                element.push_attribute(("Type", PASSWORD_TEXT_TYPE));
                push_leaf(&mut events, element, password);
            }
            WssePasswordType::Digest => {
                let digest = password_digest(&freshness.nonce, freshness.created, password);
                let mut element = BytesStart::new("wsse:Password");
                element.push_attribute(("Type", PASSWORD_DIGEST_TYPE));
                push_leaf(&mut events, element, &digest);
                let mut nonce = BytesStart::new("wsse:Nonce");
                nonce.push_attribute(("EncodingType", BASE64_BINARY_ENCODING));
                push_leaf(&mut events, nonce, &BASE64.encode(freshness.nonce));
                push_leaf(&mut events, BytesStart::new("wsu:Created"), freshness.created);
            }
        }
        events.push(Event::End(BytesEnd::new("wsse:UsernameToken")));
        events.push(Event::End(BytesEnd::new("wsse:Security")));
        for event in events {
            writer.write_event(event).map_err(write_error)?;
        }
        Ok(())
    }
}

impl WsSecurity {
    /// The password as it may appear in an OPS's answer that echoes the
    /// request: as configured, and as the token writer puts it into a
    /// PasswordText token (XML-escaped). The HTTP transport masks both.
    pub fn password_as_sent(&self) -> Vec<Secret> {
        let password = self.password.expose();
        let escaped = quick_xml::escape::escape(password);
        let mut forms = vec![self.password.clone()];
        if escaped != password {
            forms.push(Secret::new(escaped.into_owned()));
        }
        forms
    }
}

/// `Base64(SHA-1(nonce + created + password))`, the UsernameToken Profile's
/// PasswordDigest; `nonce` is the raw bytes (not their Base64 form).
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(nonce);
    hasher.update(created.as_bytes());
    hasher.update(password.as_bytes());
    BASE64.encode(hasher.finalize())
}

/// The envelope's namespace and the prefix it was written with (`None`:
/// a default namespace).
struct Soap {
    namespace: &'static str,
    prefix: Option<String>,
}

impl Soap {
    fn qualified(&self, local: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}:{local}"),
            None => local.to_owned(),
        }
    }
}

fn push_leaf<'a>(events: &mut Vec<Event<'a>>, start: BytesStart<'a>, text: &str) {
    let end = start.to_end().into_owned();
    events.push(Event::Start(start));
    events.push(Event::Text(BytesText::new(text).into_owned()));
    events.push(Event::End(end));
}

fn refuse(problem: impl std::fmt::Display) -> TransportError {
    TransportError::Denied(format!(
        "this target adds WS-Security to SOAP requests, but the request body {problem}"
    ))
}

fn write_error(error: std::io::Error) -> TransportError {
    TransportError::ProtocolError(format!("cannot write the WS-Security envelope: {error}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const PASSWORD: &str = "s3cr&t<密码>";

    fn wss(password_type: WssePasswordType) -> WsSecurity {
        WsSecurity {
            username: "hub-用户&co".to_owned(),
            password: Secret::new(PASSWORD.to_owned()),
            password_type,
        }
    }

    const FRESHNESS: Freshness<'static> = Freshness {
        nonce: *b"0123456789abcdef",
        created: "2026-11-03T08:30:00Z",
    };

    fn secured(password_type: WssePasswordType, envelope: &str) -> String {
        let out = wss(password_type).secure_with(envelope.as_bytes(), &FRESHNESS).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn denied(envelope: &str) -> String {
        match wss(WssePasswordType::Digest).secure(envelope.as_bytes()) {
            Err(TransportError::Denied(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// An independent SHA-1 (FIPS 180-4), so the digest is checked against
    /// a value not computed by the code under test.
    fn reference_sha1(message: &[u8]) -> [u8; 20] {
        let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
        let mut padded = message.to_vec();
        padded.push(0x80);
        while padded.len() % 64 != 56 {
            padded.push(0);
        }
        padded.extend_from_slice(&((message.len() as u64) * 8).to_be_bytes());
        for block in padded.chunks(64) {
            let mut w = [0u32; 80];
            for (i, word) in block.chunks(4).enumerate() {
                w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            let [mut a, mut b, mut c, mut d, mut e] = h;
            for (i, word) in w.iter().enumerate() {
                let (f, k) = match i {
                    0..=19 => ((b & c) | (!b & d), 0x5A827999),
                    20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                    40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                    _ => (b ^ c ^ d, 0xCA62C1D6),
                };
                let temp = a
                    .rotate_left(5)
                    .wrapping_add(f)
                    .wrapping_add(e)
                    .wrapping_add(k)
                    .wrapping_add(*word);
                e = d;
                d = c;
                c = b.rotate_left(30);
                b = a;
                a = temp;
            }
            for (slot, value) in h.iter_mut().zip([a, b, c, d, e]) {
                *slot = slot.wrapping_add(value);
            }
        }
        let mut out = [0u8; 20];
        for (chunk, word) in out.chunks_mut(4).zip(h) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn text_between<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
        let start = xml.find(open).unwrap_or_else(|| panic!("{open} not in {xml}")) + open.len();
        let end = xml[start..].find(close).unwrap() + start;
        &xml[start..end]
    }

    #[test]
    fn reference_sha1_matches_the_fips_example() {
        // FIPS 180 example: SHA-1("abc").
        let digest = reference_sha1(b"abc");
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn digest_matches_an_independently_computed_vector() {
        let nonce = b"0123456789abcdef";
        let created = "2026-11-03T08:30:00Z";
        let mut input = nonce.to_vec();
        input.extend_from_slice(created.as_bytes());
        input.extend_from_slice(PASSWORD.as_bytes());
        let expected = BASE64.encode(reference_sha1(&input));
        assert_eq!(password_digest(nonce, created, PASSWORD), expected);

        let xml = secured(
            WssePasswordType::Digest,
            &format!("<soap:Envelope xmlns:soap=\"{SOAP11_NAMESPACE}\"><soap:Body><x/></soap:Body></soap:Envelope>"),
        );
        assert_eq!(
            text_between(
                &xml,
                &format!("<wsse:Password Type=\"{PASSWORD_DIGEST_TYPE}\">"),
                "</wsse:Password>"
            ),
            expected
        );
        assert_eq!(
            text_between(
                &xml,
                &format!("<wsse:Nonce EncodingType=\"{BASE64_BINARY_ENCODING}\">"),
                "</wsse:Nonce>"
            ),
            BASE64.encode(nonce)
        );
        assert_eq!(text_between(&xml, "<wsu:Created>", "</wsu:Created>"), created);
        assert!(
            !xml.contains("s3cr"),
            "the digest mode must not send the password: {xml}"
        );
        // The username is escaped.
        assert_eq!(
            text_between(&xml, "<wsse:Username>", "</wsse:Username>"),
            "hub-用户&amp;co"
        );
    }

    #[test]
    fn inserts_a_header_with_the_envelope_prefix_when_there_is_none() {
        let body = "<c:Declare xmlns:c=\"urn:customs\"><c:Name>张伟 &amp; 上海市浦东新区</c:Name></c:Declare>";
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"{SOAP11_NAMESPACE}\"><SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
        );
        let xml = secured(WssePasswordType::Digest, &envelope);
        let security_start = xml.find("<SOAP-ENV:Header><wsse:Security").unwrap();
        let header_end = xml.find("</SOAP-ENV:Header><SOAP-ENV:Body>").unwrap();
        assert!(security_start < header_end);
        assert!(xml.contains(&format!(
            "<wsse:Security xmlns:wsse=\"{WSSE_NAMESPACE}\" xmlns:wsu=\"{WSU_NAMESPACE}\" SOAP-ENV:mustUnderstand=\"1\">"
        )));
        // Everything the plugin wrote is there, byte for byte.
        let header = &xml[security_start..header_end + "</SOAP-ENV:Header>".len()];
        assert_eq!(xml.replacen(header, "", 1), envelope);
    }

    #[test]
    fn adds_to_an_existing_header_whatever_the_prefix() {
        for header in [
            "<s:Header><t:Trace xmlns:t=\"urn:t\">1</t:Trace></s:Header>",
            "<s:Header/>",
        ] {
            let envelope =
                format!("<s:Envelope xmlns:s=\"{SOAP12_NAMESPACE}\">{header}<s:Body><b>中文</b></s:Body></s:Envelope>");
            let xml = secured(WssePasswordType::Text, &envelope);
            assert!(xml.starts_with(&format!(
                "<s:Envelope xmlns:s=\"{SOAP12_NAMESPACE}\"><s:Header><wsse:Security"
            )));
            assert!(xml.contains("s:mustUnderstand=\"true\""), "{xml}");
            assert_eq!(xml.matches("<s:Header>").count(), 1, "{xml}");
            assert!(xml.contains("<s:Body><b>中文</b></s:Body>"));
            if header.contains("Trace") {
                assert!(
                    xml.contains("</wsse:Security><t:Trace xmlns:t=\"urn:t\">1</t:Trace></s:Header>"),
                    "{xml}"
                );
            }
        }
    }

    #[test]
    fn default_namespace_envelopes_get_an_unprefixed_header() {
        let envelope = format!("<Envelope xmlns=\"{SOAP11_NAMESPACE}\"><Body><Ping/></Body></Envelope>");
        let xml = secured(WssePasswordType::Digest, &envelope);
        assert!(
            xml.starts_with(&format!(
                "<Envelope xmlns=\"{SOAP11_NAMESPACE}\"><Header><wsse:Security"
            )),
            "{xml}"
        );
        assert!(xml.contains(&format!(
            "xmlns:soapenv=\"{SOAP11_NAMESPACE}\" soapenv:mustUnderstand=\"1\""
        )));
        assert!(xml.ends_with("</wsse:Security></Header><Body><Ping/></Body></Envelope>"));
    }

    #[test]
    fn text_password_is_sent_escaped_with_its_type() {
        let xml = secured(
            WssePasswordType::Text,
            &format!("<soap:Envelope xmlns:soap=\"{SOAP11_NAMESPACE}\"><soap:Body/></soap:Envelope>"),
        );
        assert!(
            xml.contains(&format!(
                "<wsse:Password Type=\"{PASSWORD_TEXT_TYPE}\">s3cr&amp;t&lt;密码&gt;</wsse:Password>"
            )),
            "{xml}"
        );
        assert!(!xml.contains("Nonce"));
        assert!(!xml.contains("Created"));
    }

    #[test]
    fn the_password_as_sent_covers_the_escaped_text_token() {
        let xml = secured(
            WssePasswordType::Text,
            &format!("<soap:Envelope xmlns:soap=\"{SOAP11_NAMESPACE}\"><soap:Body/></soap:Envelope>"),
        );
        let forms = wss(WssePasswordType::Text).password_as_sent();
        let forms: Vec<&str> = forms.iter().map(Secret::expose).collect();
        assert_eq!(forms, [PASSWORD, "s3cr&amp;t&lt;密码&gt;"]);
        assert!(xml.contains(forms[1]), "{xml}");
        let plain = WsSecurity {
            password: Secret::new("plain-password"),
            ..wss(WssePasswordType::Text)
        };
        assert_eq!(plain.password_as_sent().len(), 1, "nothing to escape, one form");
    }

    #[test]
    fn chinese_text_survives_byte_for_byte() {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP11_NAMESPACE}\">\n  \
             <soap:Header></soap:Header>\n  <soap:Body>\n    <c:Declaration xmlns:c=\"urn:c\" note=\"收货人 &quot;张伟&quot;\">\
             <c:Consignee>张伟</c:Consignee><c:Goods><![CDATA[蓝牙耳机 <5000> 个]]></c:Goods>\
             <!-- 备注 --><c:Address>上海市浦东新区&#x5F20;江路</c:Address></c:Declaration>\n  </soap:Body>\n</soap:Envelope>"
        );
        let xml = secured(WssePasswordType::Digest, &envelope);
        let start = xml.find("<wsse:Security").unwrap();
        let end = xml.find("</wsse:Security>").unwrap() + "</wsse:Security>".len();
        let without = format!("{}{}", &xml[..start], &xml[end..]);
        assert_eq!(without.as_bytes(), envelope.as_bytes());
    }

    #[test]
    fn digest_tokens_are_fresh_per_request() {
        let envelope = format!("<soap:Envelope xmlns:soap=\"{SOAP11_NAMESPACE}\"><soap:Body/></soap:Envelope>");
        let security = wss(WssePasswordType::Digest);
        let first = String::from_utf8(security.secure(envelope.as_bytes()).unwrap()).unwrap();
        let second = String::from_utf8(security.secure(envelope.as_bytes()).unwrap()).unwrap();
        let nonce = |xml: &str| text_between(xml, "#Base64Binary\">", "</wsse:Nonce>").to_owned();
        assert_ne!(nonce(&first), nonce(&second));
        assert_eq!(BASE64.decode(nonce(&first)).unwrap().len(), 16);
        let created = text_between(&first, "<wsu:Created>", "</wsu:Created>");
        let parsed = chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%SZ").unwrap();
        let age = chrono::Utc::now().naive_utc() - parsed;
        assert!(age.num_seconds().abs() < 60, "{created}");
        // The digest checks out against the nonce and time it was sent with.
        let nonce_bytes = BASE64.decode(nonce(&first)).unwrap();
        assert_eq!(
            text_between(&first, "#PasswordDigest\">", "</wsse:Password>"),
            password_digest(&nonce_bytes, created, PASSWORD)
        );
    }

    #[test]
    fn refuses_what_is_not_a_soap_envelope() {
        assert!(
            denied("{\"order\": 1}").contains("not well-formed XML") || denied("{\"order\": 1}").contains("no root")
        );
        assert!(denied("<order><id>1</id></order>").contains("root element is <order>"));
        assert!(denied("<e:Envelope xmlns:e=\"urn:not-soap\"><e:Body/></e:Envelope>").contains("not a SOAP"));
        assert!(denied("").contains("no root element"));
        assert!(denied(&format!("<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"/>")).contains("without a Body"));
        assert!(
            denied(&format!(
                "<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Header/></s:Envelope>"
            ))
            .contains("without a Body")
        );
        assert!(
            denied(&format!(
                "<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body></s:Bod></s:Envelope>"
            ))
            .contains("not well-formed")
        );
        assert!(
            denied(&format!(
                "<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body/><s:Header/></s:Envelope>"
            ))
            .contains("Header after its Body")
        );
    }

    #[test]
    fn refuses_a_doctype() {
        let message = denied(&format!(
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\
             <s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body>&lol2;</s:Body></s:Envelope>"
        ));
        assert!(message.contains("DOCTYPE"), "{message}");
    }

    #[test]
    fn refuses_a_second_security_header() {
        let message = denied(&format!(
            "<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Header><x:Security xmlns:x=\"{WSSE_NAMESPACE}\"/></s:Header><s:Body/></s:Envelope>"
        ));
        assert!(message.contains("already has a wsse:Security"), "{message}");
    }

    #[test]
    fn errors_never_show_the_password() {
        let security = wss(WssePasswordType::Text);
        assert!(!format!("{security:?}").contains("s3cr"));
        let error = security.secure(b"<order/>").unwrap_err();
        assert!(!error.to_string().contains("s3cr"));
    }
}
