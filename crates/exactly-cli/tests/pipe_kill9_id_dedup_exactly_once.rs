//! `exactly pipe` with resend + ID de-dup over UDP with injected loss and duplication;
//! both ends killed with SIGKILL and restarted (`EXACTLY_KILLS`, default 12). The receiver's
//! journal holds every input message exactly once (in any order).

use crate::pipe_common;

#[test]
fn id_dedup_pipe_survives_kill9_exactly_once() {
    let mut delivered = pipe_common::run_with_kills("resend+id-dedup");
    let n = delivered.len();
    delivered.sort_unstable();
    delivered.dedup();
    assert_eq!(n, delivered.len(), "duplicated messages");
    let expected: Vec<u64> = (0..pipe_common::MESSAGES as u64).collect();
    assert_eq!(delivered, expected, "lost messages");
}
