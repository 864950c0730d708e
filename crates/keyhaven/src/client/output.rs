//! Where client commands write: standard output, or a temporary file beside the destination renamed into place only
//! once the output is complete (and, for decryption, verified), so a failure never leaves a partial file.

use std::io::Write;
use std::path::PathBuf;

/// Where one message comes from and goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Std,
    File(PathBuf),
}

impl End {
    /// A path argument: `-` is the standard stream.
    pub fn of(argument: &str) -> Self {
        if argument == "-" {
            End::Std
        } else {
            End::File(argument.into())
        }
    }

    pub fn label(&self, stream: &str) -> String {
        match self {
            End::Std => stream.to_string(),
            End::File(path) => std::path::absolute(path).unwrap_or(path.clone()).display().to_string(),
        }
    }
}

/// Where output is written until it is complete: a temporary file beside the destination, memory (`--buffer` to
/// standard output), or standard output itself.
pub enum Pending {
    File {
        temporary: PathBuf,
        file: std::fs::File,
        destination: PathBuf,
    },
    Memory(Vec<u8>),
    Stdout(std::io::BufWriter<std::io::Stdout>),
}

impl Pending {
    pub fn open(destination: &End, buffer: bool, private: bool) -> Result<Self, String> {
        match destination {
            End::Std if buffer => Ok(Pending::Memory(Vec::new())),
            End::Std => Ok(Pending::Stdout(std::io::BufWriter::with_capacity(
                1 << 20,
                std::io::stdout(),
            ))),
            End::File(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let random: [u8; 8] = keyhaven_crypto::random_array().map_err(|e| e.to_string())?;
                let temporary = path.with_file_name(format!(".{name}.{}.keyhaven-partial", hex::encode(random)));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                if private {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let file = options
                    .open(&temporary)
                    .map_err(|e| format!("{}: {e}", temporary.display()))?;
                Ok(Pending::File {
                    temporary,
                    file,
                    destination: path.clone(),
                })
            }
        }
    }

    pub fn writer(&mut self) -> Box<dyn Write + Send + '_> {
        match self {
            Pending::File { file, .. } => Box::new(std::io::BufWriter::with_capacity(1 << 20, file)),
            Pending::Memory(buffer) => Box::new(buffer),
            Pending::Stdout(stdout) => Box::new(stdout),
        }
    }

    /// Puts the output in place.
    pub fn commit(self) -> Result<(), String> {
        match self {
            Pending::File {
                temporary,
                file,
                destination,
            } => {
                // No fsync: like cp, gpg and aws-encryption-cli, the output's durability is the file system's;
                // what matters here is that the destination only ever holds a complete, verified result.
                drop(file);
                std::fs::rename(&temporary, &destination).map_err(|e| {
                    let _ = std::fs::remove_file(&temporary);
                    format!("{}: {e}", destination.display())
                })
            }
            Pending::Memory(buffer) => std::io::stdout().write_all(&buffer).map_err(|e| e.to_string()),
            Pending::Stdout(mut stdout) => stdout.flush().map_err(|e| e.to_string()),
        }
    }

    /// Throws away what was written (what already went to standard output stays).
    pub fn abandon(self) {
        if let Pending::File { temporary, file, .. } = self {
            drop(file);
            let _ = std::fs::remove_file(temporary);
        }
    }
}

/// Writes `bytes` to `destination` (a file private to its owner, in place only once complete, or standard output).
pub fn write_complete(destination: &End, bytes: &[u8]) -> Result<(), String> {
    let mut pending = Pending::open(destination, false, true)?;
    let mut writer = pending.writer();
    let written = writer.write_all(bytes).and_then(|_| writer.flush());
    drop(writer);
    match written {
        Ok(()) => pending.commit(),
        Err(error) => {
            pending.abandon();
            Err(error.to_string())
        }
    }
}
