"""A real PostgreSQL server for the tests: Debian's binaries, started in a temporary folder.

The server runs as the `postgres` user when the tests run as root (PostgreSQL refuses root), on
a loopback port with trust authentication, and is stopped (and its folder removed) at the end of
the session. Each test gets its own database, copied from a migrated template, so tests never see
each other's rows and copying costs tens of milliseconds instead of a migration run.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from migrations.runner import upgrade_database
from search.db import make_engine

TEMPLATE = "facet_template"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    return int(Path(path).parent.parent.name.split(".")[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server; `new_database()` hands out fresh migrated databases."""

    bin_dir: Path
    folder: Path
    port: int
    as_user: str | None
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (scripts/test.sh installs it)")
        as_user = "postgres" if os.geteuid() == 0 else None
        folder = Path(tempfile.mkdtemp(prefix="facet-pg-"))
        if as_user:
            shutil.chown(folder, as_user)
        server = cls(bin_dir, folder, _free_port(), as_user)
        server._run(
            "initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"
        )
        options = f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        server._run("pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
                    "-o", options, "start")  # fmt: skip
        server._make_template()
        return server

    def _run(self, program: str, *args: str) -> None:
        command: Sequence[str] = [str(self.bin_dir / program), *args]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.folder)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        engine = make_engine(self.url("postgres"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(statement))
        engine.dispose()

    def _make_template(self) -> None:
        self._admin(f"CREATE DATABASE {TEMPLATE}")
        engine = make_engine(self.url(TEMPLATE))
        upgrade_database(engine)
        engine.dispose()

    def new_database(self, *, migrated: bool = True) -> str:
        """The URL of a new database: migrated to head (from the template) or empty."""
        name = f"facet_test_{next(self._numbers)}"
        template = TEMPLATE if migrated else "template0"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def copy_database(self, url: str) -> str:
        """The URL of a new database copied from the one at `url` (which nobody may be using)."""
        name = f"facet_test_{next(self._numbers)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {url.rsplit('/', 1)[1]}")
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
