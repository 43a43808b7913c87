#!/usr/bin/env bash
# Run httpbin (gunicorn, from .venv) on 127.0.0.1 in the foreground.
#   scripts/httpbin.sh [PORT]     (default 8080; run scripts/setup.sh first)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${1:-8080}"
GUNICORN="$ROOT/.venv/bin/gunicorn"

if [ ! -x "$GUNICORN" ]; then
    printf 'httpbin.sh: %s is missing: run "make setup" first\n' "$GUNICORN" >&2
    exit 1
fi

# exec: signals reach gunicorn directly (SIGTERM/SIGINT stop it and its workers).
exec "$GUNICORN" --bind "127.0.0.1:$PORT" --workers 2 --access-logfile - --error-logfile - httpbin:app
