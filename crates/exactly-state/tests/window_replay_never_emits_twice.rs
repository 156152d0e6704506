//! Window state driven by the clock: windows fire exactly when the clock passes their end,
//! late messages follow the policy, and a crash + restore from a snapshot + replay of the
//! messages after it emits every window exactly once — the same windows, with the same
//! values, as a run without a crash. Random streams, random crash points.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::Timestamp;
use exactly_state::{LatePolicy, Sum, WindowAssigner, WindowState, WindowedValue};
use proptest::prelude::*;

type Emitted = Vec<WindowedValue<i128>>;

/// Messages (key, timestamp, value) processed in order; after each one the clock advances to
/// the message's timestamp minus `skew_ms` (a source that may still emit that much older).
fn run(
    messages: &[(u8, i64, i64)],
    assigner: WindowAssigner,
    skew_ms: i64,
    crash_after: Option<usize>,
) -> Emitted {
    let new_state = || WindowState::new(Sum, assigner, LatePolicy::Drop);
    let mut state = new_state();
    let mut emitted = Vec::new();
    // The checkpoint: a snapshot plus the position of the next message and what was
    // emitted so far (in the engine, outputs commit with the checkpoint).
    let mut checkpoint = (state.snapshot().unwrap(), 0usize, 0usize);
    let mut crashed = false;
    let mut i = 0;
    while i < messages.len() {
        let (key, ts, value) = messages[i];
        state.update(&[key], Timestamp(ts), &i128::from(value));
        emitted.extend(state.advance_clock(Timestamp(ts - skew_ms)));
        i += 1;
        if i % 7 == 0 {
            checkpoint = (state.snapshot().unwrap(), i, emitted.len());
        }
        if Some(i) == crash_after && !crashed {
            crashed = true;
            // Crash: in-memory state and uncommitted outputs are lost; restore and replay.
            state = new_state();
            state.restore(&checkpoint.0).unwrap();
            i = checkpoint.1;
            emitted.truncate(checkpoint.2);
        }
    }
    emitted.extend(state.advance_clock(Timestamp::MAX));
    emitted
}

fn stream() -> impl Strategy<Value = Vec<(u8, i64, i64)>> {
    proptest::collection::vec((0u8..3, 0i64..40, -5i64..5), 1..60).prop_map(|mut v| {
        // Mostly increasing timestamps with jitter, like a real source.
        for (i, m) in v.iter_mut().enumerate() {
            m.1 += i as i64 * 3;
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn replay_after_restore_emits_every_window_exactly_once(
        messages in stream(),
        crash in 0usize..60,
        sliding in any::<bool>(),
    ) {
        let assigner = if sliding {
            WindowAssigner::Sliding { size_ms: 20, slide_ms: 5 }
        } else {
            WindowAssigner::Tumbling { size_ms: 10 }
        };
        let reference = run(&messages, assigner, 50, None);
        let recovered = run(&messages, assigner, 50, Some(crash.min(messages.len())));
        prop_assert_eq!(&recovered, &reference);
        let mut seen = std::collections::HashSet::new();
        for w in &reference {
            prop_assert!(seen.insert((w.key.clone(), w.start_ms)), "window emitted twice");
        }
    }
}

#[test]
fn windows_fire_by_clock_and_late_messages_are_counted() {
    let mut state = WindowState::new(
        Sum,
        WindowAssigner::Tumbling { size_ms: 10 },
        LatePolicy::Drop,
    );
    state.update(b"k", Timestamp(1), &5);
    state.update(b"k", Timestamp(9), &1);
    state.update(b"k", Timestamp(12), &2);
    assert!(
        state.advance_clock(Timestamp(9)).is_empty(),
        "[0,10) still open at clock 9"
    );
    let fired = state.advance_clock(Timestamp(10));
    assert_eq!(fired.len(), 1);
    assert_eq!(
        (fired[0].start_ms, fired[0].end_ms, fired[0].value),
        (0, 10, 6)
    );
    assert_eq!(
        state.update(b"k", Timestamp(3), &100),
        0,
        "late for a fired window"
    );
    assert_eq!(state.late_dropped(), 1);
    assert_eq!(state.advance_clock(Timestamp(20))[0].value, 2);

    let mut lenient = WindowState::new(
        Sum,
        WindowAssigner::Tumbling { size_ms: 10 },
        LatePolicy::AllowedLateness { lateness_ms: 5 },
    );
    lenient.update(b"k", Timestamp(1), &5);
    assert!(
        lenient.advance_clock(Timestamp(12)).is_empty(),
        "kept open for lateness"
    );
    assert_eq!(
        lenient.update(b"k", Timestamp(2), &1),
        1,
        "accepted within lateness"
    );
    assert_eq!(lenient.advance_clock(Timestamp(15))[0].value, 6);
}

#[test]
fn sliding_windows_hold_each_timestamp_size_over_slide_times() {
    let assigner = WindowAssigner::Sliding {
        size_ms: 20,
        slide_ms: 5,
    };
    assert_eq!(assigner.window_starts(Timestamp(12)), vec![-5, 0, 5, 10]);
    assert_eq!(
        WindowAssigner::Tumbling { size_ms: 10 }.window_starts(Timestamp(-1)),
        vec![-10]
    );
}
