//! The UDP driver of the durable pipe ends, the way `quinn` drives `quinn-proto`: the
//! sans-IO [`crate::Sender`] and [`crate::Receiver`] stay pure; this module owns the
//! socket, the wall-clock time, the timers, optional fault injection and the durable state
//! directory (locked while in use, journaled through [`crate::DurableSender`] and
//! [`crate::DurableReceiver`]).
//!
//! - [`UdpSender`]: sends messages to a receiver until every one is confirmed; a sender
//!   killed at any moment resumes from its state directory where it was (message seq `n`
//!   is the `n`-th input message, and the input is checked against a fingerprint of what
//!   was already sent).
//! - [`run_receiver`]: receives, journals and fsyncs each new message *before* confirming
//!   it (cascade confirmation onto storage), and hands the durable deliveries to the caller.
//! - Both run their frames through a secure channel ([`crate::secure`]) when given keys
//!   ([`SenderSecurity::Noise`], [`ReceiverSecurity::Noise`]): only authenticated frames
//!   reach the receiver's journal and sender table. Plaintext is explicit
//!   ([`UdpSenderOptions::insecure`], [`UdpReceiverOptions::insecure`]).
//! - [`InputLines`] and [`delivery_json`]: messages as JSON lines in and out;
//!   [`check_resume`]: an input refused, in words, when it is not the one a sender state
//!   was sending.
//!
//! # Example
//! ```no_run
//! use exactly_pipe::udp::{run_receiver, FaultConfig, UdpReceiverOptions, UdpSender, UdpSenderOptions};
//! use exactly_pipe::PipeMode;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pipe = PipeMode::ResendIdDedup;
//! let receiving = std::thread::spawn(move || {
//!     let options = UdpReceiverOptions::insecure("127.0.0.1:7000", "/tmp/recv-state".as_ref(), pipe);
//!     run_receiver(&options, &mut |delivered| {
//!         for d in delivered {
//!             println!("{} {}", d.sender_id, d.seq);
//!         }
//!         Ok(())
//!     })
//! });
//! let options = UdpSenderOptions::insecure("127.0.0.1:7000", "/tmp/send-state".as_ref(), pipe);
//! let sender = UdpSender::open(&options)?;
//! let messages = vec!["{\"n\":1}".to_string(), "{\"n\":2}".to_string()];
//! sender.check_resume_input(&messages)?;
//! let summary = sender.run(&messages)?;
//! assert_eq!(summary.sent, 2);
//! # drop(receiving);
//! # Ok(())
//! # }
//! ```

mod clock;
mod error;
mod faults;
mod json_lines;
mod recv;
mod resume;
mod security;
mod send;
mod sender_key;

pub use error::UdpError;
pub use faults::{is_transient, FaultConfig, Faults};
pub use json_lines::{delivery_json, InputError, InputLines};
pub use recv::{run_receiver, UdpReceiverOptions};
pub use resume::{check_resume, ResumeRefused};
pub use security::{ReceiverSecurity, SenderSecurity};
pub use send::{SendSummary, UdpSender, UdpSenderOptions};
pub use sender_key::SENDER_KEY_FILE;
