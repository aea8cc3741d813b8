//! SOAP over HTTP: building envelopes and reading answers.
//!
//! Many OPS still speak SOAP, and every plugin that talks to one needs the
//! same three things: an envelope with the right namespace and HTTP headers
//! for the SOAP version the OPS expects, correct XML escaping of customer
//! data (names, addresses — often Chinese — with `&` and `<` in them), and a
//! reader that finds the Body and a Fault whatever prefixes the server chose
//! (`soap:`, `SOAP-ENV:`, `s:`, `env:`, a default namespace…). Writing these
//! by hand with string formatting is how escaping bugs and prefix-dependent
//! parsers get into plugins, so the SDK does it once.
//!
//! Building:
//!
//! ```
//! use hub_plugin_sdk::soap::{Element, Envelope, SoapVersion};
//!
//! let xml = Envelope::new(SoapVersion::V11)
//!     .namespace("ns", "urn:example:booking")
//!     .body(
//!         Element::new("ns:CreateBooking")
//!             .attr("version", "2")
//!             .child(Element::new("ns:Name").text("张三"))
//!             .child(Element::new("ns:Address").text("上海市浦东新区")),
//!     )
//!     .to_xml();
//! assert!(xml.contains("<ns:Name>张三</ns:Name>"));
//! ```
//!
//! Reading:
//!
//! ```
//! use hub_plugin_sdk::soap::{parse_response, SoapResponse};
//!
//! let answer = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
//!   <r:CreateBookingResponse xmlns:r="urn:example:booking">
//!     <r:BookingResult><r:BookingNo>BK-1</r:BookingNo></r:BookingResult>
//!   </r:CreateBookingResponse></s:Body></s:Envelope>"#;
//! match parse_response(answer) {
//!     Ok(SoapResponse::Body(body)) => {
//!         assert_eq!(body.text_of(&["BookingResult", "BookingNo"]), Some("BK-1"));
//!     }
//!     Ok(SoapResponse::Fault(fault)) => println!("fault: {fault}"),
//!     Ok(SoapResponse::Empty) => println!("nothing in the Body"),
//!     Err(error) => println!("not a SOAP answer: {error}"),
//! }
//! ```
//!
//! The reader is bounded (at most [`MAX_DOCUMENT_BYTES`] of input and
//! [`MAX_DEPTH`] levels of nesting), refuses DTDs (SOAP forbids them, and they
//! are the usual vehicle for entity-expansion attacks) and accepts UTF-8 only.

use std::collections::BTreeMap;
use std::fmt;

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The SOAP 1.1 envelope namespace.
pub const SOAP11_NAMESPACE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace.
pub const SOAP12_NAMESPACE: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The deepest element nesting [`parse_response`] accepts (the Envelope is
/// level 1). Real SOAP answers stay far below; deeper documents are refused
/// rather than risk the plugin's small stack and memory.
pub const MAX_DEPTH: usize = 64;
/// The largest document [`parse_response`] accepts: 4 MiB, the hub's default
/// message-size limit.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The envelope prefix [`Envelope::to_xml`] writes.
const ENVELOPE_PREFIX: &str = "soap";

/// Which SOAP the OPS speaks. They differ in namespace, HTTP content type and
/// where the action goes (a `SOAPAction` header in 1.1, a content-type
/// parameter in 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoapVersion {
    V11,
    V12,
}

impl SoapVersion {
    /// The envelope namespace URI.
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_NAMESPACE,
            SoapVersion::V12 => SOAP12_NAMESPACE,
        }
    }

    /// The version whose envelope namespace is `uri`, if any.
    pub fn from_namespace(uri: &str) -> Option<SoapVersion> {
        match uri {
            SOAP11_NAMESPACE => Some(SoapVersion::V11),
            SOAP12_NAMESPACE => Some(SoapVersion::V12),
            _ => None,
        }
    }

    /// The `Content-Type` header value. SOAP 1.1 ignores `action` here (it
    /// goes into [`SoapVersion::soap_action_header`]); SOAP 1.2 carries it as
    /// the `action` parameter.
    pub fn content_type(self, action: Option<&str>) -> String {
        match (self, action) {
            (SoapVersion::V11, _) => "text/xml; charset=utf-8".to_owned(),
            (SoapVersion::V12, None) => "application/soap+xml; charset=utf-8".to_owned(),
            (SoapVersion::V12, Some(action)) => {
                format!("application/soap+xml; charset=utf-8; action={}", quoted(action))
            }
        }
    }

    /// The `SOAPAction` header SOAP 1.1 requires, value in quotes (`""` when
    /// there is no action, which SOAP 1.1 reads as "the request URI"). `None`
    /// for SOAP 1.2, which has no such header.
    pub fn soap_action_header(self, action: Option<&str>) -> Option<(&'static str, String)> {
        match self {
            SoapVersion::V11 => Some(("SOAPAction", quoted(action.unwrap_or("")))),
            SoapVersion::V12 => None,
        }
    }

    /// All HTTP headers a SOAP request needs, ready for an HTTP request's
    /// header list: `Content-Type`, plus `SOAPAction` for SOAP 1.1.
    pub fn headers(self, action: Option<&str>) -> Vec<(String, String)> {
        let mut headers = vec![("Content-Type".to_owned(), self.content_type(action))];
        if let Some((name, value)) = self.soap_action_header(action) {
            headers.push((name.to_owned(), value));
        }
        headers
    }
}

impl fmt::Display for SoapVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoapVersion::V11 => f.write_str("SOAP 1.1"),
            SoapVersion::V12 => f.write_str("SOAP 1.2"),
        }
    }
}

/// An HTTP quoted-string.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Text(String),
    Element(Element),
    Raw(String),
}

impl Content {
    fn write(&self, out: &mut String) {
        match self {
            Content::Text(text) => escape_into(out, text, false),
            Content::Element(element) => element.write(out),
            Content::Raw(xml) => out.push_str(xml),
        }
    }
}

