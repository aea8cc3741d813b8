//! Record formats for file drops: CSV and fixed-width lines.
//!
//! OPS that take orders as files (FTP/SFTP drops) are strict about details
//! that are easy to get subtly wrong: CSV fields with commas, quotes or line
//! breaks in them (addresses!), CRLF line ends, the UTF-8 byte order mark many
//! Windows programs need to recognise UTF-8 at all, and fixed-width layouts
//! where a Chinese character takes two columns. A value that silently lost its
//! last characters is worse than a refused order, so nothing here truncates:
//! a value that does not fit is an error naming the field.
//!
//! CSV goes through the `csv` crate; the fixed-width code and its display
//! width rule ([`display_width`]) are here.
//!
//! ```
//! use hub_plugin_sdk::records::{csv_document, CsvOptions};
//!
//! let bytes = csv_document(
//!     &["order", "consignee", "address"],
//!     vec![vec!["A-1".to_owned(), "张三".to_owned(), "上海市浦东新区, 1号".to_owned()]],
//!     CsvOptions { bom: true, ..CsvOptions::default() },
//! )?;
//! assert!(bytes.starts_with(b"\xEF\xBB\xBForder,consignee,address\r\n"));
//! # Ok::<(), hub_plugin_sdk::records::RecordError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The UTF-8 byte order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What ends a line (or CSV record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LineTerminator {
    /// `\r\n`, what most Windows-based OPS expect (and RFC 4180).
    #[default]
    Crlf,
    /// `\n`.
    Lf,
}

impl LineTerminator {
    pub fn as_str(self) -> &'static str {
        match self {
            LineTerminator::Crlf => "\r\n",
            LineTerminator::Lf => "\n",
        }
    }
}

/// How a CSV document is written and read.
///
/// Reading ignores `terminator` (both line ends are accepted) and `bom` (a
/// BOM is stripped whenever present).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CsvOptions {
    /// Field separator, an ASCII byte other than `"`, CR and LF. Default `,`.
    pub delimiter: u8,
    /// Default CRLF.
    pub terminator: LineTerminator,
    /// Start the document with a UTF-8 BOM. Default off; turn it on for OPS
    /// that open files with Excel or other Windows tools, which otherwise read
    /// UTF-8 as the local code page and garble Chinese text.
    pub bom: bool,
}

impl Default for CsvOptions {
    fn default() -> CsvOptions {
        CsvOptions {
            delimiter: b',',
            terminator: LineTerminator::Crlf,
            bom: false,
        }
    }
}

impl CsvOptions {
    fn check(&self) -> Result<(), RecordError> {
        if !self.delimiter.is_ascii() || matches!(self.delimiter, b'"' | b'\r' | b'\n') {
            return Err(RecordError::InvalidDelimiter(self.delimiter));
        }
        Ok(())
    }

    fn writer(&self) -> Result<csv::Writer<Vec<u8>>, RecordError> {
        self.check()?;
        let mut buffer = Vec::new();
        if self.bom {
            buffer.extend_from_slice(UTF8_BOM);
        }
        let terminator = match self.terminator {
            LineTerminator::Crlf => csv::Terminator::CRLF,
            LineTerminator::Lf => csv::Terminator::Any(b'\n'),
        };
        Ok(csv::WriterBuilder::new()
            .delimiter(self.delimiter)
            .terminator(terminator)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(buffer))
    }

    fn reader<'a>(&self, bytes: &'a [u8]) -> Result<csv::Reader<&'a [u8]>, RecordError> {
        self.check()?;
        Ok(csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(false)
            .flexible(false)
            .from_reader(bytes))
    }
}

