//! A small, bounded XML reader for the service desk's answer files.
//!
//! The SDK's SOAP reader only accepts SOAP envelopes, and the answers here
//! are plain documents, so this module reads any UTF-8 XML document into a
//! tree of elements with local names (prefixes dropped: the desk's tools
//! may add one). It is deliberately strict and small:
//! - a `<!DOCTYPE …>` is refused (entity-expansion attacks; no answer needs
//!   a DTD), and only the five predefined entities and character references
//!   are resolved;
//! - input size and nesting depth are bounded, so a hostile file cannot
//!   exhaust the plugin's small stack and memory;
//! - every error names the line and column (counted in characters, from 1)
//!   where the reader stopped, because the person fixing the desk's export
//!   opens the file in an editor, not a hex viewer.

use std::fmt;

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// The deepest nesting accepted; answers are three levels deep.
pub const MAX_DEPTH: usize = 32;
/// The largest document accepted (the hub's default message limit).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// A place in the document, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The line and column of byte `offset` in `source`.
    fn of(source: &str, offset: u64) -> Position {
        let offset = usize::try_from(offset).map_or(source.len(), |offset| offset.min(source.len()));
        let mut cut = offset;
        while !source.is_char_boundary(cut) {
            cut -= 1;
        }
        let before = source.get(..cut).unwrap_or(source);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before.get(line_start..).map_or(0, |text| text.chars().count()) + 1;
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    TooLarge { size: usize },
    NotUtf8 { position: Position },
    NotXml { position: Position, message: String },
    DocumentType { position: Position },
    TooDeep { position: Position },
    NoRoot,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::TooLarge { size } => write!(
                f,
                "the document has {size} bytes, more than the {MAX_DOCUMENT_BYTES}-byte limit"
            ),
            XmlError::NotUtf8 { position } => write!(f, "not UTF-8 at {position} (only UTF-8 is accepted)"),
            XmlError::NotXml { position, message } => write!(f, "not well-formed XML at {position}: {message}"),
            XmlError::DocumentType { position } => {
                write!(f, "a DOCTYPE at {position} is refused (answers must not carry a DTD)")
            }
            XmlError::TooDeep { position } => write!(f, "elements nest deeper than {MAX_DEPTH} levels at {position}"),
            XmlError::NoRoot => write!(f, "the document has no root element"),
        }
    }
}

impl std::error::Error for XmlError {}

/// An element: local name, attributes by local name, its own text
/// (entities resolved, CDATA included, verbatim) and children in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlElement {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<XmlElement>,
    /// Where the start tag begins.
    pub position: Position,
}

impl XmlElement {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|child| child.name == name)
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Read a whole document (a UTF-8 BOM is allowed) into its root element.
pub fn parse(bytes: &[u8]) -> Result<XmlElement, XmlError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(XmlError::TooLarge { size: bytes.len() });
    }
    let source = match std::str::from_utf8(bytes) {
        Ok(source) => source,
        Err(error) => {
            let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            return Err(XmlError::NotUtf8 {
                position: Position::of(valid, u64::MAX),
            });
        }
    };
    let source = source.strip_prefix('\u{FEFF}').unwrap_or(source);
    let at = |offset: u64| Position::of(source, offset);
    let not_xml = |offset: u64, message: String| XmlError::NotXml {
        position: at(offset),
        message,
    };

    let mut reader = Reader::from_str(source);
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    loop {
        let before = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|error| not_xml(reader.error_position(), error.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep { position: at(before) });
                }
                stack.push(new_element(&start, at(before)).map_err(|message| not_xml(before, message))?);
            }
            Event::Empty(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep { position: at(before) });
                }
                let element = new_element(&start, at(before)).map_err(|message| not_xml(before, message))?;
                attach(&mut stack, &mut root, element).map_err(|message| not_xml(before, message))?;
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| not_xml(before, "an end tag without a start tag".to_owned()))?;
                attach(&mut stack, &mut root, element).map_err(|message| not_xml(before, message))?;
            }
            Event::Text(text) => {
                let text = text
                    .xml10_content()
                    .map_err(|error| not_xml(before, error.to_string()))?;
                push_text(&mut stack, &text).map_err(|message| not_xml(before, message))?;
            }
            Event::CData(data) => {
                let text = data
                    .xml10_content()
                    .map_err(|error| not_xml(before, error.to_string()))?;
                push_text(&mut stack, &text).map_err(|message| not_xml(before, message))?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.decode().map_err(|error| not_xml(before, error.to_string()))?;
                        resolve_xml_entity(&name)
                            .map(str::to_owned)
                            .ok_or_else(|| not_xml(before, format!("unknown entity &{name};")))?
                    }
                    Err(error) => return Err(not_xml(before, error.to_string())),
                };
                push_text(&mut stack, &resolved).map_err(|message| not_xml(before, message))?;
            }
            Event::DocType(_) => return Err(XmlError::DocumentType { position: at(before) }),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(not_xml(
                        u64::try_from(source.len()).unwrap_or(u64::MAX),
                        format!("the document ends inside <{}> (opened at {})", open.name, open.position),
                    ));
                }
                return root.ok_or(XmlError::NoRoot);
            }
        }
    }
}

fn new_element(start: &BytesStart<'_>, position: Position) -> Result<XmlElement, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| error.to_string())?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|error| error.to_string())?;
        let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
        attributes.push((key, value.into_owned()));
    }
    Ok(XmlElement {
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        attributes,
        text: String::new(),
        children: Vec::new(),
        position,
    })
}

fn attach(stack: &mut [XmlElement], root: &mut Option<XmlElement>, element: XmlElement) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_some() => return Err(format!("a second root element <{}>", element.name)),
        None => *root = Some(element),
    }
    Ok(())
}

fn push_text(stack: &mut [XmlElement], text: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err("text outside the root element".to_owned()),
    }
    Ok(())
}
