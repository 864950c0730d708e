//! The client crate's boundary: it never links the server. Its only keyhaven dependency is keyhaven-crypto.

#[test]
fn the_client_depends_on_no_server_crate() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).expect("manifest");
    let keyhaven: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.split_once(['.', ' ', '=']).map(|(name, _)| name.trim()))
        .filter(|name| name.starts_with("keyhaven-") && *name != "keyhaven-client")
        .collect();
    assert_eq!(keyhaven, ["keyhaven-crypto"]);
}