/// Why a record could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The CSV delimiter is not an ASCII byte, or is `"`, CR or LF.
    InvalidDelimiter(u8),
    /// A CSV document needs at least one column.
    NoColumns,
    /// The CSV input has no header row.
    NoHeader,
    /// Two CSV columns have the same header.
    DuplicateHeader { name: String },
    /// A row to write has a different number of fields than the header
    /// (`row` counts data rows from 1).
    RowLength { row: usize, expected: usize, found: usize },
    /// A CSV line has a different number of fields than the header
    /// (`line` counts lines from 1, the header being line 1).
    MalformedLine { line: u64, expected: u64, found: u64 },
    /// CSV input that is not UTF-8, at this 1-based line when known.
    NotUtf8 { line: Option<u64> },
    /// Any other CSV failure (serializing a type CSV cannot hold, reading a
    /// field into the wrong type), at this 1-based line when known.
    Csv { line: Option<u64>, message: String },
    /// A fixed-width field definition that cannot work.
    InvalidField { field: String, reason: &'static str },
    /// A fixed-width record was given the wrong number of values.
    ValueCount { expected: usize, found: usize },
    /// A value is wider than its fixed-width field. Values are never
    /// truncated. The value itself is left out of the message: it is often a
    /// name or an address, which does not belong in logs.
    TooWide {
        field: String,
        width: usize,
        value_width: usize,
    },
    /// A value contains a control character (a line break would split the
    /// record).
    ControlCharacter { field: String },
    /// A fixed-width line is not as wide as the layout.
    LineWidth { expected: usize, found: usize },
    /// A double-width character starting at this 1-based column straddles
    /// the end of `field`: the line does not follow the layout.
    SplitCharacter { field: String, column: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::InvalidDelimiter(byte) => write!(
                f,
                "CSV delimiter 0x{byte:02X} is not usable: it must be an ASCII byte other than '\"', CR and LF"
            ),
            RecordError::NoColumns => write!(f, "a CSV document needs at least one column"),
            RecordError::NoHeader => write!(f, "CSV input has no header row"),
            RecordError::DuplicateHeader { name } => write!(f, "CSV header has column {name:?} twice"),
            RecordError::RowLength { row, expected, found } => write!(
                f,
                "CSV row {row} has {found} fields but the header has {expected} columns"
            ),
            RecordError::MalformedLine { line, expected, found } => write!(
                f,
                "CSV line {line} has {found} fields but the header has {expected} columns"
            ),
            RecordError::NotUtf8 { line: Some(line) } => write!(f, "CSV line {line} is not UTF-8"),
            RecordError::NotUtf8 { line: None } => write!(f, "CSV input is not UTF-8"),
            RecordError::Csv {
                line: Some(line),
                message,
            } => write!(f, "CSV line {line}: {message}"),
            RecordError::Csv { line: None, message } => write!(f, "CSV: {message}"),
            RecordError::InvalidField { field, reason } => write!(f, "fixed-width field {field:?}: {reason}"),
            RecordError::ValueCount { expected, found } => {
                write!(f, "fixed-width record needs {expected} values, got {found}")
            }
            RecordError::TooWide {
                field,
                width,
                value_width,
            } => write!(
                f,
                "value for fixed-width field {field:?} is {value_width} columns wide but the field has {width} \
                 (values are never truncated)"
            ),
            RecordError::ControlCharacter { field } => write!(
                f,
                "value for fixed-width field {field:?} contains a control character (line break, tab, …)"
            ),
            RecordError::LineWidth { expected, found } => write!(
                f,
                "fixed-width line is {found} columns wide but the layout has {expected}"
            ),
            RecordError::SplitCharacter { field, column } => write!(
                f,
                "fixed-width line has a double-width character across the end of field {field:?} at column {column}"
            ),
        }
    }
}

impl std::error::Error for RecordError {}

