//! Resuming a sender from its state directory with an input: refused, in words a person
//! can act on, when the input is not the one the state was sending (resuming would skip
//! lines as duplicates that were never sent).

use super::json_lines::InputLines;
use super::send::UdpSender;
use crate::ResumeMismatch;
use std::path::{Path, PathBuf};

/// What to do instead, said by every refusal.
const FRESH: &str = "to resume, pass the input this state was sending; to send this input \
                     from its first line as new messages, use a new, empty --state directory \
                     instead of";

/// Why a sender state refuses an input.
#[derive(Debug, thiserror::Error)]
pub enum ResumeRefused {
    /// The input differs from what the state sent.
    #[error(
        "the input is not the one sender state {} was sending: {differs} (it already sent \
         {sent} lines, which resuming would skip as duplicates); {FRESH} {}",
        state.display(), state.display()
    )]
    Differs {
        /// The state directory.
        state: PathBuf,
        /// Where the first difference is, by input line.
        differs: String,
        /// Lines already sent.
        sent: u64,
    },
    /// The input is shorter than what the state sent.
    #[error(
        "the input has {input_len} non-empty lines but sender state {} already sent \
         {accepted}: it is not the input this state was sending; {FRESH} {}",
        state.display(), state.display()
    )]
    Shorter {
        /// The state directory.
        state: PathBuf,
        /// Lines already sent.
        accepted: u64,
        /// Non-empty lines of the input.
        input_len: u64,
    },
}

/// Checks `input` against what `sender` (whose state directory is `state`) already sent.
/// `Ok(Some(warning))` when part of it cannot be checked (a state older than input
/// fingerprints).
pub fn check_resume(
    sender: &UdpSender,
    input: &InputLines,
    state: &Path,
) -> Result<Option<String>, ResumeRefused> {
    match sender.check_resume_input(&input.lines) {
        Ok(()) => Ok(None),
        Err(ResumeMismatch::Unverifiable { from_seq }) => Ok(Some(format!(
            "sender state {} predates input fingerprints: the first {from_seq} non-empty \
             input lines cannot be checked against what it sent",
            state.display()
        ))),
        Err(ResumeMismatch::InputDiffers {
            first_seq,
            last_seq,
        }) => {
            let differs = if first_seq == last_seq {
                format!(
                    "input line {} differs from the line it sent at that position",
                    input.line_of(first_seq)
                )
            } else {
                format!(
                    "the first difference from what it sent is between input lines {} and {}",
                    input.line_of(first_seq),
                    input.line_of(last_seq)
                )
            };
            Err(ResumeRefused::Differs {
                state: state.to_path_buf(),
                differs,
                sent: sender.next_seq(),
            })
        }
        Err(ResumeMismatch::InputShorter {
            accepted,
            input_len,
        }) => Err(ResumeRefused::Shorter {
            state: state.to_path_buf(),
            accepted,
            input_len,
        }),
    }
}