/// An XML element to put into an [`Envelope`]: a qualified name (write the
/// prefix you declared with [`Envelope::namespace`], e.g. `ns:CreateBooking`),
/// attributes, and text and child elements in the order they were added.
///
/// Text and attribute values are escaped (`<`, `&`, `>`, `"`, `'`, and in
/// attributes also tab, CR and LF, so they survive attribute-value
/// normalization). Characters XML 1.0 cannot carry at all (most C0 control
/// characters, unpaired surrogates cannot occur in Rust strings) are replaced
/// by U+FFFD. Names are written as given: they are the plugin's constants, not
/// data.
///
/// Optional children: [`Element::children`] takes any iterator, so an
/// `Option<Element>` adds the child only when it is `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    content: Vec<Content>,
}

impl Element {
    /// An element without attributes or content, e.g. `Element::new("ns:Order")`.
    pub fn new(name: impl Into<String>) -> Element {
        Element {
            name: name.into(),
            attributes: Vec::new(),
            content: Vec::new(),
        }
    }

    /// Set an attribute (a second call with the same name replaces the value).
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Element {
        let name = name.into();
        let value = value.into();
        match self.attributes.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name, value)),
        }
        self
    }

    /// Append text (escaped).
    pub fn text(mut self, text: impl Into<String>) -> Element {
        self.content.push(Content::Text(text.into()));
        self
    }

    /// Append a child element.
    pub fn child(mut self, child: Element) -> Element {
        self.content.push(Content::Element(child));
        self
    }

    /// Append a child that holds only text, the common case:
    /// `.leaf("ns:Name", "张三")` adds `<ns:Name>张三</ns:Name>`.
    pub fn leaf(self, name: impl Into<String>, text: impl Into<String>) -> Element {
        self.child(Element::new(name).text(text))
    }

    /// Append child elements; an `Option<Element>` works too.
    pub fn children(mut self, children: impl IntoIterator<Item = Element>) -> Element {
        self.content.extend(children.into_iter().map(Content::Element));
        self
    }

    /// Append an XML fragment as is (not escaped, not checked): for parts
    /// the plugin already has as XML.
    pub fn raw_xml(mut self, fragment: impl Into<String>) -> Element {
        self.content.push(Content::Raw(fragment.into()));
        self
    }

    /// The element as XML text (no declaration).
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in &self.attributes {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_into(out, value, true);
            out.push('"');
        }
        if self.content.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for content in &self.content {
            content.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Whether XML 1.0 can carry `c` at all (the `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn escape_into(out: &mut String, value: &str, attribute: bool) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A literal CR would be turned into LF by the reader.
            '\r' => out.push_str("&#13;"),
            // Attribute-value normalization turns literal tabs and newlines into spaces.
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// A SOAP request envelope. The envelope prefix is `soap`; declare the
/// prefixes your body uses with [`Envelope::namespace`].
///
/// ```
/// use hub_plugin_sdk::soap::{Element, Envelope, SoapVersion};
///
/// let envelope = Envelope::new(SoapVersion::V12)
///     .namespace("ns", "urn:example:booking")
///     .header_xml("<wsa:Action xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">urn:create</wsa:Action>")
///     .body(Element::new("ns:Ping"));
/// let headers = SoapVersion::V12.headers(Some("urn:create"));
/// # let _ = (envelope.to_xml(), headers);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    version: SoapVersion,
    namespaces: Vec<(String, String)>,
    header: Vec<Content>,
    body: Vec<Content>,
}

impl Envelope {
    /// An envelope with an empty Body and no Header.
    pub fn new(version: SoapVersion) -> Envelope {
        Envelope {
            version,
            namespaces: Vec::new(),
            header: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The SOAP version this envelope is written for.
    pub fn version(&self) -> SoapVersion {
        self.version
    }

    /// Declare `xmlns:prefix="uri"` on the Envelope element (`xmlns="uri"`
    /// for an empty prefix). Declaring a prefix again replaces its URI. The
    /// prefix `soap` belongs to the envelope itself and is ignored here.
    pub fn namespace(mut self, prefix: impl Into<String>, uri: impl Into<String>) -> Envelope {
        let prefix = prefix.into();
        let uri = uri.into();
        if prefix == ENVELOPE_PREFIX {
            return self;
        }
        match self.namespaces.iter_mut().find(|(existing, _)| *existing == prefix) {
            Some(slot) => slot.1 = uri,
            None => self.namespaces.push((prefix, uri)),
        }
        self
    }

    /// Append an element to the SOAP Header (the Header is written only when
    /// something was added to it).
    pub fn header(mut self, element: Element) -> Envelope {
        self.header.push(Content::Element(element));
        self
    }

    /// Append an XML fragment to the SOAP Header as is (WS-Security,
    /// WS-Addressing blocks the plugin already has as text).
    pub fn header_xml(mut self, fragment: impl Into<String>) -> Envelope {
        self.header.push(Content::Raw(fragment.into()));
        self
    }

    /// Append an element to the Body.
    pub fn body(mut self, element: Element) -> Envelope {
        self.body.push(Content::Element(element));
        self
    }

    /// Append an XML fragment to the Body as is (not escaped, not checked).
    pub fn body_xml(mut self, fragment: impl Into<String>) -> Envelope {
        self.body.push(Content::Raw(fragment.into()));
        self
    }

    /// The complete document, starting with the XML declaration.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        out.push_str("<soap:Envelope xmlns:soap=\"");
        out.push_str(self.version.namespace());
        out.push('"');
        for (prefix, uri) in &self.namespaces {
            if prefix.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(prefix);
                out.push_str("=\"");
            }
            escape_into(&mut out, uri, true);
            out.push('"');
        }
        out.push('>');
        if !self.header.is_empty() {
            out.push_str("<soap:Header>");
            for content in &self.header {
                content.write(&mut out);
            }
            out.push_str("</soap:Header>");
        }
        if self.body.is_empty() {
            out.push_str("<soap:Body/>");
        } else {
            out.push_str("<soap:Body>");
            for content in &self.body {
                content.write(&mut out);
            }
            out.push_str("</soap:Body>");
        }
        out.push_str("</soap:Envelope>");
        out
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Why a document is not a SOAP answer the SDK can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapError {
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    TooLarge { size: usize, limit: usize },
    /// The document is not UTF-8; `position` is the byte offset of the first
    /// invalid byte.
    NotUtf8 { position: usize },
    /// The document is not well-formed XML; `position` is the byte offset
    /// reported by the XML reader.
    NotXml { position: u64, message: String },
    /// The document has a `<!DOCTYPE …>`, which SOAP forbids.
    DocumentType { position: u64 },
    /// Elements are nested deeper than `limit` levels.
    TooDeep { limit: usize, position: u64 },
    /// The document has no root element (`root: None`) or its root is not
    /// an `Envelope`.
    NoEnvelope { root: Option<String> },
    /// The root is an `Envelope` but not in a SOAP 1.1 or 1.2 namespace.
    UnknownEnvelopeNamespace { namespace: Option<String> },
    /// The Envelope has no Body.
    NoBody { version: SoapVersion },
}

impl fmt::Display for SoapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoapError::TooLarge { size, limit } => {
                write!(f, "SOAP document of {size} bytes is larger than the {limit}-byte limit")
            }
            SoapError::NotUtf8 { position } => {
                write!(
                    f,
                    "SOAP document is not UTF-8 (invalid byte at offset {position}); only UTF-8 is supported"
                )
            }
            SoapError::NotXml { position, message } => {
                write!(f, "SOAP document is not well-formed XML at byte {position}: {message}")
            }
            SoapError::DocumentType { position } => {
                write!(f, "SOAP document has a DOCTYPE at byte {position}; SOAP forbids DTDs")
            }
            SoapError::TooDeep { limit, position } => {
                write!(
                    f,
                    "SOAP document nests elements deeper than {limit} levels (at byte {position})"
                )
            }
            SoapError::NoEnvelope { root: None } => write!(f, "SOAP document has no root element"),
            SoapError::NoEnvelope { root: Some(root) } => {
                write!(f, "SOAP document's root element is <{root}>, not an Envelope")
            }
            SoapError::UnknownEnvelopeNamespace { namespace: None } => write!(
                f,
                "SOAP Envelope has no namespace; expected {SOAP11_NAMESPACE} (1.1) or {SOAP12_NAMESPACE} (1.2)"
            ),
            SoapError::UnknownEnvelopeNamespace {
                namespace: Some(namespace),
            } => write!(
                f,
                "SOAP Envelope is in namespace {namespace}; expected {SOAP11_NAMESPACE} (1.1) or {SOAP12_NAMESPACE} (1.2)"
            ),
            SoapError::NoBody { version } => write!(f, "{version} Envelope has no Body"),
        }
    }
}