/// A writing error (reading errors get their line numbers in [`read_csv`]).
fn from_csv(error: csv::Error) -> RecordError {
    RecordError::Csv {
        line: None,
        message: error.to_string(),
    }
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, RecordError> {
    writer.into_inner().map_err(|error| RecordError::Csv {
        line: None,
        message: error.error().to_string(),
    })
}

/// Write a CSV document: the header row, then `rows`, each with exactly one
/// field per header. Fields are quoted only when needed (delimiter, quote,
/// CR or LF inside); quotes are doubled.
pub fn csv_document(
    headers: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
    options: CsvOptions,
) -> Result<Vec<u8>, RecordError> {
    if headers.is_empty() {
        return Err(RecordError::NoColumns);
    }
    let mut writer = options.writer()?;
    writer.write_record(headers).map_err(from_csv)?;
    for (index, row) in rows.into_iter().enumerate() {
        if row.len() != headers.len() {
            return Err(RecordError::RowLength {
                row: index + 1,
                expected: headers.len(),
                found: row.len(),
            });
        }
        writer.write_record(&row).map_err(from_csv)?;
    }
    finish(writer)
}

/// Write a CSV document from serializable records (flat structs: the field
/// names become the header). An empty slice gives an empty document (plus
/// the BOM if asked for): without a record there is nothing to take the
/// header from.
pub fn csv_from_records<T: Serialize>(records: &[T], options: CsvOptions) -> Result<Vec<u8>, RecordError> {
    let mut writer = options.writer()?;
    for record in records {
        writer.serialize(record).map_err(from_csv)?;
    }
    finish(writer)
}

/// Read a CSV document with a header row into one map per line, keyed by
/// header. A BOM is stripped; empty lines are skipped; a line with the wrong
/// number of fields is an error with its 1-based line number.
pub fn csv_rows(bytes: &[u8], options: CsvOptions) -> Result<Vec<BTreeMap<String, String>>, RecordError> {
    let (headers, records) = read_csv(bytes, options)?;
    Ok(records
        .iter()
        .map(|(_, record)| {
            headers
                .iter()
                .zip(record.iter())
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
        .collect())
}

/// Read a CSV document with a header row into deserializable records
/// (fields matched by header name). A BOM is stripped; errors carry the
/// 1-based line number and the column.
pub fn csv_records<T: DeserializeOwned>(bytes: &[u8], options: CsvOptions) -> Result<Vec<T>, RecordError> {
    let (headers, records) = read_csv(bytes, options)?;
    records
        .iter()
        .map(|(line, record)| {
            record.deserialize::<T>(Some(&headers)).map_err(|error| {
                let message = match error.kind() {
                    csv::ErrorKind::Deserialize { err, .. } => {
                        let column = err
                            .field()
                            .and_then(|index| usize::try_from(index).ok())
                            .and_then(|index| headers.get(index));
                        match column {
                            Some(column) => format!("column {column:?}: {}", err.kind()),
                            None => err.kind().to_string(),
                        }
                    }
                    _ => error.to_string(),
                };
                RecordError::Csv {
                    line: Some(*line),
                    message,
                }
            })
        })
        .collect()
}

/// The header and every record with the 1-based line it starts on.
///
/// Line numbers are computed here from byte offsets: the `csv` crate's own
/// `Position::line` is one short after CRLF line ends and does not count
/// skipped blank lines, and its UTF-8 errors carry no usable position.
fn read_csv(
    bytes: &[u8],
    options: CsvOptions,
) -> Result<(csv::StringRecord, Vec<(u64, csv::StringRecord)>), RecordError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let mut reader = options.reader(bytes)?;
    let mut headers: Option<csv::StringRecord> = None;
    let mut records = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|error| {
            let line = error.position().map(|position| line_at(bytes, position.byte()));
            match error.kind() {
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => RecordError::MalformedLine {
                    line: line.unwrap_or(0),
                    expected: *expected_len,
                    found: *len,
                },
                _ => RecordError::Csv {
                    line,
                    message: error.to_string(),
                },
            }
        })?;
        if !more {
            break;
        }
        let line = line_at(bytes, record.position().map_or(0, csv::Position::byte));
        let fields = csv::StringRecord::from_byte_record(record.clone())
            .map_err(|_| RecordError::NotUtf8 { line: Some(line) })?;
        match &headers {
            None => {
                for (index, name) in fields.iter().enumerate() {
                    if fields.iter().take(index).any(|earlier| earlier == name) {
                        return Err(RecordError::DuplicateHeader { name: name.to_owned() });
                    }
                }
                headers = Some(fields);
            }
            Some(_) => records.push((line, fields)),
        }
    }
    let headers = headers.ok_or(RecordError::NoHeader)?;
    Ok((headers, records))
}

