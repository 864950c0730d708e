"""Throwaway PostgreSQL clusters for tests: initdb, pg_ctl start on a free localhost port, psql as the superuser.

initdb refuses to run as root, so as root the server programs run as `postgres` (else `nobody`) through runuser,
in a directory owned by that user (the temporary directory's parent must let it through). Dependency-free: the
standard library and PostgreSQL's own programs.

    with PgCluster() as pg:
        pg.admin_sql("CREATE ROLE app LOGIN PASSWORD 'p1'")
        assert pg.login_ok("app", "p1")
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

ADMIN_USER = "keyhaven_admin"
ADMIN_PASSWORD = "keyhaven-admin-password"
HOST = "127.0.0.1"
PROGRAMS = ("initdb", "pg_ctl", "pg_isready", "psql")


def bindir():
    """PostgreSQL's programs: KEYHAVEN_PG_BINDIR, else where pg_ctl on PATH really lives (following symlinks to
    single programs, as in /usr/local/bin), else the newest /usr/lib/postgresql/*/bin (Debian's, not on PATH)."""

    def complete(directory):
        return all(os.path.isfile(os.path.join(directory, program)) for program in PROGRAMS)

    given = os.environ.get("KEYHAVEN_PG_BINDIR")
    if given:
        if not complete(given):
            raise RuntimeError(f"KEYHAVEN_PG_BINDIR={given} lacks one of {PROGRAMS}")
        return given
    candidates = [
        os.path.dirname(os.path.realpath(os.path.join(directory, "pg_ctl")))
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if directory and os.path.isfile(os.path.join(directory, "pg_ctl"))
    ]
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        (d for d in versioned if os.path.basename(os.path.dirname(d)).isdigit()),
        key=lambda d: int(os.path.basename(os.path.dirname(d))),
        reverse=True,
    )
    for directory in candidates:
        if complete(directory):
            return directory
    raise RuntimeError(f"no PostgreSQL programs {PROGRAMS} found: set KEYHAVEN_PG_BINDIR")


def _server_user():
    """As root, the user to run the server as, since initdb and postgres refuse root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, but there is neither a postgres nor a nobody user to run PostgreSQL as")


def _free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class PgCluster:
    """A PostgreSQL server in its own temporary directory; every login uses scram-sha-256."""

    def __init__(self, settings=None):
        """`settings`: more postgresql.conf lines, as {name: value as written there}."""
        self.port = None
        self.dir = None
        self._bin = bindir()
        self._user = _server_user()
        self._settings = settings or {}
        self._databases = 0

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="keyhaven-pg-")
        try:
            self._give(self.dir)
            self._init()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stops the server at once (no checkpoint: the data is thrown away) and removes its directory."""
        if self.dir is None:
            return
        if self.port is not None:
            self._server("pg_ctl", "-D", self._data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = self.port = None

    def restart(self):
        """Stops the server at once (as a crash would) and starts it again on the same port and data."""
        self._server("pg_ctl", "-D", self._data, "-m", "immediate", "-w", "stop", check=True)
        log = os.path.join(self.dir, "server.log")
        self._server("pg_ctl", "-D", self._data, "-l", log, "-w", "-t", "60", "-o", f"-p {self.port}", "start",
                     check=True)
        self._wait_until_accepting()

    def admin_sql(self, sql, database="postgres"):
        """Runs `sql` as the superuser in `database`; returns the output unaligned without headers. Raises on any
        error."""
        result = self._psql(ADMIN_USER, ADMIN_PASSWORD, sql, database)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed on {sql!r}: {result.stderr}")
        return result.stdout.rstrip("\n")

    def new_database(self):
        """A new, empty database: its URL, with the superuser's credentials."""
        self._databases += 1
        name = f"keyhaven{self._databases}"
        self.admin_sql(f"CREATE DATABASE {name}")
        return f"postgres://{ADMIN_USER}:{ADMIN_PASSWORD}@{HOST}:{self.port}/{name}"

    def login_ok(self, user, password):
        """Whether `user` can log in with `password`. Only a refused login is False; other failures raise."""
        result = self._psql(user, password, "SELECT 1")
        if result.returncode == 0:
            return True
        if "authentication failed" in result.stderr:
            return False
        raise RuntimeError(f"psql as {user} failed: {result.stderr}")

    def log(self):
        """Everything the server has logged so far."""
        with open(os.path.join(self.dir, "server.log"), encoding="utf-8", errors="replace") as log:
            return log.read()

    @property
    def _data(self):
        return os.path.join(self.dir, "data")

    def _psql(self, user, password, sql, database="postgres"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(PGPASSWORD=password, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10")
        command = [os.path.join(self._bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        command += ["-h", HOST, "-p", str(self.port), "-U", user, "-d", database, "-c", sql]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    def _give(self, path):
        if self._user:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _server(self, program, *args, check=False):
        """Runs a server program, as the server user when we are root, from a directory it may enter."""
        command = [os.path.join(self._bin, program), *args]
        if self._user:
            command = ["runuser", "-u", self._user.pw_name, "--", *command]
        result = subprocess.run(command, cwd=self.dir, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stdout}{result.stderr}")
        return result

    def _init(self):
        pwfile = os.path.join(self.dir, "pwfile")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(ADMIN_PASSWORD)
        self._give(pwfile)
        self._server(
            "initdb", "-D", self._data, "-U", ADMIN_USER, "--auth=scram-sha-256", "-E", "UTF8", "--no-locale",
            "--no-sync", f"--pwfile={pwfile}", check=True,
        )
        os.remove(pwfile)
        socket_dir = self.dir.replace("'", "''")
        with open(os.path.join(self._data, "postgresql.conf"), "a") as conf:
            conf.write(f"\nlisten_addresses = '{HOST}'\nunix_socket_directories = '{socket_dir}'\nfsync = off\n")
            conf.writelines(f"{name} = {value}\n" for name, value in self._settings.items())

    def _launch(self):
        # Another process can take the free port before the server binds it: then try another.
        for attempt in range(3):
            self.port = _free_port()
            log = os.path.join(self.dir, "server.log")
            started = self._server("pg_ctl", "-D", self._data, "-l", log, "-w", "-t", "60", "-o", f"-p {self.port}",
                                   "start")
            if started.returncode == 0:
                self._wait_until_accepting()
                return
            if attempt == 2:
                self.port = None
                raise RuntimeError(f"pg_ctl start failed: {started.stdout}{started.stderr}\n{self.log()}")

    def _wait_until_accepting(self):
        """pg_ctl -w has waited for the server to be ready; pg_isready confirms it accepts TCP connections."""
        for _ in range(50):
            ready = subprocess.run(
                [os.path.join(self._bin, "pg_isready"), "-q", "-h", HOST, "-p", str(self.port), "-t", "2"]
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL on port {self.port} never accepted connections:\n{self.log()}")
