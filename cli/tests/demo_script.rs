//! `paycode demo --script` on a real issuer, real HTTP and the real OS keyring.

#[test]
fn the_scripted_demo_behaves_as_expected() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_paycode"))
        .args(["demo", "--script"])
        .output()
        .expect("paycode runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all steps behaved as expected"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    // Every code shown is printed in 4-4-4-6 form.
    let shown = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("shows "))
        .count();
    assert!(shown >= 7, "{stdout}");
    for line in stdout.lines().filter(|l| l.trim_start().starts_with("shows ")) {
        let code: String = line.trim_start()["shows ".len()..].chars().take(21).collect();
        let groups: Vec<usize> = code.split(' ').map(str::len).collect();
        assert_eq!(groups, vec![4, 4, 4, 6], "{line}");
    }
}