impl std::error::Error for SoapError {}

/// An element of a SOAP answer, with names reduced to local names so code
/// does not depend on the prefixes the server chose.
///
/// `text` is the character data directly inside the element (entities
/// resolved, CDATA included), verbatim; it is empty when that data is only
/// whitespace (indentation). [`BodyElement::text_of`] trims it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyElement {
    /// Local name (without prefix).
    pub name: String,
    /// Namespace URI, when the element is in one.
    pub namespace: Option<String>,
    /// Attributes by local name (namespace declarations left out).
    pub attributes: BTreeMap<String, String>,
    pub text: String,
    pub children: Vec<BodyElement>,
}

impl BodyElement {
    /// The first child with this local name.
    pub fn child(&self, local_name: &str) -> Option<&BodyElement> {
        self.children.iter().find(|child| child.name == local_name)
    }

    /// All children with this local name, in document order (repeated items).
    pub fn children_named<'a>(&'a self, local_name: &'a str) -> impl Iterator<Item = &'a BodyElement> + 'a {
        self.children.iter().filter(move |child| child.name == local_name)
    }

    /// Follow first children by local name: `path(&["BookingResult", "BookingNo"])`.
    /// An empty path is the element itself.
    pub fn path(&self, path: &[&str]) -> Option<&BodyElement> {
        path.iter().try_fold(self, |element, name| element.child(name))
    }

    /// The trimmed text of the element at `path`.
    pub fn text_of(&self, path: &[&str]) -> Option<&str> {
        self.path(path).map(|element| element.text.trim())
    }

    /// An attribute by local name.
    pub fn attr(&self, local_name: &str) -> Option<&str> {
        self.attributes.get(local_name).map(String::as_str)
    }
}

/// A SOAP Fault, in either version's shape.
///
/// | field | SOAP 1.1 | SOAP 1.2 |
/// |---|---|---|
/// | `code` | `faultcode` | `Code/Value` |
/// | `subcode` | — | `Code/Subcode/Value` |
/// | `reason` | `faultstring` | first `Reason/Text` |
/// | `actor` | `faultactor` | `Node` |
/// | `detail_xml`, `detail` | `detail` | `Detail` |
///
/// Codes are kept as written (`soap:Client`, `env:Sender`); missing parts
/// are empty rather than an error, so a sloppy server's fault still reaches
/// the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub version: SoapVersion,
    pub code: String,
    pub subcode: Option<String>,
    pub reason: String,
    pub actor: Option<String>,
    /// The content of the detail element as the server wrote it (trimmed;
    /// prefixes declared on ancestors such as the Envelope are not repeated).
    pub detail_xml: Option<String>,
    /// The detail element itself, for reading error codes out of it.
    pub detail: Option<BodyElement>,
}

impl Fault {
    /// The code without its prefix: `Client`, `Server`, `Sender`, `Receiver`, …
    /// (SOAP 1.1 dotted codes keep their suffix: `Client.Authentication`).
    pub fn code_local_name(&self) -> &str {
        local_part(&self.code)
    }

    /// The sender's fault: the request was wrong, and sending it again will
    /// fail again (a permanent failure). SOAP 1.1 `Client` (also `Client.*`),
    /// SOAP 1.2 `Sender`.
    pub fn is_client_fault(&self) -> bool {
        let code = self.code_local_name();
        match self.version {
            SoapVersion::V11 => code == "Client" || code.starts_with("Client."),
            SoapVersion::V12 => code == "Sender",
        }
    }