/// The 1-based line of the record the `csv` reader places at byte `offset`.
/// The reader's offset may sit before the line ends and blank lines that
/// precede the record, so those are skipped first. CRLF, LF and a lone CR
/// each end a line.
fn line_at(bytes: &[u8], offset: u64) -> u64 {
    let mut offset = usize::try_from(offset).map_or(bytes.len(), |offset| offset.min(bytes.len()));
    while matches!(bytes.get(offset), Some(b'\r' | b'\n')) {
        offset += 1;
    }
    let before = bytes.get(..offset).unwrap_or(bytes);
    let mut line = 1;
    for (index, byte) in before.iter().enumerate() {
        match byte {
            b'\n' => line += 1,
            b'\r' if bytes.get(index + 1) != Some(&b'\n') => line += 1,
            _ => {}
        }
    }
    line
}

// ---------------------------------------------------------------------------
// Fixed width
// ---------------------------------------------------------------------------

/// How many columns `c` takes in a fixed-width record: 2 for East Asian Wide
/// and Fullwidth characters, 1 for everything else.
///
/// The wide ranges (a compact approximation of Unicode's East Asian Width
/// property, covering what OPS files actually contain):
///
/// | range | what |
/// |---|---|
/// | U+1100–U+115F | Hangul Jamo initial consonants |
/// | U+2E80–U+A4CF | CJK radicals, punctuation (`。`, `、`, `「」`), kana, CJK ideographs, Yi |
/// | U+AC00–U+D7A3 | Hangul syllables |
/// | U+F900–U+FAFF | CJK compatibility ideographs |
/// | U+FE30–U+FE4F | CJK compatibility forms |
/// | U+FF00–U+FF60 | fullwidth ASCII forms (`，`, `：`, `（`, `Ａ`) |
/// | U+FFE0–U+FFE6 | fullwidth signs (`￥`) |
/// | U+20000–U+3FFFD | CJK ideographs, extensions B and later |
///
/// Combining marks and zero-width characters count 1 like everything else;
/// they do not occur in the data these files carry. For CJK text the result
/// equals the byte count in GBK or Shift_JIS, which is what OPS specifying
/// "bytes" usually mean — but this module writes UTF-8.
pub fn char_width(c: char) -> usize {
    match u32::from(c) {
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// The display width of `text`: the sum of [`char_width`].
pub fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// Which side of a fixed-width field the value sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Align {
    /// Value first, padding after (text).
    Left,
    /// Padding first, value after (numbers, often with `'0'` padding).
    Right,
}

/// One field of a fixed-width record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Used in error messages.
    pub name: String,
    /// In display columns ([`display_width`]).
    pub width: usize,
    pub align: Align,
    /// A single-column, non-control character.
    pub pad: char,
}

impl Field {
    pub fn new(name: impl Into<String>, width: usize, align: Align, pad: char) -> Field {
        Field {
            name: name.into(),
            width,
            align,
            pad,
        }
    }

    /// Left-aligned, padded with spaces.
    pub fn left(name: impl Into<String>, width: usize) -> Field {
        Field::new(name, width, Align::Left, ' ')
    }

    /// Right-aligned with this padding (`'0'` for amounts, `' '` otherwise).
    pub fn right(name: impl Into<String>, width: usize, pad: char) -> Field {
        Field::new(name, width, Align::Right, pad)
    }
}

