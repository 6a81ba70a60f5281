//! The README's main command runs `termcall demo`: it must work with nothing configured.

use termcall_tests::bin;

#[test]
fn the_demo_makes_a_call_and_chats() {
    let out = std::process::Command::new(bin("termcall")).arg("demo").output().expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for needle in ["call with bob: connected via p2p", "chat from alice: hi bob", "chat from bob: loud and clear", "call with alice: ended (peer_hangup)"] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}
