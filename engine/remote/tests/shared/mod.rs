//! What the tests against a real engine share: unique names, a connection, tree paths.

use std::time::{SystemTime, UNIX_EPOCH};

use imgbuild_remote::{Client, Settings};
use imgbuild_store::TreePath;

/// A name no earlier run used.
pub fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// A client of `endpoint`.
pub fn connect(endpoint: &str) -> Client {
    Client::connect(&Settings {
        endpoint: endpoint.to_owned(),
        ..Settings::default()
    })
    .unwrap_or_else(|error| panic!("connect to {endpoint}: {error}"))
}

/// A tree path from text.
pub fn path(text: &str) -> TreePath {
    TreePath::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}
