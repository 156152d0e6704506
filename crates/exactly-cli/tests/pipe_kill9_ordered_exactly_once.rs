//! `exactly pipe` with the ordered pipe over UDP with 20% injected loss and 10%
//! duplication each way; sender and receiver are killed with SIGKILL and restarted from
//! their state directories (`EXACTLY_KILLS`, default 12). The receiver's journal holds every
//! input message exactly once, in input order.

use crate::pipe_common;

#[test]
fn ordered_pipe_survives_kill9_exactly_once_in_order() {
    let delivered = pipe_common::run_with_kills("ordered");
    let expected: Vec<u64> = (0..pipe_common::MESSAGES as u64).collect();
    assert_eq!(
        delivered.len(),
        expected.len(),
        "lost or duplicated messages"
    );
    assert_eq!(delivered, expected, "not in input order");
}
