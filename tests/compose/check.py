#!/usr/bin/env python3
"""Offline check of docker-compose.yml (no Docker engine runs in CI).

Renders the file with `docker-compose config` (Debian's docker-compose package) and checks
what makes `docker compose up` work for a newcomer: PostgreSQL with a health check and a
volume, Spool waiting for it, a secret key that must be given (with a clear message when it is
not), the dashboard/API port published, and only settings that `spool serve` knows.

    python3 tests/compose/check.py [path/to/spool]
"""

import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "spool")
KEY = "ab" * 32


def compose_config(env):
    # A scratch project directory, so a developer's own .env cannot change the outcome.
    with tempfile.TemporaryDirectory() as project:
        for name in ("docker-compose.yml", "Dockerfile"):
            with open(os.path.join(ROOT, name)) as src, open(os.path.join(project, name), "w") as dst:
                dst.write(src.read())
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SPOOL_", "POSTGRES_"))}
        return subprocess.run(
            ["docker-compose", "config"],
            cwd=project,
            env={**clean, **env},
            capture_output=True,
            text=True,
        )


def main():
    missing = compose_config({})
    assert missing.returncode != 0, "compose must refuse to start without SPOOL_SECRET_KEY"
    assert "SPOOL_SECRET_KEY" in missing.stderr and "openssl rand -hex 32" in missing.stderr, missing.stderr

    rendered = compose_config({"SPOOL_SECRET_KEY": KEY})
    assert rendered.returncode == 0, rendered.stderr
    config = yaml.safe_load(rendered.stdout)
    services = config["services"]

    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"]), postgres
    assert any(v.startswith("pgdata:/var/lib/postgresql/data") for v in postgres["volumes"]), postgres
    assert "pgdata" in config["volumes"]

    spool = services["spool"]
    env = spool["environment"]
    assert spool["depends_on"]["postgres"]["condition"] == "service_healthy", spool
    assert env["SPOOL_SECRET_KEY"] == KEY, env
    assert re.match(r"postgres://postgres:[^@]+@postgres:5432/\w+$", env["DATABASE_URL"]), env
    assert env["SPOOL_LISTEN"] == "0.0.0.0:9324", env
    ports = [str(p) for p in spool["ports"]]
    assert any("9324" in p for p in ports), ports
    assert spool["build"]["dockerfile"] == "Dockerfile"

    # Every setting the compose file passes is one `spool serve` reads.
    help_text = subprocess.run([SPOOL, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for name in env:
        if name.startswith("SPOOL_") or name == "DATABASE_URL":
            assert f"[env: {name}" in help_text, f"`spool serve` has no setting {name}"

    # The Dockerfile copies everything the build needs (the dashboard's assets live in src/).
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        dockerfile = f.read()
    for path in ("Cargo.toml", "Cargo.lock", ".cargo", ".sqlx", "src", "migrations"):
        assert re.search(rf"^COPY\s+(?:\S+\s+)*{re.escape(path)}\b", dockerfile, re.M), f"Dockerfile does not copy {path}"

    print("docker-compose.yml: ok (renders, PostgreSQL healthy before Spool, key required, port 9324)")


if __name__ == "__main__":
    main()