/// A fixed-width record layout: fields side by side, no separators.
///
/// ```
/// use hub_plugin_sdk::records::{Field, FixedWidthLayout};
///
/// let layout = FixedWidthLayout::new([Field::left("name", 8), Field::right("qty", 5, '0')])?;
/// let line = layout.format(&["张三", "42"])?;
/// assert_eq!(line, "张三    00042");
/// assert_eq!(layout.parse(&line)?, vec!["张三", "42"]);
/// # Ok::<(), hub_plugin_sdk::records::RecordError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedWidthLayout {
    fields: Vec<Field>,
    width: usize,
}

impl FixedWidthLayout {
    /// A layout from its fields, checked: at least one field, every width
    /// above zero, every pad character one column wide and not a control
    /// character.
    pub fn new(fields: impl IntoIterator<Item = Field>) -> Result<FixedWidthLayout, RecordError> {
        let fields: Vec<Field> = fields.into_iter().collect();
        if fields.is_empty() {
            return Err(RecordError::InvalidField {
                field: String::new(),
                reason: "a layout needs at least one field",
            });
        }
        for field in &fields {
            let reason = if field.width == 0 {
                Some("width must be at least 1")
            } else if char_width(field.pad) != 1 || field.pad.is_control() {
                Some("padding must be a single-column, non-control character")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RecordError::InvalidField {
                    field: field.name.clone(),
                    reason,
                });
            }
        }
        let width = fields.iter().map(|field| field.width).sum();
        Ok(FixedWidthLayout { fields, width })
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The width of a whole record in display columns.
    pub fn record_width(&self) -> usize {
        self.width
    }

    /// One record: each value padded to its field's width. A value wider than
    /// its field, or containing a control character, is an error naming the
    /// field. The line has no terminator (see [`lines_to_document`]).
    pub fn format<S: AsRef<str>>(&self, values: &[S]) -> Result<String, RecordError> {
        if values.len() != self.fields.len() {
            return Err(RecordError::ValueCount {
                expected: self.fields.len(),
                found: values.len(),
            });
        }
        let mut line = String::with_capacity(self.width);
        for (field, value) in self.fields.iter().zip(values) {
            let value = value.as_ref();
            if value.chars().any(char::is_control) {
                return Err(RecordError::ControlCharacter {
                    field: field.name.clone(),
                });
            }
            let value_width = display_width(value);
            let Some(padding) = field.width.checked_sub(value_width) else {
                return Err(RecordError::TooWide {
                    field: field.name.clone(),
                    width: field.width,
                    value_width,
                });
            };
            let pad = std::iter::repeat_n(field.pad, padding);
            match field.align {
                Align::Left => {
                    line.push_str(value);
                    line.extend(pad);
                }
                Align::Right => {
                    line.extend(pad);
                    line.push_str(value);
                }
            }
        }
        Ok(line)
    }

    /// Split a line into its field values, padding removed (trailing padding
    /// of left-aligned fields, leading padding of right-aligned ones). A
    /// trailing CR and/or LF is ignored. A right-aligned `'0'`-padded field of
    /// only zeros reads as `"0"` (an amount of zero, not an empty value).
    pub fn parse(&self, line: &str) -> Result<Vec<String>, RecordError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let found = display_width(line);
        if found != self.width {
            return Err(RecordError::LineWidth {
                expected: self.width,
                found,
            });
        }
        let mut values = Vec::with_capacity(self.fields.len());
        let mut chars = line.chars();
        let mut column = 0;
        for field in &self.fields {
            let mut raw = String::new();
            let mut used = 0;
            while used < field.width {
                // The total width matched, so characters cannot run out here.
                let Some(c) = chars.next() else { break };
                if used + char_width(c) > field.width {
                    return Err(RecordError::SplitCharacter {
                        field: field.name.clone(),
                        column: column + 1,
                    });
                }
                used += char_width(c);
                column += char_width(c);
                raw.push(c);
            }
            let value = match field.align {
                Align::Left => raw.trim_end_matches(field.pad),
                Align::Right => raw.trim_start_matches(field.pad),
            };
            let value = if value.is_empty() && field.pad == '0' && field.align == Align::Right {
                "0"
            } else {
                value
            };
            values.push(value.to_owned());
        }
        Ok(values)
    }
}

