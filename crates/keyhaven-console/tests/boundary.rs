//! The console's boundary: it reaches service state only through the API pipeline, as the signed-in session. Its
//! only direct uses of the server's core are STS's console-session record, the domain clock and the audit chain check.

use std::path::Path;

fn sources(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("source directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).expect("source"),
            ));
        }
    }
}

#[test]
fn the_console_touches_core_only_for_sessions_the_clock_and_the_audit_check() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).expect("manifest");
    let keyhaven: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.split_once(['.', ' ', '=']).map(|(name, _)| name.trim()))
        .filter(|name| name.starts_with("keyhaven-") && *name != "keyhaven-console")
        .collect();
    assert_eq!(
        keyhaven,
        ["keyhaven-api", "keyhaven-iam", "keyhaven-kernel", "keyhaven-crypto"]
    );

    let mut files = Vec::new();
    sources(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut files);
    let allowed = ["core.identity.sts", "core.clock.now()", "core.verify_audit()"];
    for (path, text) in &files {
        for (at, _) in text.match_indices("core.") {
            let rest = &text[at..];
            assert!(
                allowed.iter().any(|use_| rest.starts_with(use_)),
                "{path}: a use of the server's core outside the console's boundary: {}",
                rest.lines().next().unwrap_or_default()
            );
        }
    }
}
