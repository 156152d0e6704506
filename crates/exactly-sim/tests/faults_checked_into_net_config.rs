//! `Faults::to_config` refuses what is not a probability and total loss, adds jitter when
//! frames are to be reordered, and caps a partition at its period.

use exactly_sim::{Faults, FaultsError};

#[test]
fn faults_checked_into_net_config() {
    let config = Faults {
        loss: 0.2,
        dup: 0.1,
        reorder: 0.3,
        corrupt: 0.01,
        partition_every_ms: 100,
        partition_for_ms: 500,
    }
    .to_config()
    .expect("valid faults");
    assert_eq!((config.loss, config.dup, config.reorder), (0.2, 0.1, 0.3));
    assert_eq!(config.corrupt, 0.01);
    assert_eq!(config.jitter_ms, 1);
    assert_eq!(
        (config.partition_every_ms, config.partition_for_ms),
        (100, 100)
    );
    assert_eq!(Faults::default().to_config().map(|c| c.jitter_ms), Ok(0));

    let dup = Faults {
        dup: 1.5,
        ..Faults::default()
    };
    assert_eq!(
        dup.to_config().err(),
        Some(FaultsError::NotAProbability { name: "dup" })
    );
    let corrupt = Faults {
        corrupt: -0.1,
        ..Faults::default()
    };
    let err = corrupt.to_config().err();
    assert_eq!(err, Some(FaultsError::NotAProbability { name: "corrupt" }));
    let total = Faults {
        loss: 1.0,
        ..Faults::default()
    };
    assert_eq!(total.to_config().err(), Some(FaultsError::TotalLoss));
}
