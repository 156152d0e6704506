//! `bank_layout`: roles parse from and print as their names, and every path and schema
//! of a bank run is where the endpoint processes and the audit look for it.

use exactly_endpoint::bank::CREDITS_TOPIC;
use exactly_endpoint::bank_layout::{schema_of, Layout, Role, UnknownRole};
use exactly_endpoint::testkit::TRANSFERS_TOPIC;
use std::path::Path;

#[test]
fn bank_layout_paths_and_roles() {
    for role in [Role::A, Role::B] {
        assert_eq!(Role::parse(role.name()), Ok(role));
    }
    assert_eq!(
        Role::parse("accounts-c"),
        Err(UnknownRole("accounts-c".to_string()))
    );
    assert_eq!(schema_of("exactly_bank_1", Role::A), "exactly_bank_1_a");
    assert_eq!(schema_of("exactly_bank_1", Role::B), "exactly_bank_1_b");

    let root = Path::new("/run/bank");
    let layout = Layout::new(root);
    assert_eq!(layout.root(), root);
    assert_eq!(layout.feed_log(), root.join("feed"));
    assert_eq!(layout.store_dir(Role::A), root.join("a/store"));
    assert_eq!(layout.log_dir(Role::B), root.join("b/log"));
    assert_eq!(layout.stop_file(Role::B), root.join("stop-b"));
    assert_eq!(layout.stderr_file(Role::A), root.join("accounts-a.stderr"));
    assert_eq!(layout.input(Role::A), (root.join("feed"), TRANSFERS_TOPIC));
    assert_eq!(layout.input(Role::B), (root.join("a/log"), CREDITS_TOPIC));
}
