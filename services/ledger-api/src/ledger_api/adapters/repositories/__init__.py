"""SQL over asyncpg, one module per table family (STYLE: SQL-first repositories)."""
