//! The data directory as it is found on disk: the directory and every directory in it 0700, every file 0600,
//! whether the server made them or found them wider at start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyhaven_tests::{Options, Server, unused_data_dir};

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).expect("metadata").permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `dir` and everything under it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            paths.extend(tree(&path));
        } else {
            paths.push(path);
        }
    }
    paths
}

fn assert_private(dir: &Path) {
    for path in tree(dir) {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode_of(&path), expected, "{} is {:04o}", path.display(), mode_of(&path));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_data_directory_and_all_the_server_writes_in_it_are_private() {
    let server = Server::start(Options::default());
    server.kms().create_key().send().await.expect("create key");
    for name in [
        "keyhaven.db",
        "keyhaven.db-wal",
        "keyhaven.db-shm",
        "root.key",
        "root-credentials",
    ] {
        assert!(server.data_dir.join(name).exists(), "{name} is missing");
    }
    assert_private(&server.data_dir);

    let tls = Server::start(Options {
        extra_args: vec!["--tls-self-signed".into()],
        ..Default::default()
    });
    assert!(tls.data_dir.join("tls").join("key.pem").exists());
    assert_private(&tls.data_dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn wider_modes_found_at_start_are_narrowed() {
    let dir = unused_data_dir();
    std::fs::create_dir(&dir).expect("create data dir");
    set_mode(&dir, 0o755);
    let root_key = dir.join("root.key");
    std::fs::write(&root_key, format!("{}\n", B64.encode([7u8; 32]))).expect("root key");
    set_mode(&root_key, 0o644);
    let oidc = dir.join("oidc");
    std::fs::create_dir(&oidc).expect("oidc");
    set_mode(&oidc, 0o755);
    let jwks = oidc.join("issuer.example.com.json");
    std::fs::write(&jwks, r#"{"keys":[]}"#).expect("jwks");
    set_mode(&jwks, 0o644);

    let mut server = Server::start_in(dir.clone(), Options::default());
    assert_eq!(mode_of(&dir), 0o700);
    assert_eq!(mode_of(&root_key), 0o600);
    server.kms().create_key().send().await.expect("create key");
    assert_private(&dir);

    // Database files left readable (by an older version, or a restored backup) are narrowed at the next
    // start, before SQLite opens them and makes its -wal and -shm in the database file's mode.
    server.kill9();
    for name in ["keyhaven.db", "keyhaven.db-wal", "keyhaven.db-shm"] {
        set_mode(&dir.join(name), 0o644);
    }
    server.restart();
    server
        .kms()
        .create_key()
        .send()
        .await
        .expect("create key after restart");
    assert_private(&dir);
}
