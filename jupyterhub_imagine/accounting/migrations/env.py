"""Alembic environment: runs on the connection the caller passes (see schema.upgrade)."""

from alembic import context

from jupyterhub_imagine.accounting.schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
