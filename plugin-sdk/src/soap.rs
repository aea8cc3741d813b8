//! SOAP 1.1 and 1.2 over HTTP: build envelopes, read answers, parse Faults.
//!
//! Why: every SOAP OPS answers with its own prefixes (`soap:`, `SOAP-ENV:`,
//! `s:`, a default namespace…) and signals errors as Faults whose shape
//! differs between 1.1 and 1.2. Matching on prefixes breaks on the next
//! server; this module matches on namespaces and local names, and tells a
//! client fault (our message is wrong: permanent) from a server fault
//! (retryable).

use std::fmt;

use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Largest answer parsed, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    V11,
    V12,
}

impl SoapVersion {
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V11 => "http://schemas.xmlsoap.org/soap/envelope/",
            SoapVersion::V12 => "http://www.w3.org/2003/05/soap-envelope",
        }
    }

    fn from_namespace(namespace: &str) -> Option<Self> {
        [SoapVersion::V11, SoapVersion::V12]
            .into_iter()
            .find(|version| version.namespace() == namespace)
    }

    /// The `Content-Type` header; SOAP 1.2 carries the action in it.
    pub fn content_type(self, action: Option<&str>) -> String {
        match (self, action) {
            (SoapVersion::V11, _) => "text/xml; charset=utf-8".to_owned(),
            (SoapVersion::V12, Some(action)) => format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
            (SoapVersion::V12, None) => "application/soap+xml; charset=utf-8".to_owned(),
        }
    }

    /// The `SOAPAction` header (SOAP 1.1 only).
    pub fn soap_action_header(self, action: &str) -> Option<(&'static str, String)> {
        match self {
            SoapVersion::V11 => Some(("SOAPAction", format!("\"{action}\""))),
            SoapVersion::V12 => None,
        }
    }
}

/// An element to write: name (with prefix), attributes, text, children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<Element>,
}

impl Element {
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_owned(),
            ..Element::default()
        }
    }
    pub fn attr(mut self, name: &str, value: &str) -> Self {
        self.attributes.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn text(mut self, text: &str) -> Self {
        self.text = Some(text.to_owned());
        self
    }
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }
    /// A child with only text, the common case: `<ns:Name>张三</ns:Name>`.
    pub fn leaf(self, name: &str, text: &str) -> Self {
        self.child(Element::new(name).text(text))
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in &self.attributes {
            out.push_str(&format!(" {name}=\"{}\"", escape(value.as_str())));
        }
        if self.text.is_none() && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(text) = &self.text {
            out.push_str(&escape(text.as_str()));
        }
        for child in &self.children {
            child.write(out);
        }
        out.push_str(&format!("</{}>", self.name));
    }

    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

/// A SOAP envelope to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    version: SoapVersion,
    namespaces: Vec<(String, String)>,
    header: Option<String>,
    body: String,
}

impl Envelope {
    pub fn new(version: SoapVersion) -> Self {
        Envelope {
            version,
            namespaces: Vec::new(),
            header: None,
            body: String::new(),
        }
    }
    /// Declares `xmlns:prefix="uri"` on the Envelope element.
    pub fn namespace(mut self, prefix: &str, uri: &str) -> Self {
        self.namespaces.push((prefix.to_owned(), uri.to_owned()));
        self
    }
    /// Raw XML for the `soap:Header` (WS-Addressing and the like; WS-Security
    /// credentials are added by the host, never by the plugin).
    pub fn header_xml(mut self, fragment: &str) -> Self {
        self.header = Some(fragment.to_owned());
        self
    }
    pub fn body(mut self, element: Element) -> Self {
        self.body = element.to_xml();
        self
    }
    /// Raw XML for the body, for authors who already have it.
    pub fn body_xml(mut self, fragment: &str) -> Self {
        self.body = fragment.to_owned();
        self
    }

    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        out.push_str(&format!("<soap:Envelope xmlns:soap=\"{}\"", self.version.namespace()));
        for (prefix, uri) in &self.namespaces {
            out.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape(uri.as_str())));
        }
        out.push('>');
        if let Some(header) = &self.header {
            out.push_str(&format!("<soap:Header>{header}</soap:Header>"));
        }
        out.push_str(&format!("<soap:Body>{}</soap:Body></soap:Envelope>", self.body));
        out
    }
}

