//! Messages as JSON lines: the sender's input ([`InputLines`]: message seq `n` is the
//! `n`-th non-empty line, each checked to be JSON) and the receiver's output
//! ([`delivery_json`]: one object per delivered message), and the sender's summary
//! ([`SendSummary::to_json`]).

use super::send::SendSummary;
use serde_json::{json, Value};
use std::io::BufRead;

/// The non-empty lines of an input, each checked to be JSON, with their line numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputLines {
    /// The lines, trimmed; message seq `n` is `lines[n]`.
    pub lines: Vec<String>,
    /// The 1-based line number in the input of each of `lines`.
    pub line_numbers: Vec<usize>,
}

/// Why an input could not be taken as messages.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Reading the input failed.
    #[error("reading input")]
    Read(#[source] std::io::Error),
    /// A non-empty line is not JSON.
    #[error("input line {line} is not JSON")]
    NotJson {
        /// Its 1-based line number.
        line: usize,
        /// Why.
        source: serde_json::Error,
    },
}

impl InputLines {
    /// Reads every line of `reader`, keeping the non-empty ones (trimmed); each must be
    /// JSON.
    pub fn read(reader: impl BufRead) -> Result<Self, InputError> {
        let mut input = Self::default();
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(InputError::Read)?;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Err(source) = serde_json::from_str::<Value>(line) {
                return Err(InputError::NotJson {
                    line: i + 1,
                    source,
                });
            }
            input.lines.push(line.to_owned());
            input.line_numbers.push(i + 1);
        }
        Ok(input)
    }

    /// The input line number of message `seq` (`#<seq + 1>` when the input has no such
    /// message).
    pub fn line_of(&self, seq: u64) -> String {
        usize::try_from(seq)
            .ok()
            .and_then(|i| self.line_numbers.get(i).copied())
            .map_or_else(|| format!("#{}", seq + 1), |n| n.to_string())
    }
}

/// One delivered message as the JSON line a receiver prints: its sender, its seq, and the
/// message (JSON as sent; anything else as a string).
pub fn delivery_json(sender_id: u64, seq: u64, payload: &[u8]) -> Value {
    let msg = serde_json::from_slice::<Value>(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into()));
    json!({"sender": sender_id, "seq": seq, "msg": msg})
}

impl SendSummary {
    /// The summary as one JSON object (`sent`, `resumed_at`, `frames_sent`, `resends`,
    /// `confirmed`, `injected_drops`, `ms`).
    pub fn to_json(&self) -> Value {
        json!({
            "sent": self.sent, "resumed_at": self.resumed_at, "frames_sent": self.frames_sent,
            "resends": self.resends, "confirmed": self.confirmed,
            "injected_drops": self.injected_drops, "ms": self.ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_keeps_non_empty_lines_with_their_numbers() {
        let input = InputLines::read("{\"a\":1}\n\n  [2]  \n".as_bytes()).expect("JSON lines");
        assert_eq!(input.lines, vec!["{\"a\":1}", "[2]"]);
        assert_eq!(input.line_numbers, vec![1, 3]);
        assert_eq!(
            (input.line_of(1), input.line_of(5)),
            ("3".to_string(), "#6".to_string())
        );
    }

    #[test]
    fn input_with_a_line_that_is_not_json_is_refused_naming_it() {
        let error = InputLines::read("1\nnot json\n".as_bytes()).expect_err("refused");
        assert_eq!(error.to_string(), "input line 2 is not JSON");
    }

    #[test]
    fn delivery_keeps_json_and_quotes_anything_else() {
        assert_eq!(
            delivery_json(7, 1, b"{\"n\":1}"),
            json!({"sender": 7, "seq": 1, "msg": {"n": 1}})
        );
        assert_eq!(delivery_json(7, 2, b"plain")["msg"], json!("plain"));
    }
}
