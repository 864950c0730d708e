"""A throwaway PostgreSQL cluster from the machine's PostgreSQL binaries, on a free loopback port. PostgreSQL refuses to
run as root, so as root it runs as the `postgres` user."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile


def _bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (/usr/lib/postgresql/<version>/bin)")
    return found[-1]


class ScratchPostgres:
    def __init__(self):
        self.bin = _bin()
        self.dir = tempfile.mkdtemp(prefix="keyhaven-pg-")
        self.as_root = os.geteuid() == 0
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.databases = 0
        data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", data, "-U", "keyhaven", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", data, "-o", options, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def _run(self, program, *args):
        command = [os.path.join(self.bin, program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def psql(self, database, sql):
        subprocess.run([os.path.join(self.bin, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "keyhaven",
                        "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)

    def new_database(self):
        """The URL of a new, empty database."""
        self.databases += 1
        name = f"keyhaven{self.databases}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return f"postgres://keyhaven@127.0.0.1:{self.port}/{name}"

    def stop(self):
        self._run("pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