/// An element read from an answer, by namespace and local name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyElement {
    pub name: String,
    pub namespace: Option<String>,
    /// Attributes by local name.
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<BodyElement>,
}

impl BodyElement {
    /// The first child with this local name.
    pub fn child(&self, local_name: &str) -> Option<&BodyElement> {
        self.children.iter().find(|child| child.name == local_name)
    }
    /// Follows local names down the tree.
    pub fn path(&self, names: &[&str]) -> Option<&BodyElement> {
        names.iter().try_fold(self, |element, name| element.child(name))
    }
    /// The trimmed text at the end of a path.
    pub fn text_of(&self, names: &[&str]) -> Option<&str> {
        self.path(names).map(|element| element.text.trim())
    }
    pub fn attribute(&self, local_name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == local_name)
            .map(|(_, value)| value.as_str())
    }
}

/// A SOAP Fault, either version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub version: SoapVersion,
    /// `faultcode` (1.1) or `Code/Value` (1.2), as written (`soap:Client`).
    pub code: String,
    /// `Code/Subcode/Value` (1.2 only).
    pub subcode: Option<String>,
    /// `faultstring` (1.1) or the first `Reason/Text` (1.2).
    pub reason: String,
    /// `faultactor` (1.1) or `Role` (1.2).
    pub actor: Option<String>,
    pub detail: Option<BodyElement>,
}

impl Fault {
    /// A fault caused by our message (1.1 `Client`, 1.2 `Sender`): resending
    /// the same message cannot help.
    pub fn is_client_fault(&self) -> bool {
        let local = self.code.rsplit(':').next().unwrap_or_default();
        local.starts_with("Client") || local == "Sender"
    }
}

/// What an answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapResponse {
    /// The first element of the Body.
    Body(BodyElement),
    Fault(Fault),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapError {
    /// Not well-formed XML; `position` is a byte offset.
    NotXml {
        position: u64,
        message: String,
    },
    NoEnvelope(String),
    NoBody,
    EmptyBody,
    TooDeep,
    TooLarge {
        bytes: usize,
    },
}

impl fmt::Display for SoapError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoapError::NotXml { position, message } => write!(formatter, "not XML at byte {position}: {message}"),
            SoapError::NoEnvelope(found) => write!(formatter, "not a SOAP envelope (root element `{found}`)"),
            SoapError::NoBody => formatter.write_str("the SOAP envelope has no Body"),
            SoapError::EmptyBody => formatter.write_str("the SOAP Body is empty"),
            SoapError::TooDeep => write!(formatter, "the document nests deeper than {MAX_DEPTH} elements"),
            SoapError::TooLarge { bytes } => {
                write!(
                    formatter,
                    "the document is {bytes} bytes; at most {MAX_DOCUMENT_BYTES} are read"
                )
            }
        }
    }
}

impl std::error::Error for SoapError {}

/// Parses an answer into its Body's first element or its Fault.
pub fn parse_response(xml: &[u8]) -> Result<SoapResponse, SoapError> {
    let root = parse_tree(xml)?;
    let version = match root.namespace.as_deref() {
        _ if root.name != "Envelope" => return Err(SoapError::NoEnvelope(root.name)),
        Some(namespace) => SoapVersion::from_namespace(namespace).ok_or(SoapError::NoEnvelope(root.name.clone()))?,
        None => SoapVersion::V11,
    };
    let body = root.child("Body").ok_or(SoapError::NoBody)?;
    let first = body.children.first().ok_or(SoapError::EmptyBody)?;
    if first.name != "Fault" {
        return Ok(SoapResponse::Body(first.clone()));
    }
    let text = |names: &[&str]| first.text_of(names).map(str::to_owned);
    let fault = match version {
        SoapVersion::V11 => Fault {
            version,
            code: text(&["faultcode"]).unwrap_or_default(),
            subcode: None,
            reason: text(&["faultstring"]).unwrap_or_default(),
            actor: text(&["faultactor"]),
            detail: first.child("detail").cloned(),
        },
        SoapVersion::V12 => Fault {
            version,
            code: text(&["Code", "Value"]).unwrap_or_default(),
            subcode: text(&["Code", "Subcode", "Value"]),
            reason: text(&["Reason", "Text"]).unwrap_or_default(),
            actor: text(&["Role"]),
            detail: first.child("Detail").cloned(),
        },
    };
    Ok(SoapResponse::Fault(fault))
}

