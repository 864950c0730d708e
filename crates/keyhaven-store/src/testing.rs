//! Test support: throwaway stores in self-removing temporary directories, a throwaway PostgreSQL cluster, and
//! the conformance suite's subjects for both backends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Backend, SqliteStore};

/// A temporary directory removed on drop (std has none, and a dependency is not worth it).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("keyhaven-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh SQLite store in its own temporary directory; keep the directory alive while using it.
pub fn temp_store() -> (TempDir, Arc<dyn Backend>) {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("keyhaven.db")).expect("open store");
    (dir, Arc::new(store))
}

/// The conformance suite's subject for SQLite: a database file in a temporary directory.
#[derive(Debug, Default)]
pub struct SqliteSubject {
    dirs: Vec<TempDir>,
}

impl crate::conformance::Subject for SqliteSubject {
    fn fresh(&mut self) -> Arc<dyn Backend> {
        self.dirs.push(TempDir::new());
        self.reopen()
    }

    fn reopen(&mut self) -> Arc<dyn Backend> {
        let dir = self.dirs.last().expect("a fresh store first");
        Arc::new(SqliteStore::open(&dir.path().join("keyhaven.db")).expect("open store"))
    }
}

/// A throwaway PostgreSQL cluster from the machine's PostgreSQL binaries, on a free loopback port, stopped and
/// removed on drop. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
#[derive(Debug)]
pub struct ScratchPostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    databases: AtomicU32,
}

impl ScratchPostgres {
    pub fn start() -> Self {
        let bin = postgres_bin();
        let dir = TempDir::new();
        if running_as_root() {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the cluster directory");
        }
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let run = |program: &str, args: &[&str]| {
            let output = postgres_command(&bin.join(program))
                .args(args)
                .output()
                .expect("run a PostgreSQL program");
            assert!(
                output.status.success(),
                "{program} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let data_arg = data.to_str().expect("a UTF-8 path");
        run(
            "initdb",
            &[
                "-D",
                data_arg,
                "-U",
                "keyhaven",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        let log = dir.path().join("postgres.log");
        run(
            "pg_ctl",
            &[
                "-D",
                data_arg,
                "-o",
                &options,
                "-l",
                log.to_str().expect("a UTF-8 path"),
                "-w",
                "start",
            ],
        );
        Self {
            dir,
            bin,
            port,
            databases: AtomicU32::new(0),
        }
    }

    /// The URL of `database` in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://keyhaven@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database; answers its name.
    pub fn create_database(&self) -> String {
        let name = format!("scratch{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "keyhaven",
                "-d",
                "postgres",
            ])
            .args(["-c", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "CREATE DATABASE: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        name
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        let _ = postgres_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A PostgreSQL program to run: as the `postgres` user when this process is root.
fn postgres_command(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// The directory of the newest PostgreSQL installed the Debian way, or of the one on the `PATH`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().map_or_else(PathBuf::new, |(_, bin)| bin)
}

/// The `postgres` account's user and group ids, from `/etc/passwd`.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres"))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
        })
        .expect("a postgres user to run PostgreSQL as")
}

/// The conformance suite's subject for PostgreSQL: a new database in a scratch cluster for each fresh store.
#[derive(Debug)]
pub struct PostgresSubject {
    pub cluster: ScratchPostgres,
    current: Option<String>,
}

impl PostgresSubject {
    pub fn start() -> Self {
        Self {
            cluster: ScratchPostgres::start(),
            current: None,
        }
    }
}

impl crate::conformance::Subject for PostgresSubject {
    fn announces_changes(&self) -> bool {
        true
    }

    fn fresh(&mut self) -> Arc<dyn Backend> {
        self.current = Some(self.cluster.create_database());
        self.reopen()
    }

    fn reopen(&mut self) -> Arc<dyn Backend> {
        let database = self.current.as_deref().expect("a fresh store first");
        let options = crate::PostgresOptions {
            url: self.cluster.url(database),
            // One: a read nested in a write that took a second connection would wait for ever.
            max_connections: 1,
            ca_pem: None,
        };
        Arc::new(crate::PostgresStore::open(&options).expect("open the PostgreSQL store"))
    }
}
