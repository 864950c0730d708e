//! Throwaway PostgreSQL clusters for tests: `initdb` into a temporary directory, `pg_ctl start` on a free
//! localhost port, SQL as the superuser through `psql`, `pg_ctl stop -m immediate` on drop.
//!
//! initdb refuses to run as root, so as root the server programs run as `postgres` (else `nobody`) through
//! `runuser`, in a directory owned by that user (the temporary directory's parent must let it through).

use std::ffi::OsStr;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const ADMIN_USER: &str = "keyhaven_admin";
pub const ADMIN_PASSWORD: &str = "keyhaven-admin-password";
const HOST: &str = "127.0.0.1";
const PROGRAMS: [&str; 4] = ["initdb", "pg_ctl", "pg_isready", "psql"];

/// A running PostgreSQL server with its own data directory, removed on drop.
pub struct Cluster {
    pub port: u16,
    dir: PathBuf,
    bindir: PathBuf,
    run_as: Option<String>,
}

impl Cluster {
    /// Creates and starts a cluster whose superuser is [`ADMIN_USER`]; every login uses scram-sha-256.
    pub fn start() -> Self {
        let bindir = bindir();
        let run_as = server_user();
        // From here on Drop cleans up, even when initdb or the start fails.
        let mut cluster = Self {
            port: 0,
            dir: fresh_dir(run_as.as_deref()),
            bindir,
            run_as,
        };
        cluster.init();
        cluster.launch();
        cluster
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    /// Runs `sql` as the superuser; returns the output unaligned without headers. Panics on any error.
    pub fn admin_sql(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let mut command = Command::new(self.bindir.join("psql"));
        // The caller's PG* settings (service files, options, another password) must not change the connection.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(name);
            }
        }
        let output = command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", &port])
            .args(["-U", ADMIN_USER, "-d", "postgres", "-c", sql])
            .env("PGPASSWORD", ADMIN_PASSWORD)
            .env("PGSSLMODE", "disable")
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql failed on {sql:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout).trim_end_matches('\n').to_string()
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server program, run as the server user when we are root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        };
        // The server user may not be allowed into the caller's working directory.
        command.current_dir(&self.dir);
        command
    }

    fn init(&self) {
        let pwfile = self.dir.join("pwfile");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pwfile)
            .expect("create password file");
        file.write_all(ADMIN_PASSWORD.as_bytes()).expect("write password file");
        give_to(&pwfile, self.run_as.as_deref());
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(self.data())
            .args([
                "-U",
                ADMIN_USER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .arg(arg("--pwfile=", &pwfile))
            .output()
            .expect("run initdb");
        assert!(output.status.success(), "initdb failed: {}", report(&output));
        std::fs::remove_file(&pwfile).expect("remove password file");

        let settings = format!(
            "\nlisten_addresses = '{HOST}'\nunix_socket_directories = '{}'\nfsync = off\n",
            self.dir.display().to_string().replace('\'', "''")
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .expect("configure postgresql.conf");
    }

    fn launch(&mut self) {
        // Another process can take the free port before the server binds it: then try another.
        for attempt in 1..=3 {
            self.port = free_port();
            let output = self
                .server_command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &format!("-p {}", self.port), "start"])
                .output()
                .expect("run pg_ctl start");
            if output.status.success() {
                self.wait_until_accepting();
                return;
            }
            assert!(attempt < 3, "pg_ctl start failed: {}\n{}", report(&output), self.log());
        }
    }

    /// `pg_ctl -w` has waited for the server to be ready; pg_isready confirms it accepts TCP connections.
    fn wait_until_accepting(&self) {
        let port = self.port.to_string();
        for _ in 0..50 {
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args(["-q", "-h", HOST, "-p", &port, "-t", "2"])
                .status()
                .expect("run pg_isready");
            if ready.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("PostgreSQL on port {port} never accepted connections:\n{}", self.log());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        // A cluster that never started has nothing to stop; one that did and will not stop is worth a word.
        if self.port != 0 && !stopped.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("could not stop PostgreSQL in {}", self.dir.display());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory of PostgreSQL's programs: `KEYHAVEN_PG_BINDIR`, else where `pg_ctl` on PATH really lives
/// (following symlinks to single programs, as in /usr/local/bin), else the newest `/usr/lib/postgresql/*/bin`
/// (Debian's layout, not on PATH).
fn bindir() -> PathBuf {
    let complete = |dir: &Path| PROGRAMS.iter().all(|program| dir.join(program).is_file());
    if let Some(dir) = std::env::var_os("KEYHAVEN_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        assert!(
            complete(&dir),
            "KEYHAVEN_PG_BINDIR={} lacks one of {PROGRAMS:?}",
            dir.display()
        );
        return dir;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .filter_map(|dir| dir.join("pg_ctl").canonicalize().ok())
        .filter_map(|program| program.parent().map(Path::to_path_buf));
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .chain(versions.into_iter().map(|(_, dir)| dir))
        .find(|dir| complete(dir))
        .unwrap_or_else(|| panic!("no PostgreSQL programs {PROGRAMS:?} found: set KEYHAVEN_PG_BINDIR"))
}

/// As root: the user to run the server as, since initdb and postgres refuse root.
fn server_user() -> Option<String> {
    if id_of("-u", None) != Some(0) {
        return None;
    }
    let user = ["postgres", "nobody"]
        .into_iter()
        .find(|user| id_of("-u", Some(user)).is_some())
        .expect("running as root, but there is neither a postgres nor a nobody user to run PostgreSQL as");
    Some(user.to_string())
}

/// `id <flag> [user]`: a numeric user or group id.
fn id_of(flag: &str, user: Option<&str>) -> Option<u32> {
    let output = Command::new("id").arg(flag).args(user).output().ok()?;
    if !output.status.success() {
        return None;
    }
    text(&output.stdout).trim().parse().ok()
}

/// Hands `path` to the server user, if there is one.
fn give_to(path: &Path, user: Option<&str>) {
    if let Some(user) = user {
        chown(path, id_of("-u", Some(user)), id_of("-g", Some(user)))
            .unwrap_or_else(|e| panic!("chown {} to {user}: {e}", path.display()));
    }
}

fn fresh_dir(user: Option<&str>) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("keyhaven-pg-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create cluster directory");
    give_to(&dir, user);
    dir
}

fn free_port() -> u16 {
    TcpListener::bind((HOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port()
}

fn arg(prefix: &str, path: &Path) -> std::ffi::OsString {
    let mut arg = OsStr::new(prefix).to_os_string();
    arg.push(path);
    arg
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn report(output: &Output) -> String {
    format!("{}{}", text(&output.stdout), text(&output.stderr))
}