    /// The receiver's fault: the request may succeed later (retryable).
    /// SOAP 1.1 `Server` (also `Server.*`), SOAP 1.2 `Receiver`.
    pub fn is_server_fault(&self) -> bool {
        let code = self.code_local_name();
        match self.version {
            SoapVersion::V11 => code == "Server" || code.starts_with("Server."),
            SoapVersion::V12 => code == "Receiver",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} fault {}", self.version, self.code)?;
        if let Some(subcode) = &self.subcode {
            write!(f, " ({subcode})")?;
        }
        write!(f, ": {}", self.reason)?;
        if let Some(actor) = &self.actor {
            write!(f, " [at {actor}]")?;
        }
        Ok(())
    }
}

/// What a SOAP answer contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapResponse {
    /// The first element in the Body (the operation's response element).
    Body(BodyElement),
    /// The Body holds a Fault.
    Fault(Fault),
    /// The Body holds no element (some one-way operations answer this way).
    Empty,
}

/// Read a SOAP 1.1 or 1.2 answer: find the Envelope and Body by local name
/// and namespace, whatever prefixes (or default namespace) the server used,
/// and tell a Fault from a regular answer.
pub fn parse_response(xml: &[u8]) -> Result<SoapResponse, SoapError> {
    if xml.len() > MAX_DOCUMENT_BYTES {
        return Err(SoapError::TooLarge {
            size: xml.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let text = std::str::from_utf8(xml).map_err(|error| SoapError::NotUtf8 {
        position: error.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let root = parse_tree(text)?;

    if root.element.name != "Envelope" {
        return Err(SoapError::NoEnvelope {
            root: Some(root.element.name),
        });
    }
    let namespace = root.element.namespace.clone();
    let version = namespace
        .as_deref()
        .and_then(SoapVersion::from_namespace)
        .ok_or(SoapError::UnknownEnvelopeNamespace { namespace })?;
    let in_soap = |node: &Node, name: &str| {
        node.element.name == name && node.element.namespace.as_deref() == Some(version.namespace())
    };
    let body = root
        .children
        .into_iter()
        .find(|child| in_soap(child, "Body"))
        .ok_or(SoapError::NoBody { version })?;
    let Some(first) = body.children.into_iter().next() else {
        return Ok(SoapResponse::Empty);
    };
    if in_soap(&first, "Fault") {
        return Ok(SoapResponse::Fault(read_fault(version, first, text)));
    }
    Ok(SoapResponse::Body(first.into_element()))
}

fn local_part(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, local)| local)
}

/// A parsed element plus what only the parser needs: the children as nodes
/// and the byte range of the element's content in the source.
struct Node {
    element: BodyElement,
    children: Vec<Node>,
    content: (usize, usize),
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|child| child.element.name.eq_ignore_ascii_case(name))
    }

    fn trimmed_text(&self) -> String {
        self.element.text.trim().to_owned()
    }

    fn into_element(self) -> BodyElement {
        let mut element = self.element;
        element.children = self.children.into_iter().map(Node::into_element).collect();
        element
    }
}

fn read_fault(version: SoapVersion, fault: Node, source: &str) -> Fault {
    let (code, subcode, reason, actor, detail_name) = match version {
        SoapVersion::V11 => (
            fault.child("faultcode").map(Node::trimmed_text),
            None,
            fault.child("faultstring").map(Node::trimmed_text),
            fault.child("faultactor").map(Node::trimmed_text),
            "detail",
        ),
        SoapVersion::V12 => {
            let code = fault.child("Code");
            (
                code.and_then(|code| code.child("Value")).map(Node::trimmed_text),
                code.and_then(|code| code.child("Subcode"))
                    .and_then(|subcode| subcode.child("Value"))
                    .map(Node::trimmed_text),
                fault
                    .child("Reason")
                    .and_then(|reason| reason.child("Text"))
                    .map(Node::trimmed_text),
                fault.child("Node").map(Node::trimmed_text),
                "Detail",
            )
        }
    };
    let detail_index = fault
        .children
        .iter()
        .position(|child| child.element.name.eq_ignore_ascii_case(detail_name));
    let detail = detail_index.and_then(|index| fault.children.into_iter().nth(index));
    let detail_xml = detail.as_ref().and_then(|detail| {
        let (start, end) = detail.content;
        source
            .get(start..end)
            .map(str::trim)
            .filter(|xml| !xml.is_empty())
            .map(str::to_owned)
    });
    Fault {
        version,
        code: code.unwrap_or_default(),
        subcode,
        reason: reason.unwrap_or_default(),
        actor: actor.filter(|actor| !actor.is_empty()),
        detail_xml,
        detail: detail.map(Node::into_element),
    }
}

fn not_xml(position: u64, error: impl fmt::Display) -> SoapError {
    SoapError::NotXml {
        position,
        message: error.to_string(),
    }
}

fn as_position(offset: usize) -> u64 {
    u64::try_from(offset).unwrap_or(u64::MAX)
}

fn as_offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// Read the whole document into a tree of [`Node`]s, returning the root.
fn parse_tree(source: &str) -> Result<Node, SoapError> {
    let mut reader = NsReader::from_str(source);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let before = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) => return Err(not_xml(reader.error_position(), error)),
        };
        let after = reader.buffer_position();
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SoapError::TooDeep {
                        limit: MAX_DEPTH,
                        position: before,
                    });
                }
                let element = new_element(&reader, &start, before)?;
                stack.push(Node {
                    element,
                    children: Vec::new(),
                    content: (as_offset(after), as_offset(after)),
                });
            }
            Event::Empty(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SoapError::TooDeep {
                        limit: MAX_DEPTH,
                        position: before,
                    });
                }
                let element = new_element(&reader, &start, before)?;
                let node = Node {
                    element,
                    children: Vec::new(),
                    content: (as_offset(after), as_offset(after)),
                };
                attach(&mut stack, &mut root, node, before)?;
            }
            Event::End(_) => {
                let Some(mut node) = stack.pop() else {
                    return Err(not_xml(before, "end tag without a start tag"));
                };
                node.content.1 = as_offset(before);
                if node.element.text.trim().is_empty() {
                    node.element.text.clear();
                }
                attach(&mut stack, &mut root, node, before)?;
            }
            Event::Text(text) => {
                let text = text.xml10_content().map_err(|error| not_xml(before, error))?;
                push_text(&mut stack, &text, before)?;
            }
            Event::CData(data) => {
                let text = data.xml10_content().map_err(|error| not_xml(before, error))?;
                push_text(&mut stack, &text, before)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.decode().map_err(|error| not_xml(before, error))?;
                        match resolve_xml_entity(&name) {
                            Some(value) => value.to_owned(),
                            None => return Err(not_xml(before, format!("unknown entity &{name};"))),
                        }
                    }
                    Err(error) => return Err(not_xml(before, error)),
                };
                push_text(&mut stack, &resolved, before)?;
            }
            Event::DocType(_) => return Err(SoapError::DocumentType { position: before }),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(not_xml(
                        as_position(source.len()),
                        format!("document ends inside <{}>", open.element.name),
                    ));
                }
                return root.ok_or(SoapError::NoEnvelope { root: None });
            }
        }
    }
}

