"""The accounting table and its migrations (Alembic, with a version table of its own).

The table may share a database with the hub or the culler: its Alembic version table is
``imagine_accounting_version``, so the hub's own ``alembic_version`` is never touched.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

VERSION_TABLE = "imagine_accounting_version"
MIGRATIONS = Path(__file__).with_name("migrations")

metadata = sa.MetaData()

# One row per server session (a start of a named or default server). Times are Unix seconds
# (UTC), so periods are compared as numbers in any SQL dialect.
sessions = sa.Table(
    "imagine_accounting_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_uid", sa.String(36), nullable=False, unique=True),
    sa.Column("user_key", sa.String(64), nullable=False),
    sa.Column("server_key", sa.String(64), nullable=False),
    sa.Column("hub_started", sa.String(64), nullable=True),
    sa.Column("community", sa.Unicode(255), nullable=False),
    sa.Column("country", sa.String(16), nullable=False),
    sa.Column("profile", sa.Unicode(255), nullable=False),
    sa.Column("cpus", sa.Float, nullable=False),
    sa.Column("mem_bytes", sa.BigInteger, nullable=False),
    sa.Column("gpus", sa.Float, nullable=False),
    sa.Column("gpu_type", sa.Unicode(255), nullable=False),
    sa.Column("mig", sa.Unicode(64), nullable=False),
    sa.Column("start_ts", sa.Float, nullable=False),
    sa.Column("ready_ts", sa.Float, nullable=True),
    sa.Column("stop_ts", sa.Float, nullable=True),
    sa.Column("stop_reason", sa.String(16), nullable=True),
    sa.Column("stop_detail", sa.UnicodeText, nullable=True),
    sa.Column("gpu_active_s", sa.Float, nullable=False),
    sa.Column("gpu_idle_s", sa.Float, nullable=False),
    sa.Column("gpu_unknown_s", sa.Float, nullable=False),
    sa.Column("postponements", sa.Integer, nullable=False),
    sa.Column("energy_j", sa.Float, nullable=True),
    sa.Column("energy_counter_j", sa.Float, nullable=True),
    sa.Index("ix_imagine_accounting_start", "start_ts"),
    sa.Index("ix_imagine_accounting_open", "user_key", "server_key", "stop_ts"),
)

STOP_REASONS = ("user", "admin", "culler", "failure", "unknown")


def upgrade(engine: sa.Engine) -> None:
    """Bring the accounting tables to the newest version (a no-op when they are)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_version(engine: sa.Engine) -> str | None:
    """The applied migration, or None on a database the accounting never touched."""
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()
