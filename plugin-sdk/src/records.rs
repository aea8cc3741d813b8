//! Record formats for file-drop OPS: CSV and fixed-width.
//!
//! Why here: every file-drop plugin needs them and each gets the same
//! details wrong — quoting, the BOM Windows OPS expect, CRLF, and in
//! fixed-width files the width of Chinese characters (two columns each on
//! the terminals and printers these files are checked on). A value that
//! does not fit its field is an error naming the field, never silently cut.

use std::collections::BTreeMap;
use std::fmt;

/// Why a record could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// CSV writing or reading failed; `line` is 1-based when known.
    Csv { line: Option<u64>, message: String },
    /// A value is wider than its fixed-width field.
    TooWide {
        field: String,
        width: usize,
        value_width: usize,
    },
    /// A record has a different number of values than the layout has fields.
    FieldCount { expected: usize, found: usize },
    /// A fixed-width line is shorter than the layout.
    ShortLine { expected: usize, found: usize },
}

impl fmt::Display for RecordError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Csv {
                line: Some(line),
                message,
            } => write!(formatter, "CSV line {line}: {message}"),
            RecordError::Csv { line: None, message } => write!(formatter, "CSV: {message}"),
            RecordError::TooWide {
                field,
                width,
                value_width,
            } => write!(
                formatter,
                "value for field `{field}` is {value_width} columns wide; the field has {width}"
            ),
            RecordError::FieldCount { expected, found } => {
                write!(formatter, "record has {found} values; the layout has {expected} fields")
            }
            RecordError::ShortLine { expected, found } => {
                write!(formatter, "line is {found} columns wide; the layout needs {expected}")
            }
        }
    }
}

impl std::error::Error for RecordError {}

fn csv_error(error: &csv::Error) -> RecordError {
    RecordError::Csv {
        line: error.position().map(csv::Position::line),
        message: error.to_string(),
    }
}

/// How a CSV document is written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    /// `\r\n` (the default, RFC 4180) or `\n`.
    pub crlf: bool,
    /// Start the file with a UTF-8 byte order mark (Excel and many Windows
    /// OPS need it to read Chinese text correctly).
    pub bom: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            crlf: true,
            bom: false,
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn writer(options: CsvOptions) -> csv::Writer<Vec<u8>> {
    let terminator = if options.crlf {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut out = Vec::new();
    if options.bom {
        out.extend_from_slice(BOM);
    }
    csv::WriterBuilder::new()
        .delimiter(options.delimiter)
        .terminator(terminator)
        .from_writer(out)
}

/// A CSV document: a header row, then the rows.
pub fn csv_document(
    headers: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
    options: CsvOptions,
) -> Result<Vec<u8>, RecordError> {
    let mut out = writer(options);
    out.write_record(headers).map_err(|error| csv_error(&error))?;
    for row in rows {
        if row.len() != headers.len() {
            return Err(RecordError::FieldCount {
                expected: headers.len(),
                found: row.len(),
            });
        }
        out.write_record(&row).map_err(|error| csv_error(&error))?;
    }
    out.into_inner().map_err(|error| RecordError::Csv {
        line: None,
        message: error.to_string(),
    })
}

/// A CSV document from serializable records; the header row comes from the
/// field names.
pub fn csv_from_records<T: serde::Serialize>(records: &[T], options: CsvOptions) -> Result<Vec<u8>, RecordError> {
    let mut out = writer(options);
    for record in records {
        out.serialize(record).map_err(|error| csv_error(&error))?;
    }
    out.into_inner().map_err(|error| RecordError::Csv {
        line: None,
        message: error.to_string(),
    })
}

/// Reads a CSV document with a header row (a leading BOM is skipped) into
/// one map per row, header → value.
pub fn csv_rows(bytes: &[u8], options: CsvOptions) -> Result<Vec<BTreeMap<String, String>>, RecordError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(options.delimiter)
        .from_reader(bytes);
    let headers = reader.headers().map_err(|error| csv_error(&error))?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| csv_error(&error))?;
        rows.push(
            headers
                .iter()
                .zip(record.iter())
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
        );
    }
    Ok(rows)
}

/// Display columns of a character: 2 for East Asian wide and full-width
/// characters (Hangul Jamo U+1100–115F, CJK and Kana U+2E80–A4CF, Hangul
/// U+AC00–D7A3, CJK compatibility U+F900–FAFF and U+FE30–FE4F, full-width
/// forms U+FF00–FF60 and U+FFE0–FFE6, CJK extensions U+20000–3FFFD), else 1.
pub fn char_width(c: char) -> usize {
    let code = u32::from(c);
    let wide = matches!(code,
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

/// Display columns of a string.
pub fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One field of a fixed-width record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// In display columns (a Chinese character counts 2).
    pub width: usize,
    pub align: Align,
    pub pad: char,
}

impl Field {
    /// Left-aligned, space-padded: text fields.
    pub fn text(name: &str, width: usize) -> Self {
        Field {
            name: name.to_owned(),
            width,
            align: Align::Left,
            pad: ' ',
        }
    }
    /// Right-aligned, zero-padded: numeric fields.
    pub fn number(name: &str, width: usize) -> Self {
        Field {
            name: name.to_owned(),
            width,
            align: Align::Right,
            pad: '0',
        }
    }
}

/// The fields of a fixed-width record, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedWidthLayout {
    pub fields: Vec<Field>,
}

