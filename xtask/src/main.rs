//! Project automation. `cargo xtask codegen [--check]` (re)generates, or checks, the wire shapes
//! and the audit redaction table in `crates/keyhaven-api/src/generated/` from the vendored botocore
//! models, and the authorisation table in `crates/keyhaven-kernel/src/authz/reference.rs` from the
//! Service Authorization Reference.

mod authorization;
mod codegen;
mod json;
mod model;
mod pattern;
mod redaction;
mod rest_xml;
mod s3_routes;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["codegen"] => write_generated(),
        ["codegen", "--check"] => check_generated(),
        _ => Err("usage: cargo xtask codegen [--check]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    manifest.parent().unwrap_or(&manifest).to_path_buf()
}

fn write_generated() -> Result<(), String> {
    let root = workspace_root();
    let files = codegen::generate(&root)?;
    std::fs::create_dir_all(root.join(codegen::OUTPUT_DIR)).map_err(|e| e.to_string())?;
    for file in &files {
        let path = root.join(&file.path);
        // Rewriting only changed files keeps cargo from rebuilding keyhaven-api for nothing.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(file.contents.as_str()) {
            std::fs::write(&path, &file.contents).map_err(|e| format!("writing {}: {e}", file.path))?;
            println!("wrote {}", file.path);
        }
    }
    for problem in codegen::stale(&root, &files) {
        eprintln!("warning: {problem}");
    }
    Ok(())
}

fn check_generated() -> Result<(), String> {
    let root = workspace_root();
    let problems = codegen::stale(&root, &codegen::generate(&root)?);
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\nrun `cargo xtask codegen` to update them",
        problems.join("\n")
    ))
}