/// Join lines into a document, each line (the last one too) followed by
/// `terminator`.
pub fn lines_to_document<I, S>(lines: I, terminator: LineTerminator) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut document = String::new();
    for line in lines {
        document.push_str(line.as_ref());
        document.push_str(terminator.as_str());
    }
    document
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn row(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|field| (*field).to_owned()).collect()
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let bytes = csv_document(
            &["id", "consignee", "address", "note"],
            vec![
                row(&["1", "张三", "上海市浦东新区, 世纪大道 1 号", "say \"hi\""]),
                row(&["2", "李四", "北京市\n朝阳区", ""]),
            ],
            CsvOptions::default(),
        )
        .unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            "id,consignee,address,note\r\n\
             1,张三,\"上海市浦东新区, 世纪大道 1 号\",\"say \"\"hi\"\"\"\r\n\
             2,李四,\"北京市\n朝阳区\",\r\n"
        );
        let rows = csv_rows(&bytes, CsvOptions::default()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["consignee"], "张三");
        assert_eq!(rows[0]["address"], "上海市浦东新区, 世纪大道 1 号");
        assert_eq!(rows[0]["note"], "say \"hi\"");
        assert_eq!(rows[1]["address"], "北京市\n朝阳区");
        assert_eq!(rows[1]["note"], "");
    }

    #[test]
    fn csv_options_delimiter_lf_and_bom() {
        let options = CsvOptions {
            delimiter: b';',
            terminator: LineTerminator::Lf,
            bom: true,
        };
        let bytes = csv_document(&["a", "b"], vec![row(&["x;y", "上海"])], options).unwrap();
        assert_eq!(bytes, "\u{FEFF}a;b\n\"x;y\";上海\n".as_bytes());
        let rows = csv_rows(&bytes, options).unwrap();
        assert_eq!(rows[0]["a"], "x;y");
        assert_eq!(rows[0]["b"], "上海");
        assert!(!rows[0].contains_key("\u{FEFF}a"));
    }

    #[test]
    fn csv_reading_strips_a_bom_and_skips_blank_lines() {
        let bytes = b"\xEF\xBB\xBFname,city\r\n\r\n\xE5\xBC\xA0\xE4\xB8\x89,\xE4\xB8\x8A\xE6\xB5\xB7\r\n";
        let rows = csv_rows(bytes, CsvOptions::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["name"], "张三");
        assert_eq!(rows[0]["city"], "上海");
        assert_eq!(csv_rows(b"name\r\n", CsvOptions::default()).unwrap(), vec![]);
    }

    #[test]
    fn csv_malformed_line_has_its_line_number() {
        let bytes = "id,name\r\n1,张三\r\n2,李四,extra\r\n".as_bytes();
        assert_eq!(
            csv_rows(bytes, CsvOptions::default()),
            Err(RecordError::MalformedLine {
                line: 3,
                expected: 2,
                found: 3
            })
        );
        // Quoted line breaks and blank lines count as lines, with either line end.
        for terminator in ["\n", "\r\n", "\r"] {
            let text = "id,name|1,\"a|b\"||2,x||3|".replace('|', terminator);
            match csv_rows(text.as_bytes(), CsvOptions::default()) {
                Err(RecordError::MalformedLine { line, .. }) => assert_eq!(line, 7, "{terminator:?}"),
                other => panic!("{other:?}"),
            }
        }
        match csv_rows(b"\xEF\xBB\xBF\r\nid,name\r\n\r\n1,\xff\r\n", CsvOptions::default()) {
            Err(RecordError::NotUtf8 { line }) => assert_eq!(line, Some(4)),
            other => panic!("{other:?}"),
        }
        let error = csv_rows("id,name\r\n1\r\n".as_bytes(), CsvOptions::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "CSV line 2 has 1 fields but the header has 2 columns"
        );
    }

    #[test]
    fn csv_errors() {
        assert_eq!(csv_rows(b"", CsvOptions::default()), Err(RecordError::NoHeader));
        assert_eq!(
            csv_rows(b"a,b,a\r\n1,2,3\r\n", CsvOptions::default()),
            Err(RecordError::DuplicateHeader { name: "a".to_owned() })
        );
        assert!(matches!(
            csv_rows(b"a,b\r\n1,\xff\r\n", CsvOptions::default()),
            Err(RecordError::NotUtf8 { line: Some(2) })
        ));
        assert_eq!(
            csv_document(&["a", "b"], vec![row(&["1"])], CsvOptions::default()),
            Err(RecordError::RowLength {
                row: 1,
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            csv_document(&[], Vec::<Vec<String>>::new(), CsvOptions::default()),
            Err(RecordError::NoColumns)
        );
        let quote = CsvOptions {
            delimiter: b'"',
            ..CsvOptions::default()
        };
        assert_eq!(
            csv_document(&["a"], Vec::<Vec<String>>::new(), quote),
            Err(RecordError::InvalidDelimiter(b'"'))
        );
        assert_eq!(csv_rows(b"a\n", quote), Err(RecordError::InvalidDelimiter(b'"')));
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Line {
        order: String,
        consignee: String,
        quantity: u32,
    }

    #[test]
    fn csv_serde_round_trip() {
        let records = vec![
            Line {
                order: "A-1".to_owned(),
                consignee: "张三".to_owned(),
                quantity: 2,
            },
            Line {
                order: "A-2".to_owned(),
                consignee: "上海市浦东新区, \"仓库\"".to_owned(),
                quantity: 10,
            },
        ];
        let bytes = csv_from_records(&records, CsvOptions::default()).unwrap();
        assert!(bytes.starts_with(b"order,consignee,quantity\r\nA-1,"));
        let back: Vec<Line> = csv_records(&bytes, CsvOptions::default()).unwrap();
        assert_eq!(back, records);

        let empty: Vec<Line> = Vec::new();
        let bom = CsvOptions {
            bom: true,
            ..CsvOptions::default()
        };
        assert_eq!(csv_from_records(&empty, bom).unwrap(), UTF8_BOM);

        let wrong = "order,consignee,quantity\r\nA-1,张三,many\r\n".as_bytes();
        match csv_records::<Line>(wrong, CsvOptions::default()) {
            Err(RecordError::Csv { line: Some(2), message }) => {
                assert_eq!(message, "column \"quantity\": invalid digit found in string");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn display_widths() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("张三"), 4);
        assert_eq!(display_width("上海市浦东新区"), 14);
        assert_eq!(display_width("ＡＢ，￥"), 8);
        assert_eq!(display_width("한국"), 4);
        assert_eq!(display_width("カナ。"), 6);
        assert_eq!(display_width("𠀀"), 2);
        assert_eq!(display_width("é-1"), 3);
        assert_eq!(char_width('\u{115F}'), 2);
        assert_eq!(char_width('\u{1160}'), 1);
        assert_eq!(char_width('\u{FF61}'), 1); // halfwidth katakana punctuation
    }

    fn layout() -> FixedWidthLayout {
        FixedWidthLayout::new([
            Field::left("order", 6),
            Field::left("consignee", 8),
            Field::left("address", 16),
            Field::right("quantity", 5, '0'),
            Field::right("note", 4, ' '),
        ])
        .unwrap()
    }

    #[test]
    fn fixed_width_formats_and_parses_chinese_values() {
        let layout = layout();
        assert_eq!(layout.record_width(), 39);
        assert_eq!(layout.fields().len(), 5);
        let line = layout.format(&["A-1", "张三", "上海市浦东新区", "42", "x"]).unwrap();
        assert_eq!(line, "A-1   张三    上海市浦东新区  00042   x");
        assert_eq!(display_width(&line), 39);
        assert_eq!(
            layout.parse(&line).unwrap(),
            vec!["A-1", "张三", "上海市浦东新区", "42", "x"]
        );
        let owned = vec![
            "A-2".to_owned(),
            "李四五六".to_owned(),
            String::new(),
            "0".to_owned(),
            String::new(),
        ];
        let line = layout.format(&owned).unwrap();
        assert_eq!(line, "A-2   李四五六                00000    ");
        assert_eq!(layout.parse(&format!("{line}\r\n")).unwrap(), owned);
    }

    #[test]
    fn fixed_width_never_truncates() {
        let layout = layout();
        let error = layout
            .format(&["A-1", "欧阳娜娜", "上海市浦东新区世纪", "1", ""])
            .unwrap_err();
        assert_eq!(
            error,
            RecordError::TooWide {
                field: "address".to_owned(),
                width: 16,
                value_width: 18
            }
        );
        assert_eq!(
            error.to_string(),
            "value for fixed-width field \"address\" is 18 columns wide but the field has 16 (values are never truncated)"
        );
        assert!(matches!(
            layout.format(&["A-1", "张三丰李", "", "123456", ""]),
            Err(RecordError::TooWide { ref field, width: 5, value_width: 6 }) if field == "quantity"
        ));
        assert!(matches!(
            layout.format(&["A-1", "张\n三", "", "1", ""]),
            Err(RecordError::ControlCharacter { ref field }) if field == "consignee"
        ));
        assert_eq!(
            layout.format(&["A-1"]),
            Err(RecordError::ValueCount { expected: 5, found: 1 })
        );
    }

    #[test]
    fn fixed_width_parse_errors() {
        let layout = FixedWidthLayout::new([Field::left("a", 3), Field::left("b", 2)]).unwrap();
        assert_eq!(
            layout.parse("abcd"),
            Err(RecordError::LineWidth { expected: 5, found: 4 })
        );
        // "张" takes columns 3-4 but field "a" ends at column 3.
        assert_eq!(
            layout.parse("ab张x"),
            Err(RecordError::SplitCharacter {
                field: "a".to_owned(),
                column: 3
            })
        );
        assert_eq!(layout.parse("a  张").unwrap(), vec!["a", "张"]);
    }

    #[test]
    fn invalid_layouts() {
        assert!(matches!(
            FixedWidthLayout::new(Vec::new()),
            Err(RecordError::InvalidField { .. })
        ));
        assert!(matches!(
            FixedWidthLayout::new([Field::left("a", 0)]),
            Err(RecordError::InvalidField { ref field, .. }) if field == "a"
        ));
        assert!(matches!(
            FixedWidthLayout::new([Field::right("a", 4, '　')]),
            Err(RecordError::InvalidField { .. })
        ));
        assert!(matches!(
            FixedWidthLayout::new([Field::right("a", 4, '\t')]),
            Err(RecordError::InvalidField { .. })
        ));
    }

    #[test]
    fn documents_from_lines() {
        let layout = FixedWidthLayout::new([Field::left("name", 6), Field::right("qty", 3, '0')]).unwrap();
        let lines = [
            layout.format(&["张三", "7"]).unwrap(),
            layout.format(&["ab", "12"]).unwrap(),
        ];
        assert_eq!(
            lines_to_document(&lines, LineTerminator::Crlf),
            "张三  007\r\nab    012\r\n"
        );
        assert_eq!(lines_to_document(["a", "b"], LineTerminator::Lf), "a\nb\n");
        assert_eq!(lines_to_document(Vec::<String>::new(), LineTerminator::Lf), "");
    }
}
