"""Database set-up: every package's tables, and Alembic migrations to head.

`migrate` is the one schema path: every command that opens the database (the CLI through
`open_engine`, the daemon at start) brings it to head first. No package creates tables
by itself. A database whose tables an older centralita created without Alembic (no
``alembic_version`` row) is completed and stamped here (`_adopt_unversioned`).
"""

from __future__ import annotations

import asyncio
import warnings
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import metadata as ingest_metadata
from centralita.settings import StartupError

MIGRATIONS = Path(__file__).parent / "migrations"


def all_metadata() -> list[MetaData]:
    """The MetaData of every package that owns tables (one Alembic history for all)."""
    from centralita.campaigns.schema import metadata as campaign_metadata
    from centralita.console.employees import metadata as employees_metadata
    from centralita.console.handovers import metadata as handovers_metadata
    from centralita.console.schema import metadata as console_metadata
    from centralita.console.sessions import console_sessions  # noqa: F401 - registers it
    from centralita.ivr.schema import metadata as ivr_metadata
    from centralita.mail.schema import metadata as mail_metadata
    from centralita.metrics.schema import metadata as metrics_metadata

    return [
        ingest_metadata,
        ivr_metadata,
        metrics_metadata,
        campaign_metadata,
        console_metadata,
        employees_metadata,
        mail_metadata,
        handovers_metadata,
    ]


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


_MIGRATE_LOCK_ID = 8_214_019  # any constant: PostgreSQL advisory lock of the migration
# Alembic's context is process-global: one migration at a time per event loop.
_local_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database schema to the newest revision (idempotent).

    Safe when several daemons start together on one database: on PostgreSQL the upgrade
    runs under a transaction-level advisory lock, so the second waits for the first and
    then finds nothing to do; within one process, calls are serialised.
    """

    def _upgrade(sync_conn: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        if _adopt_unversioned(sync_conn):
            command.stamp(cfg, "head")
        command.upgrade(cfg, "head")

    lock = _local_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATE_LOCK_ID})
        await conn.run_sync(_upgrade)


async def open_engine(url: str) -> AsyncEngine:
    """An engine on `url` whose schema is at head: what every CLI command opens.

    Library commands get it as ``args.open_db`` (set by `centralita.cli`), since they
    may not import this package.
    """
    from centralita.ami_listener.store import make_engine

    check_database_url(url)
    engine = make_engine(url)
    try:
        await migrate(engine)
    except StartupError:
        await engine.dispose()
        raise
    except Exception as exc:
        await engine.dispose()
        await _join_sqlite_workers()
        problem = database_problem(url, exc)
        if problem is None:
            raise
        raise DatabaseError(problem) from exc
    except BaseException:
        await engine.dispose()
        raise
    return engine


async def _join_sqlite_workers(timeout_s: float = 2.0) -> None:
    """Wait for aiosqlite's worker threads of a failed connection to end.

    A connect that fails leaves its worker thread delivering a last result to the event
    loop; if the command's loop closes first, the thread prints a traceback ("Event loop
    is closed") after the one-line error. Joining them first keeps the error one line.
    """
    import threading

    workers = [
        t
        for t in threading.enumerate()
        if t is not threading.current_thread() and "_connection_worker_thread" in t.name
    ]
    for worker in workers:
        await asyncio.to_thread(worker.join, timeout_s)


DB_EXAMPLES = "sqlite+aiosqlite:///centralita.db o postgresql+asyncpg://usuario@host/base"


class DatabaseError(StartupError):
    """The database given cannot be used as it is (a server that is not there, a missing
    database or role, a file that is not a database): one Spanish line saying what and
    what to do."""


class DatabaseUrlError(DatabaseError):
    """The ``--db`` value itself is wrong (a user's mistake: exit code 2)."""

    exit_code = 2


def _shown(url: str) -> str:
    """The URL as it may be shown (never its password)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.rsplit("@", maxsplit=1)[-1] if "@" in url else url


def check_database_url(url: str) -> None:
    """Refuse, before connecting, a URL centralita cannot use.

    Raises:
        DatabaseError: not a database URL, a driver other than aiosqlite/asyncpg, or a
            SQLite file in a folder that does not exist.
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseUrlError(
            f"--db: «{_shown(url)}» no es una URL de base de datos; use {DB_EXAMPLES}"
        ) from exc
    # From the text alone: asking SQLAlchemy would load (or fail to load) a dialect.
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"--db: la base «{backend}» no está soportada; use {DB_EXAMPLES}")
    wanted = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}[backend]
    sep = ":///" if backend == "sqlite" else "://"
    if driver != wanted:
        said = f"el controlador {driver}" if driver else "el controlador por omisión"
        raise DatabaseUrlError(
            f"--db: «{_shown(url)}» usa {said}, que no es asíncrono;"
            f" escriba {backend}+{wanted}{sep} en lugar de {parsed.drivername}{sep}"
        )
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise DatabaseUrlError(
                f"--db: la carpeta {folder} no existe; créela o indique otra ruta"
            )