fn parse_tree(xml: &[u8]) -> Result<BodyElement, SoapError> {
    if xml.len() > MAX_DOCUMENT_BYTES {
        return Err(SoapError::TooLarge { bytes: xml.len() });
    }
    let mut reader = NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut stack: Vec<BodyElement> = Vec::new();
    let not_xml = |position: u64, message: String| SoapError::NotXml { position, message };
    loop {
        let position = reader.buffer_position();
        let (namespace, event) = match reader.read_resolved_event_into(&mut buf) {
            Ok((ResolveResult::Bound(namespace), event)) => (
                Some(String::from_utf8_lossy(namespace.as_ref()).into_owned()),
                event.into_owned(),
            ),
            Ok((_, event)) => (None, event.into_owned()),
            Err(error) => return Err(not_xml(position, error.to_string())),
        };
        match event {
            Event::Start(start) | Event::Empty(start) if stack.len() >= MAX_DEPTH => {
                let _ = start;
                return Err(SoapError::TooDeep);
            }
            Event::Start(start) => stack.push(element(&start, namespace)),
            Event::Empty(start) => {
                let done = element(&start, namespace);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(not_xml(position, "closing tag without an opening one".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current
                        .text
                        .push_str(&text.decode().map_err(|error| not_xml(position, error.to_string()))?);
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current
                        .text
                        .push_str(&data.decode().map_err(|error| not_xml(position, error.to_string()))?);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference
                            .decode()
                            .map_err(|error| not_xml(position, error.to_string()))?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| not_xml(position, format!("unknown entity `&{name};`")))?
                            .to_owned()
                    }
                    Err(error) => return Err(not_xml(position, error.to_string())),
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => {
                return Err(not_xml(
                    position,
                    "the document ended before its root element closed".into(),
                ));
            }
            _ => {}
        }
        buf.clear();
    }
}

fn element(start: &quick_xml::events::BytesStart<'_>, namespace: Option<String>) -> BodyElement {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let attributes = start
        .attributes()
        .flatten()
        .filter(|attribute| {
            let key = attribute.key.as_ref();
            key != b"xmlns" && !key.starts_with(b"xmlns:")
        })
        .map(|attribute| {
            let raw = String::from_utf8_lossy(&attribute.value).into_owned();
            let value = quick_xml::escape::unescape(&raw)
                .map(|value| value.into_owned())
                .unwrap_or(raw);
            (
                String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned(),
                value,
            )
        })
        .collect();
    BodyElement {
        name,
        namespace,
        attributes,
        text: String::new(),
        children: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn body(xml: &str) -> BodyElement {
        match parse_response(xml.as_bytes()).unwrap() {
            SoapResponse::Body(body) => body,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_envelope_declares_namespaces_and_escapes_text() {
        let xml = Envelope::new(SoapVersion::V11)
            .namespace("ops", "urn:freight-ops")
            .body(
                Element::new("ops:CreateBooking")
                    .attr("mode", "a\"b")
                    .leaf("ops:Shipper", "上海远航 <&> 'x'")
                    .child(Element::new("ops:Empty")),
            )
            .to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ops=\"urn:freight-ops\">"), "{xml}");
        assert!(xml.contains("<ops:CreateBooking mode=\"a&quot;b\"><ops:Shipper>上海远航 &lt;&amp;&gt; &apos;x&apos;</ops:Shipper><ops:Empty/></ops:CreateBooking>"), "{xml}");
        let back = body(&xml);
        assert_eq!(back.name, "CreateBooking");
        assert_eq!(back.namespace.as_deref(), Some("urn:freight-ops"));
        assert_eq!(back.attribute("mode"), Some("a\"b"));
        assert_eq!(back.text_of(&["Shipper"]), Some("上海远航 <&> 'x'"));
    }

    #[test]
    fn soap_12_puts_the_action_in_the_content_type() {
        assert_eq!(
            SoapVersion::V12.content_type(Some("urn:book")),
            "application/soap+xml; charset=utf-8; action=\"urn:book\""
        );
        assert_eq!(SoapVersion::V12.soap_action_header("urn:book"), None);
        assert_eq!(
            SoapVersion::V11.soap_action_header("urn:book"),
            Some(("SOAPAction", "\"urn:book\"".into()))
        );
        let xml = Envelope::new(SoapVersion::V12)
            .header_xml("<a:To xmlns:a=\"urn:x\">ops</a:To>")
            .body_xml("<Ping/>")
            .to_xml();
        assert!(
            xml.contains("<soap:Header><a:To xmlns:a=\"urn:x\">ops</a:To></soap:Header><soap:Body><Ping/></soap:Body>")
        );
        assert_eq!(body(&xml).name, "Ping");
    }

    #[test]
    fn bodies_are_read_whatever_the_prefix() {
        for (open, close) in [
            (
                "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>",
                "</soap:Body></soap:Envelope>",
            ),
            (
                "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body>",
                "</SOAP-ENV:Body></SOAP-ENV:Envelope>",
            ),
            (
                "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>",
                "</s:Body></s:Envelope>",
            ),
            (
                "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Header/><env:Body>",
                "</env:Body></env:Envelope>",
            ),
            (
                "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"><Body>",
                "</Body></Envelope>",
            ),
        ] {
            let xml = format!(
                "{open}<r:BookingResult xmlns:r=\"urn:r\"><r:BookingNo>FO-1</r:BookingNo><r:Note><![CDATA[已确认 & ok]]></r:Note></r:BookingResult>{close}"
            );
            let result = body(&xml);
            assert_eq!(result.text_of(&["BookingNo"]), Some("FO-1"), "{xml}");
            assert_eq!(result.text_of(&["Note"]), Some("已确认 & ok"), "{xml}");
        }
    }

    #[test]
    fn soap_11_faults_are_parsed_and_classified() {
        let xml = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault>\
            <faultcode>soap:Client</faultcode><faultstring>港口代码无效 invalid port</faultstring>\
            <faultactor>urn:ops</faultactor><detail><e:Field xmlns:e=\"urn:e\">pod</e:Field></detail>\
            </soap:Fault></soap:Body></soap:Envelope>";
        let SoapResponse::Fault(fault) = parse_response(xml.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(fault.version, SoapVersion::V11);
        assert_eq!(fault.code, "soap:Client");
        assert_eq!(fault.reason, "港口代码无效 invalid port");
        assert_eq!(fault.actor.as_deref(), Some("urn:ops"));
        assert_eq!(fault.detail.as_ref().unwrap().text_of(&["Field"]), Some("pod"));
        assert!(fault.is_client_fault());
    }

    #[test]
    fn soap_12_faults_are_parsed_and_classified() {
        let xml = "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body><env:Fault>\
            <env:Code><env:Value>env:Receiver</env:Value><env:Subcode><env:Value>ops:Busy</env:Value></env:Subcode></env:Code>\
            <env:Reason><env:Text xml:lang=\"en\">try later</env:Text></env:Reason>\
            <env:Detail><Retry>30</Retry></env:Detail></env:Fault></env:Body></env:Envelope>";
        let SoapResponse::Fault(fault) = parse_response(xml.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(fault.code, "env:Receiver");
        assert_eq!(fault.subcode.as_deref(), Some("ops:Busy"));
        assert_eq!(fault.reason, "try later");
        assert!(!fault.is_client_fault());
        assert_eq!(fault.detail.unwrap().text_of(&["Retry"]), Some("30"));
    }

    #[test]
    fn malformed_answers_get_precise_errors() {
        assert!(matches!(parse_response(b"<a><b></a>"), Err(SoapError::NotXml { .. })));
        assert_eq!(
            parse_response(b"<html><body/></html>"),
            Err(SoapError::NoEnvelope("html".into()))
        );
        let no_body = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"/>";
        assert_eq!(parse_response(no_body.as_bytes()), Err(SoapError::NoBody));
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(parse_response(deep.as_bytes()), Err(SoapError::TooDeep));
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert!(matches!(parse_response(&big), Err(SoapError::TooLarge { .. })));
        let truncated = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>";
        let error = parse_response(truncated.as_bytes()).unwrap_err();
        assert!(error.to_string().starts_with("not XML at byte"), "{error}");
    }
}
