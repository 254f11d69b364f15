"""First version: one row per server session.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imagine_accounting_sessions",
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
    )
    op.create_index("ix_imagine_accounting_start", "imagine_accounting_sessions", ["start_ts"])
    op.create_index(
        "ix_imagine_accounting_open",
        "imagine_accounting_sessions",
        ["user_key", "server_key", "stop_ts"],
    )


def downgrade() -> None:
    op.drop_table("imagine_accounting_sessions")