def database_problem(url: str, exc: BaseException) -> str | None:
    """The Spanish line for a database that cannot be opened, or None when ``exc`` is
    not such a problem (a bug: it keeps its traceback)."""
    shown = _shown(url)
    cause: BaseException | None = exc
    texts: list[str] = []
    while cause is not None:
        texts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    text_all = " | ".join(texts)
    if "does not exist" in text_all and "database" in text_all:
        return (
            f"--db: la base de datos de «{shown}» no existe en el servidor;"
            " créela (createdb) o corrija el nombre"
        )
    if "role" in text_all and "does not exist" in text_all:
        return f"--db: el usuario de «{shown}» no existe en el servidor; corrija la URL"
    if "password authentication failed" in text_all or "no password supplied" in text_all:
        return f"--db: el servidor rechazó el usuario o la contraseña de «{shown}»"
    if any(
        k in text_all
        for k in ("Connect call failed", "Connection refused", "could not connect", "timed out")
    ) or isinstance(exc, OSError):
        return (
            f"--db: no se pudo conectar con el servidor de «{shown}»;"
            " compruebe que está en marcha y la dirección y el puerto"
        )
    if "file is not a database" in text_all:
        return f"--db: «{shown}» no es un archivo de base de datos SQLite; indique otro"
    if "unable to open database file" in text_all or "readonly database" in text_all:
        return (
            f"--db: no se puede abrir ni escribir «{shown}»;"
            " compruebe la ruta y los permisos de la carpeta"
        )
    return None


class UnversionedSchemaError(StartupError):
    """Tables without Alembic history that cannot be brought to head safely."""


def _adopt_unversioned(sync_conn: sa.Connection) -> bool:
    """Complete a database made by ``create_all`` (older versions) and say if it must be stamped.

    Older versions let `campaign import`, `import-queue-log` and `customers import` create
    their tables outside Alembic, leaving no ``alembic_version`` row (or an empty table,
    left by a first upgrade that then failed on SQLite, whose DDL is not transactional);
    the next upgrade then failed on ``table ... already exists``. Such tables were made
    from the packages' table definitions of their day. Here only safe, additive steps
    bring them to head: missing tables and indexes are created from today's definitions,
    and on PostgreSQL narrower varchars are widened (as migrations 0004 and 0005 did);
    a missing column (an older table that needs a real migration) is refused with a
    message, nothing changed. Returns True when the caller must stamp head.
    """
    insp = sa.inspect(sync_conn)
    names = set(insp.get_table_names())
    if "alembic_version" in names:
        row = sync_conn.execute(text("SELECT version_num FROM alembic_version")).first()
        if row is not None:
            return False
    tables = {t.name: t for md in all_metadata() for t in md.sorted_tables}
    present = sorted(names & tables.keys())
    if not present:
        return False  # a fresh database: the migrations create everything
    postgres = sync_conn.dialect.name == "postgresql"
    missing: list[str] = []
    widen: list[tuple[str, str, int]] = []
    for name in present:
        found = {c["name"]: c["type"] for c in insp.get_columns(name)}
        for column in tables[name].columns:
            if column.name not in found:
                missing.append(f"{name}.{column.name}")
                continue
            want = getattr(column.type, "length", None)
            have = getattr(found[column.name], "length", None)
            if postgres and want is not None and have is not None and have < want:
                widen.append((name, column.name, want))
    if missing:
        raise UnversionedSchemaError(
            "la base de datos tiene tablas creadas sin migraciones por una versión antigua "
            f"a las que les faltan columnas ({', '.join(missing[:5])}): respalde la base y "
            "cree una nueva con `centralita db-migrate`, luego importe los datos de nuevo"
        )
    for table_name, column_name, length in widen:
        sync_conn.exec_driver_sql(
            f'ALTER TABLE "{table_name}" ALTER COLUMN "{column_name}" TYPE VARCHAR({length})'
        )
    for md in all_metadata():
        md.create_all(sync_conn)  # missing tables only (checkfirst)
    for name in present:
        with warnings.catch_warnings():  # SQLite does not reflect the report indexes
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
            indexes = {i["name"] for i in sa.inspect(sync_conn).get_indexes(name)}
        for index in tables[name].indexes:
            if index.name not in indexes:
                index.create(sync_conn)
    _create_report_indexes(sync_conn)
    return True


def _create_report_indexes(sync_conn: sa.Connection) -> None:
    """The monthly indicator's expression indexes (migration 0001), as create_all skips them."""
    from centralita.metrics.schema import REPORT_INDEX_COLUMNS, REPORT_INDEXES

    for name, table in REPORT_INDEXES.items():
        sync_conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({REPORT_INDEX_COLUMNS})"
        )
