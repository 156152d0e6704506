//! `--format json|raw|table` of `exactly log consume`: how each record is written.
//!
//! - `json` (the default): one JSON object per line, see [`super::json`].
//! - `raw`: the value's bytes as they are, then `--delimiter` (a newline by default), as
//!   `kcat -C` prints; with `--key-delimiter D` the key's bytes and `D` come first (kcat's
//!   `-K D`). A record without a key, or a tombstone, prints nothing in that place.
//! - `table`: a header line, then one line per record with the partition, offset,
//!   timestamp, key and value as text for a person to read; bytes that are not printable
//!   UTF-8 are escaped (`\n`, `\t`, `\\`, `\xNN`), a missing key or a tombstone prints as
//!   `NULL`, headers as `name=value,…`.

use super::json::{json_line, unwrap_value, ConsumedRecord};
use exactly_log::consume::RecordSink;
use exactly_log::StoredRecord;
use std::io::Write;
use std::ops::ControlFlow;

/// How `exactly log consume` prints records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum OutputFormat {
    /// One JSON object per line: JSON values as JSON, text as strings, binary as hex.
    Json,
    /// The value's bytes as they are (kcat's default), optionally after the key.
    Raw,
    /// Aligned columns for a person to read.
    Table,
}

/// Writes records in one format; keeps whether the table's header is written yet.
pub struct RecordPrinter {
    format: OutputFormat,
    key_delimiter: Option<Vec<u8>>,
    delimiter: Vec<u8>,
    header_written: bool,
}

/// Column widths of the table (wider values push the next columns right).
const PARTITION_WIDTH: usize = 9;
const OFFSET_WIDTH: usize = 12;
const TIMESTAMP_WIDTH: usize = 15;
const KEY_WIDTH: usize = 16;

impl RecordPrinter {
    /// A printer for `format`; the delimiters apply to `raw` only.
    pub fn new(format: OutputFormat, key_delimiter: Option<&str>, delimiter: Option<&str>) -> Self {
        Self {
            format,
            key_delimiter: key_delimiter.map(|d| unescape(d).into_bytes()),
            delimiter: match delimiter {
                Some(d) => unescape(d).into_bytes(),
                None => b"\n".to_vec(), // documented default: one record per line
            },
            header_written: false,
        }
    }

    /// Writes one record.
    pub fn write(
        &mut self,
        out: &mut impl Write,
        record: &ConsumedRecord<'_>,
    ) -> std::io::Result<()> {
        match self.format {
            OutputFormat::Json => {
                let line = json_line(record).map_err(std::io::Error::other)?;
                writeln!(out, "{line}")
            }
            OutputFormat::Raw => self.write_raw(out, record),
            OutputFormat::Table => self.write_table_row(out, record),
        }
    }

    fn write_raw(&self, out: &mut impl Write, record: &ConsumedRecord<'_>) -> std::io::Result<()> {
        let unwrapped = unwrap_value(record.stored_value);
        if let Some(delimiter) = &self.key_delimiter {
            if let Some(key) = record.key {
                out.write_all(key)?; // no key: nothing before the delimiter, as kcat
            }
            out.write_all(delimiter)?;
        }
        if let Some(value) = &unwrapped.value {
            out.write_all(value)?;
        }
        out.write_all(&self.delimiter)
    }

    fn write_table_row(
        &mut self,
        out: &mut impl Write,
        record: &ConsumedRecord<'_>,
    ) -> std::io::Result<()> {
        if !self.header_written {
            writeln!(
                out,
                "{:<PARTITION_WIDTH$} {:<OFFSET_WIDTH$} {:<TIMESTAMP_WIDTH$} {:<KEY_WIDTH$} VALUE",
                "PARTITION", "OFFSET", "TIMESTAMP", "KEY"
            )?;
            self.header_written = true;
        }
        let unwrapped = unwrap_value(record.stored_value);
        let key = match record.key {
            Some(bytes) => escape(bytes),
            None => "NULL".to_string(),
        };
        let value = match &unwrapped.value {
            Some(bytes) => escape(bytes),
            None => "NULL".to_string(),
        };
        let headers: Vec<String> = unwrapped
            .headers
            .iter()
            .map(|(name, value)| match value {
                Some(value) => format!("{}={}", escape(name), escape(value)),
                None => format!("{}=NULL", escape(name)),
            })
            .collect();
        let headers = match headers.is_empty() {
            true => String::new(),
            false => format!("  headers: {}", headers.join(",")),
        };
        writeln!(
            out,
            "{:<PARTITION_WIDTH$} {:<OFFSET_WIDTH$} {:<TIMESTAMP_WIDTH$} {:<KEY_WIDTH$} {value}{headers}",
            record.partition, record.offset, record.timestamp_ms, key
        )
    }
}

/// A [`RecordSink`] for [`exactly_log::consume::consume`] that prints each record of
/// `topic` with a [`RecordPrinter`]. A failed write means the reader went away (a closed
/// pipe), which stops the reading quietly; `idle` flushes.
pub struct PrintingSink<'a, W: Write> {
    /// The topic read (printed in JSON lines).
    pub topic: &'a str,
    /// How records are printed.
    pub printer: RecordPrinter,
    /// Where they are printed.
    pub out: W,
}

impl<W: Write> RecordSink for PrintingSink<'_, W> {
    fn record(&mut self, partition: u32, record: &StoredRecord) -> ControlFlow<()> {
        let record = ConsumedRecord::from_log(self.topic, partition, record);
        match self.printer.write(&mut self.out, &record) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }

    fn idle(&mut self) {
        // A failed flush is a reader that went away; the next write stops the reading.
        let _ = self.out.flush();
    }
}

/// Bytes as one line of printable text: UTF-8 kept, control characters and bytes that are
/// not UTF-8 escaped, the backslash doubled so an escape is never ambiguous.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// `\n`, `\t`, `\r`, `\0` and `\\` in a delimiter given on the command line, as kcat reads
/// its `-K`/`-D` arguments.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_is_one_line_and_unambiguous() {
        assert_eq!(escape(b"a\\b\n\x01\xff"), "a\\\\b\\n\\x01\\xff");
        assert_eq!(escape("é".as_bytes()), "é");
    }

    #[test]
    fn raw_writes_key_delimiter_value() {
        let record = ConsumedRecord {
            topic: "t",
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            key: Some(b"k"),
            stored_value: b"v\x00",
        };
        let mut out = Vec::new();
        RecordPrinter::new(OutputFormat::Raw, Some("\\t"), None)
            .write(&mut out, &record)
            .unwrap();
        assert_eq!(out, b"k\tv\x00\n");
    }
}
