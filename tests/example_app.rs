//! examples/shop is a real app: its own unittest suite runs under the machine's python3.

mod common;

use std::process::Command;

use common::*;

#[test]
fn example_shop_unit_tests_pass() {
    if !require("python3") {
        return;
    }
    let o = run(Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(shop())
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    assert!(o.status.success(), "examples/shop tests failed:\n{}", stderr(&o));
    assert!(stderr(&o).contains("OK"), "{}", stderr(&o));
}
