"""The SQL store: tables, engine and sessions, the audit hash chain, the read projection, migrations."""