fn new_element(reader: &NsReader<&[u8]>, start: &BytesStart<'_>, position: u64) -> Result<BodyElement, SoapError> {
    let (namespace, local) = reader.resolver().resolve_element(start.name());
    let namespace = match namespace {
        ResolveResult::Bound(namespace) => Some(String::from_utf8_lossy(namespace.as_ref()).into_owned()),
        // An undeclared prefix: the element is in no namespace we know of.
        ResolveResult::Unbound | ResolveResult::Unknown(_) => None,
    };
    let mut attributes = BTreeMap::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| not_xml(position, error))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|error| not_xml(position, error))?;
        let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
        attributes.insert(key, value.into_owned());
    }
    Ok(BodyElement {
        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
        namespace,
        attributes,
        text: String::new(),
        children: Vec::new(),
    })
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node, position: u64) -> Result<(), SoapError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None if root.is_some() => return Err(not_xml(position, "more than one root element")),
        None => *root = Some(node),
    }
    Ok(())
}

fn push_text(stack: &mut [Node], text: &str, position: u64) -> Result<(), SoapError> {
    match stack.last_mut() {
        Some(parent) => parent.element.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(not_xml(position, "text outside the root element")),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn body_of(xml: &str) -> BodyElement {
        match parse_response(xml.as_bytes()) {
            Ok(SoapResponse::Body(body)) => body,
            other => panic!("expected a body, got {other:?}"),
        }
    }

    fn fault_of(xml: &str) -> Fault {
        match parse_response(xml.as_bytes()) {
            Ok(SoapResponse::Fault(fault)) => fault,
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    fn booking() -> Element {
        Element::new("ns:CreateBooking")
            .attr("channel", "web")
            .child(Element::new("ns:Name").text("张三"))
            .child(Element::new("ns:Address").text("上海市浦东新区"))
    }

    #[test]
    fn version_namespaces_and_headers() {
        assert_eq!(
            SoapVersion::V11.namespace(),
            "http://schemas.xmlsoap.org/soap/envelope/"
        );
        assert_eq!(SoapVersion::V12.namespace(), "http://www.w3.org/2003/05/soap-envelope");
        assert_eq!(SoapVersion::from_namespace(SOAP12_NAMESPACE), Some(SoapVersion::V12));
        assert_eq!(SoapVersion::from_namespace("urn:other"), None);

        assert_eq!(
            SoapVersion::V11.content_type(Some("urn:Create")),
            "text/xml; charset=utf-8"
        );
        assert_eq!(
            SoapVersion::V12.content_type(None),
            "application/soap+xml; charset=utf-8"
        );
        assert_eq!(
            SoapVersion::V12.content_type(Some("urn:Create")),
            "application/soap+xml; charset=utf-8; action=\"urn:Create\""
        );
        assert_eq!(
            SoapVersion::V11.soap_action_header(Some("urn:Create")),
            Some(("SOAPAction", "\"urn:Create\"".to_owned()))
        );
        assert_eq!(
            SoapVersion::V11.soap_action_header(None),
            Some(("SOAPAction", "\"\"".to_owned()))
        );
        assert_eq!(SoapVersion::V12.soap_action_header(Some("urn:Create")), None);
        assert_eq!(
            SoapVersion::V11.soap_action_header(Some("a\"b")),
            Some(("SOAPAction", "\"a\\\"b\"".to_owned()))
        );

        let headers = SoapVersion::V11.headers(Some("urn:Create"));
        assert_eq!(
            headers,
            vec![
                ("Content-Type".to_owned(), "text/xml; charset=utf-8".to_owned()),
                ("SOAPAction".to_owned(), "\"urn:Create\"".to_owned()),
            ]
        );
        assert_eq!(SoapVersion::V12.headers(None).len(), 1);
    }

    #[test]
    fn builds_a_soap11_envelope_exactly() {
        let xml = Envelope::new(SoapVersion::V11)
            .namespace("ns", "urn:example:booking")
            .body(booking())
            .to_xml();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns=\"urn:example:booking\">\
             <soap:Body><ns:CreateBooking channel=\"web\"><ns:Name>张三</ns:Name>\
             <ns:Address>上海市浦东新区</ns:Address></ns:CreateBooking></soap:Body></soap:Envelope>"
        );
    }

    #[test]
    fn soap11_envelope_parses_back() {
        let xml = Envelope::new(SoapVersion::V11)
            .namespace("ns", "urn:example:booking")
            .body(booking())
            .to_xml();
        let body = body_of(&xml);
        assert_eq!(body.name, "CreateBooking");
        assert_eq!(body.namespace.as_deref(), Some("urn:example:booking"));
        assert_eq!(body.attr("channel"), Some("web"));
        assert_eq!(body.text_of(&["Name"]), Some("张三"));
        assert_eq!(body.text_of(&["Address"]), Some("上海市浦东新区"));
    }

    #[test]
    fn builds_a_soap12_envelope_with_header_and_parses_back() {
        let xml = Envelope::new(SoapVersion::V12)
            .namespace("ns", "urn:example:booking")
            .namespace("wsa", "http://www.w3.org/2005/08/addressing")
            .header_xml("<wsa:Action>urn:Create</wsa:Action>")
            .header(Element::new("wsa:MessageID").text("urn:uuid:1"))
            .body(booking())
            .to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(xml.contains("xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\""));
        assert!(xml.contains(
            "<soap:Header><wsa:Action>urn:Create</wsa:Action><wsa:MessageID>urn:uuid:1</wsa:MessageID></soap:Header>"
        ));
        assert!(xml.contains("<soap:Body><ns:CreateBooking"));
        let body = body_of(&xml);
        assert_eq!(body.name, "CreateBooking");
        assert_eq!(body.text_of(&["Name"]), Some("张三"));
    }

    #[test]
    fn envelope_without_body_content_and_default_namespace() {
        let xml = Envelope::new(SoapVersion::V11).to_xml();
        assert!(xml.ends_with("<soap:Body/></soap:Envelope>"));
        assert_eq!(parse_response(xml.as_bytes()), Ok(SoapResponse::Empty));

        let xml = Envelope::new(SoapVersion::V11)
            .namespace("", "urn:default")
            .namespace("soap", "urn:ignored")
            .namespace("x", "urn:first")
            .namespace("x", "urn:second")
            .body(Element::new("Ping"))
            .to_xml();
        assert!(xml.contains(" xmlns=\"urn:default\""));
        assert!(!xml.contains("urn:ignored"));
        assert!(!xml.contains("urn:first"));
        assert!(xml.contains(" xmlns:x=\"urn:second\""));
        let body = body_of(&xml);
        assert_eq!(body.name, "Ping");
        assert_eq!(body.namespace.as_deref(), Some("urn:default"));
    }

    #[test]
    fn body_xml_is_inserted_as_is() {
        let raw = "<ns:Ping xmlns:ns=\"urn:x\"><ns:At>2024-01-01</ns:At></ns:Ping>";
        let xml = Envelope::new(SoapVersion::V11).body_xml(raw).to_xml();
        assert!(xml.contains(&format!("<soap:Body>{raw}</soap:Body>")));
        assert_eq!(body_of(&xml).text_of(&["At"]), Some("2024-01-01"));
    }

    #[test]
    fn escapes_text_and_attributes() {
        let element = Element::new("a").attr("q", "<&>\"' 张三\n\t").text("<&>\"' 上海\r\n");
        assert_eq!(
            element.to_xml(),
            "<a q=\"&lt;&amp;&gt;&quot;&apos; 张三&#10;&#9;\">&lt;&amp;&gt;&quot;&apos; 上海&#13;\n</a>"
        );
        let xml = Envelope::new(SoapVersion::V11).body(element).to_xml();
        let body = body_of(&xml);
        assert_eq!(body.attr("q"), Some("<&>\"' 张三\n\t"));
        assert_eq!(body.text, "<&>\"' 上海\r\n");
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        let element = Element::new("a").text("x\u{0}y\u{1b}z\u{FFFE}");
        assert_eq!(element.to_xml(), "<a>x\u{FFFD}y\u{FFFD}z\u{FFFD}</a>");
    }

    #[test]
    fn element_builder_details() {
        let optional: Option<Element> = None;
        let element = Element::new("ns:Order")
            .attr("k", "1")
            .attr("k", "2")
            .text("a")
            .child(Element::new("ns:B"))
            .leaf("ns:L", "张三")
            .children(optional)
            .children(Some(Element::new("ns:C").text("c")))
            .raw_xml("<ns:D/>")
            .text("z");
        assert_eq!(
            element.to_xml(),
            "<ns:Order k=\"2\">a<ns:B/><ns:L>张三</ns:L><ns:C>c</ns:C><ns:D/>z</ns:Order>"
        );
    }

    const RESPONSE_BODY: &str = r#"<m:CreateBookingResponse xmlns:m="urn:example:booking">
        <m:BookingResult status="OK">
          <m:BookingNo>BK-2024-001</m:BookingNo>
          <m:Consignee>张三</m:Consignee>
          <m:Line>1</m:Line><m:Line>2</m:Line>
        </m:BookingResult>
      </m:CreateBookingResponse>"#;

    fn check_response_body(body: &BodyElement) {
        assert_eq!(body.name, "CreateBookingResponse");
        assert_eq!(body.namespace.as_deref(), Some("urn:example:booking"));
        assert_eq!(body.text, "");
        assert_eq!(body.text_of(&["BookingResult", "BookingNo"]), Some("BK-2024-001"));
        assert_eq!(body.text_of(&["BookingResult", "Consignee"]), Some("张三"));
        assert_eq!(body.path(&["BookingResult"]).and_then(|r| r.attr("status")), Some("OK"));
        assert_eq!(body.path(&["BookingResult", "Missing"]), None);
        assert_eq!(body.path(&[]), Some(body));
        let lines: Vec<&str> = body
            .child("BookingResult")
            .map(|result| result.children_named("Line").map(|line| line.text.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(lines, vec!["1", "2"]);
    }

    #[test]
    fn reads_bodies_whatever_the_prefix() {
        for (prefix, namespace) in [
            ("soap", SOAP11_NAMESPACE),
            ("SOAP-ENV", SOAP11_NAMESPACE),
            ("s", SOAP11_NAMESPACE),
            ("env", SOAP12_NAMESPACE),
            ("soap12", SOAP12_NAMESPACE),
        ] {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{prefix}:Envelope xmlns:{prefix}=\"{namespace}\">\
                 <{prefix}:Header><h:Trace xmlns:h=\"urn:h\">1</h:Trace></{prefix}:Header>\n\
                 <{prefix}:Body>{RESPONSE_BODY}</{prefix}:Body></{prefix}:Envelope>"
            );
            check_response_body(&body_of(&xml));
        }
    }

    #[test]
    fn reads_default_namespace_envelopes() {
        for namespace in [SOAP11_NAMESPACE, SOAP12_NAMESPACE] {
            let xml = format!("<Envelope xmlns=\"{namespace}\"><Body>{RESPONSE_BODY}</Body></Envelope>");
            check_response_body(&body_of(&xml));
        }
        // Body content in the envelope's default namespace keeps that namespace.
        let xml = format!("<Envelope xmlns=\"{SOAP11_NAMESPACE}\"><Body><Pong/></Body></Envelope>");
        assert_eq!(body_of(&xml).namespace.as_deref(), Some(SOAP11_NAMESPACE));
    }

    #[test]
    fn reads_entities_cdata_and_a_byte_order_mark() {
        let xml = format!(
            "\u{FEFF}<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body><r>A &amp; B &#x5F20;&#19977; <![CDATA[<上海>]]></r></s:Body></s:Envelope>"
        );
        assert_eq!(body_of(&xml).text, "A & B 张三 <上海>");
    }

    #[test]
    fn soap11_fault_with_detail() {
        let xml = format!(
            r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP11_NAMESPACE}">
              <SOAP-ENV:Body>
                <SOAP-ENV:Fault>
                  <faultcode>SOAP-ENV:Client</faultcode>
                  <faultstring xml:lang="zh">收货人 张三 的地址无效</faultstring>
                  <faultactor>urn:booking</faultactor>
                  <detail><e:Error xmlns:e="urn:err"><e:Code>E042</e:Code></e:Error></detail>
                </SOAP-ENV:Fault>
              </SOAP-ENV:Body>
            </SOAP-ENV:Envelope>"#
        );
        let fault = fault_of(&xml);
        assert_eq!(fault.version, SoapVersion::V11);
        assert_eq!(fault.code, "SOAP-ENV:Client");
        assert_eq!(fault.code_local_name(), "Client");
        assert_eq!(fault.subcode, None);
        assert_eq!(fault.reason, "收货人 张三 的地址无效");
        assert_eq!(fault.actor.as_deref(), Some("urn:booking"));
        assert_eq!(
            fault.detail_xml.as_deref(),
            Some("<e:Error xmlns:e=\"urn:err\"><e:Code>E042</e:Code></e:Error>")
        );
        assert_eq!(
            fault.detail.as_ref().and_then(|d| d.text_of(&["Error", "Code"])),
            Some("E042")
        );
        assert!(fault.is_client_fault());
        assert!(!fault.is_server_fault());
        assert_eq!(
            fault.to_string(),
            "SOAP 1.1 fault SOAP-ENV:Client: 收货人 张三 的地址无效 [at urn:booking]"
        );
    }

    #[test]
    fn soap11_server_fault_without_detail() {
        let xml = format!(
            "<soap:Envelope xmlns:soap=\"{SOAP11_NAMESPACE}\"><soap:Body><soap:Fault>\
             <faultcode>soap:Server.Database</faultcode><faultstring>busy</faultstring>\
             </soap:Fault></soap:Body></soap:Envelope>"
        );
        let fault = fault_of(&xml);
        assert!(!fault.is_client_fault());
        assert!(fault.is_server_fault());
        assert_eq!(fault.actor, None);
        assert_eq!(fault.detail_xml, None);
        assert_eq!(fault.detail, None);

        let client = xml.replace("soap:Server.Database", "Client.Authentication");
        assert!(fault_of(&client).is_client_fault());
    }

    #[test]
    fn soap12_fault_with_subcode_and_detail() {
        let xml = format!(
            r#"<env:Envelope xmlns:env="{SOAP12_NAMESPACE}" xmlns:m="urn:booking">
              <env:Body>
                <env:Fault>
                  <env:Code>
                    <env:Value>env:Sender</env:Value>
                    <env:Subcode><env:Value>m:InvalidAddress</env:Value></env:Subcode>
                  </env:Code>
                  <env:Reason>
                    <env:Text xml:lang="zh-CN">地址无效：上海市浦东新区</env:Text>
                    <env:Text xml:lang="en">Invalid address</env:Text>
                  </env:Reason>
                  <env:Node>urn:booking:node</env:Node>
                  <env:Detail>
                    <m:Field>Address</m:Field>
                  </env:Detail>
                </env:Fault>
              </env:Body>
            </env:Envelope>"#
        );
        let fault = fault_of(&xml);
        assert_eq!(fault.version, SoapVersion::V12);
        assert_eq!(fault.code, "env:Sender");
        assert_eq!(fault.subcode.as_deref(), Some("m:InvalidAddress"));
        assert_eq!(fault.reason, "地址无效：上海市浦东新区");
        assert_eq!(fault.actor.as_deref(), Some("urn:booking:node"));
        assert_eq!(fault.detail_xml.as_deref(), Some("<m:Field>Address</m:Field>"));
        assert_eq!(
            fault.detail.as_ref().and_then(|d| d.text_of(&["Field"])),
            Some("Address")
        );
        assert!(fault.is_client_fault());
        assert!(
            fault
                .to_string()
                .starts_with("SOAP 1.2 fault env:Sender (m:InvalidAddress): 地址无效")
        );

        let receiver = xml.replace("env:Sender", "env:Receiver");
        let fault = fault_of(&receiver);
        assert!(!fault.is_client_fault());
        assert!(fault.is_server_fault());
    }

    #[test]
    fn fault_in_default_namespace_envelope() {
        let xml = format!(
            "<Envelope xmlns=\"{SOAP12_NAMESPACE}\"><Body><Fault><Code><Value>Receiver</Value></Code>\
             <Reason><Text>down</Text></Reason><Detail/></Fault></Body></Envelope>"
        );
        let fault = fault_of(&xml);
        assert_eq!(fault.code, "Receiver");
        assert_eq!(fault.reason, "down");
        assert_eq!(fault.detail_xml, None);
        assert!(fault.detail.is_some());
    }

    #[test]
    fn a_fault_element_in_another_namespace_is_a_body() {
        let xml = format!(
            "<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body><m:Fault xmlns:m=\"urn:m\">x</m:Fault></s:Body></s:Envelope>"
        );
        assert_eq!(body_of(&xml).name, "Fault");
    }

    #[test]
    fn malformed_inputs() {
        assert!(matches!(parse_response(b"not xml <"), Err(SoapError::NotXml { .. })));
        let mismatched = format!("<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body></s:Bod></s:Envelope>");
        match parse_response(mismatched.as_bytes()) {
            Err(SoapError::NotXml { position, message }) => {
                assert!(position > 0, "{position}");
                assert!(!message.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let unclosed = format!("<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body>");
        assert!(matches!(
            parse_response(unclosed.as_bytes()),
            Err(SoapError::NotXml { .. })
        ));
        assert!(matches!(parse_response(b"<a/><b/>"), Err(SoapError::NotXml { .. })));
        assert!(matches!(
            parse_response(b"<a>&bogus;</a>"),
            Err(SoapError::NotXml { .. })
        ));
        assert_eq!(parse_response(b""), Err(SoapError::NoEnvelope { root: None }));
        assert_eq!(
            parse_response(b"  <!-- x -->  "),
            Err(SoapError::NoEnvelope { root: None })
        );
        assert_eq!(
            parse_response(b"<html><body>502 Bad Gateway</body></html>"),
            Err(SoapError::NoEnvelope {
                root: Some("html".to_owned())
            })
        );
        assert_eq!(
            parse_response(b"<Envelope><Body/></Envelope>"),
            Err(SoapError::UnknownEnvelopeNamespace { namespace: None })
        );
        assert_eq!(
            parse_response(b"<e:Envelope xmlns:e=\"urn:not-soap\"><e:Body/></e:Envelope>"),
            Err(SoapError::UnknownEnvelopeNamespace {
                namespace: Some("urn:not-soap".to_owned())
            })
        );
        let no_body = format!("<s:Envelope xmlns:s=\"{SOAP12_NAMESPACE}\"><s:Header/></s:Envelope>");
        assert_eq!(
            parse_response(no_body.as_bytes()),
            Err(SoapError::NoBody {
                version: SoapVersion::V12
            })
        );
        // A Body in another namespace is not the SOAP Body.
        let foreign_body = format!("<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><Body/></s:Envelope>");
        assert_eq!(
            parse_response(foreign_body.as_bytes()),
            Err(SoapError::NoBody {
                version: SoapVersion::V11
            })
        );
        assert_eq!(parse_response(b"<a>\xff</a>"), Err(SoapError::NotUtf8 { position: 3 }));
        let doctype = "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>";
        assert!(matches!(
            parse_response(doctype.as_bytes()),
            Err(SoapError::DocumentType { .. })
        ));
    }

    /// The "billion laughs" entity expansion: refused at the DOCTYPE, before
    /// a single entity is expanded, whatever the envelope's prefix.
    #[test]
    fn refuses_entity_expansion_bombs() {
        let mut entities = String::from("<!ENTITY lol0 \"lol\">");
        for level in 1..10 {
            let previous = format!("&lol{};", level - 1);
            entities.push_str(&format!("<!ENTITY lol{level} \"{}\">", previous.repeat(10)));
        }
        for (prefix, namespace) in [("soap", SOAP11_NAMESPACE), ("env", SOAP12_NAMESPACE)] {
            let xml = format!(
                "<?xml version=\"1.0\"?><!DOCTYPE {prefix}:Envelope [{entities}]>\
                 <{prefix}:Envelope xmlns:{prefix}=\"{namespace}\"><{prefix}:Body><r>&lol9;</r></{prefix}:Body></{prefix}:Envelope>"
            );
            match parse_response(xml.as_bytes()) {
                Err(error @ SoapError::DocumentType { .. }) => {
                    assert!(error.to_string().contains("DOCTYPE"), "{error}");
                }
                other => panic!("expected the DOCTYPE to be refused, got {other:?}"),
            }
        }
    }

    /// External entities (XXE: reading local files, SSRF): refused at the
    /// DOCTYPE; without a DOCTYPE an undeclared entity is an error, never a
    /// lookup.
    #[test]
    fn refuses_external_entities() {
        for system in ["file:///etc/passwd", "http://127.0.0.1:9/steal"] {
            let xml = format!(
                "<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM \"{system}\">]>\
                 <s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body><r>&xxe;</r></s:Body></s:Envelope>"
            );
            assert!(
                matches!(parse_response(xml.as_bytes()), Err(SoapError::DocumentType { .. })),
                "{system}"
            );
        }
        let parameter_entity = format!(
            "<!DOCTYPE x [<!ENTITY % remote SYSTEM \"http://127.0.0.1:9/x.dtd\"> %remote;]>\
             <s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body/></s:Envelope>"
        );
        assert!(matches!(
            parse_response(parameter_entity.as_bytes()),
            Err(SoapError::DocumentType { .. })
        ));
        let undeclared =
            format!("<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body><r>&xxe;</r></s:Body></s:Envelope>");
        match parse_response(undeclared.as_bytes()) {
            Err(SoapError::NotXml { message, .. }) => assert!(message.contains("xxe"), "{message}"),
            other => panic!("expected an unknown-entity error, got {other:?}"),
        }
    }

    #[test]
    fn refuses_deep_documents() {
        let inner_levels = MAX_DEPTH - 2; // Envelope and Body take two levels.
        let open: String = (0..inner_levels).map(|_| "<a>").collect();
        let close: String = (0..inner_levels).map(|_| "</a>").collect();
        let at_limit =
            format!("<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body>{open}{close}</s:Body></s:Envelope>");
        assert!(matches!(parse_response(at_limit.as_bytes()), Ok(SoapResponse::Body(_))));

        let too_deep =
            format!("<s:Envelope xmlns:s=\"{SOAP11_NAMESPACE}\"><s:Body>{open}<a/>{close}</s:Body></s:Envelope>");
        assert!(matches!(
            parse_response(too_deep.as_bytes()),
            Err(SoapError::TooDeep { limit: MAX_DEPTH, .. })
        ));
    }

    #[test]
    fn refuses_large_documents() {
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(
            parse_response(&big),
            Err(SoapError::TooLarge {
                size: MAX_DOCUMENT_BYTES + 1,
                limit: MAX_DOCUMENT_BYTES
            })
        );
    }

    #[test]
    fn errors_read_well() {
        let error = SoapError::NoBody {
            version: SoapVersion::V11,
        };
        assert_eq!(error.to_string(), "SOAP 1.1 Envelope has no Body");
        let error: Box<dyn std::error::Error> = Box::new(SoapError::TooDeep {
            limit: 64,
            position: 10,
        });
        assert!(error.to_string().contains("64"));
    }
}