impl FixedWidthLayout {
    pub fn new(fields: Vec<Field>) -> Self {
        FixedWidthLayout { fields }
    }

    /// Columns in one record.
    pub fn record_width(&self) -> usize {
        self.fields.iter().map(|field| field.width).sum()
    }

    /// One record; every value must fit its field.
    pub fn format(&self, values: &[&str]) -> Result<String, RecordError> {
        if values.len() != self.fields.len() {
            return Err(RecordError::FieldCount {
                expected: self.fields.len(),
                found: values.len(),
            });
        }
        let mut line = String::new();
        for (field, value) in self.fields.iter().zip(values) {
            let value_width = display_width(value);
            if value_width > field.width {
                return Err(RecordError::TooWide {
                    field: field.name.clone(),
                    width: field.width,
                    value_width,
                });
            }
            let padding: String = std::iter::repeat_n(field.pad, field.width - value_width).collect();
            match field.align {
                Align::Left => {
                    line.push_str(value);
                    line.push_str(&padding);
                }
                Align::Right => {
                    line.push_str(&padding);
                    line.push_str(value);
                }
            }
        }
        Ok(line)
    }

    /// Splits a record into its values, padding removed.
    pub fn parse(&self, line: &str) -> Result<Vec<String>, RecordError> {
        let found = display_width(line);
        if found < self.record_width() {
            return Err(RecordError::ShortLine {
                expected: self.record_width(),
                found,
            });
        }
        let mut chars = line.chars().peekable();
        let mut values = Vec::new();
        for field in &self.fields {
            let mut taken = String::new();
            let mut columns = 0;
            while columns < field.width {
                let Some(c) = chars.next() else { break };
                columns += char_width(c);
                taken.push(c);
            }
            let value = match field.align {
                Align::Left => taken.trim_end_matches(field.pad),
                Align::Right => taken.trim_start_matches(field.pad),
            };
            values.push(value.to_owned());
        }
        Ok(values)
    }
}

/// Joins records into a document with the given line terminator after each.
pub fn lines_to_document(lines: &[String], terminator: &str) -> String {
    lines.iter().map(|line| format!("{line}{terminator}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_keeps_chinese_text() {
        let rows = vec![vec![
            "张三".to_owned(),
            "上海市浦东新区, 88号".to_owned(),
            "say \"hi\"\nbye".to_owned(),
        ]];
        let bytes = csv_document(&["name", "address", "note"], rows, CsvOptions::default()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            "name,address,note\r\n张三,\"上海市浦东新区, 88号\",\"say \"\"hi\"\"\nbye\"\r\n"
        );
        let back = csv_rows(&bytes, CsvOptions::default()).unwrap();
        assert_eq!(back[0]["address"], "上海市浦东新区, 88号");
        assert_eq!(back[0]["note"], "say \"hi\"\nbye");
    }

    #[test]
    fn a_bom_is_written_on_request_and_skipped_on_reading() {
        let options = CsvOptions {
            bom: true,
            crlf: false,
            ..CsvOptions::default()
        };
        let bytes = csv_document(&["城市"], vec![vec!["上海".to_owned()]], options).unwrap();
        assert!(bytes.starts_with(BOM));
        assert_eq!(csv_rows(&bytes, options).unwrap()[0]["城市"], "上海");
    }

    #[test]
    fn serde_records_make_their_own_header() {
        #[derive(serde::Serialize)]
        struct Line {
            sku: &'static str,
            qty: u32,
        }
        let bytes = csv_from_records(&[Line { sku: "SKU-1", qty: 3 }], CsvOptions::default()).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), "sku,qty\r\nSKU-1,3\r\n");
    }

    #[test]
    fn malformed_csv_names_its_line() {
        let error = csv_rows(b"a,b\n1,2\n3\n", CsvOptions::default()).unwrap_err();
        assert!(matches!(error, RecordError::Csv { line: Some(3), .. }), "{error}");
        assert!(error.to_string().starts_with("CSV line 3:"), "{error}");
        let error = csv_document(&["a", "b"], vec![vec!["1".to_owned()]], CsvOptions::default()).unwrap_err();
        assert_eq!(error, RecordError::FieldCount { expected: 2, found: 1 });
    }

    #[test]
    fn fixed_width_counts_chinese_characters_as_two_columns() {
        let layout = FixedWidthLayout::new(vec![Field::text("name", 8), Field::number("qty", 5)]);
        let line = layout.format(&["张三", "42"]).unwrap();
        assert_eq!(line, "张三    00042");
        assert_eq!(display_width(&line), layout.record_width());
        assert_eq!(layout.parse(&line).unwrap(), vec!["张三".to_owned(), "42".to_owned()]);
    }

    #[test]
    fn a_value_too_wide_is_an_error_never_truncated() {
        let layout = FixedWidthLayout::new(vec![Field::text("city", 6)]);
        let error = layout.format(&["上海市浦东"]).unwrap_err();
        assert_eq!(
            error,
            RecordError::TooWide {
                field: "city".into(),
                width: 6,
                value_width: 10
            }
        );
        assert_eq!(
            error.to_string(),
            "value for field `city` is 10 columns wide; the field has 6"
        );
        assert!(matches!(
            layout.parse("ab"),
            Err(RecordError::ShortLine { expected: 6, found: 2 })
        ));
        assert_eq!(lines_to_document(&["a".into(), "b".into()], "\r\n"), "a\r\nb\r\n");
    }
}
