#!/usr/bin/env python3
"""Run a provisioned Glewlwyd OAuth2/OIDC server on 127.0.0.1 for the demo and the end-to-end tests.

    python3 scripts/idp.py serve --dir DIR --port PORT
    python3 scripts/idp.py rotate-key --dir DIR --port PORT [--instance oidc]

bootstraps a private Glewlwyd instance in DIR (sqlite database, config, RSA key), starts
`glewlwyd -c DIR/glewlwyd.conf -p PORT`, provisions it over its admin REST API (see
docs in /work/shared/test-stack.md, summarised below), prints one line `READY <issuer>` on stdout and stays in
the foreground until SIGTERM/SIGINT, until glewlwyd exits, or until its parent process dies.

What gets provisioned (issuer `http://127.0.0.1:PORT/api/oidc`):
  - OIDC plugin instance `oidc` (access tokens valid 3600 s) and `oidc-short` (access tokens valid 2 s,
    served under `/api/oidc-short/`);
  - scopes `read`, `write`, `introspect`;
  - users `john`/`doe` (openid, read), `jane`/`doe2` (openid only), `alice`/`alice-pw` (openid, read, write);
  - confidential client `kong`/`kong-secret` (password, client_credentials, refresh_token grants;
    client_secret_basic + client_secret_post; scopes read, introspect);
  - Glewlwyd's own admin user stays `admin`/`password`.

Bootstrap is fast: the first run provisions from scratch (~0.5 s) and keeps a copy of the provisioned
database in a cache directory (`--cache-dir`, default `${XDG_CACHE_HOME:-~/.cache}/gateway-idp`); later runs
copy it and rewrite the port-bearing values. `--no-cache` always provisions from scratch.

Python standard library only. Glewlwyd's output goes to DIR/glewlwyd.log.
"""

import argparse
import hashlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SCHEMA = "/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3"
BASE_CONF = "/etc/glewlwyd/glewlwyd.conf"
GLEWLWYD = shutil.which("glewlwyd") or "/usr/bin/glewlwyd"

# Bump when the provisioned content changes in a way the cache key would not see.
TEMPLATE_VERSION = "3"

SCOPES = [
    ("read", "Read", "Read access to the demo API"),
    ("write", "Write", "Write access to the demo API"),
    ("introspect", "Introspect", "May call the introspection and revocation endpoints"),
]
USERS = [
    ("john", "John Doe", "doe", ["openid", "read"]),
    ("jane", "Jane Doe", "doe2", ["openid"]),
    ("alice", "Alice Writer", "alice-pw", ["openid", "read", "write"]),
]
CLIENT = {
    "client_id": "kong",
    "name": "Gateway",
    "description": "The gateway's confidential client",
    "confidential": True,
    # The secret goes in client_secret, never in password (PBKDF2-hashed: ~67 introspections/s).
    "client_secret": "kong-secret",
    "authorization_type": ["password", "client_credentials", "refresh_token"],
    # Without token_endpoint_auth_method the password grant fails with an empty 500.
    "token_endpoint_auth_method": ["client_secret_basic", "client_secret_post"],
    "scope": ["read", "introspect"],
    "redirect_uri": [],
    "enabled": True,
}
# (plugin instance name, access token duration in seconds)
OIDC_INSTANCES = [("oidc", 3600), ("oidc-short", 2)]


def log(msg):
    print(f"idp.py: {msg}", file=sys.stderr, flush=True)


def base_url(port):
    return f"http://127.0.0.1:{port}"


def issuer(port, instance="oidc"):
    return f"{base_url(port)}/api/{instance}"


# ---------------------------------------------------------------------------------------------------------------
# Files: key, database, config
# ---------------------------------------------------------------------------------------------------------------


def make_key(dir_):
    """Create an RSA key pair with openssl; return (private PEM, public PEM)."""
    key = os.path.join(dir_, "oidc-key.pem")
    pub = os.path.join(dir_, "oidc-pub.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
    with open(key, encoding="ascii") as f:
        key_pem = f.read()
    with open(pub, encoding="ascii") as f:
        pub_pem = f.read()
    return key_pem, pub_pem


def create_db(path):
    with open(SCHEMA, encoding="utf-8") as f:
        schema = f.read()
    con = sqlite3.connect(path)
    try:
        con.executescript(schema)
        con.commit()
    finally:
        con.close()


def write_conf(dir_, port, db_path):
    """Derive DIR/glewlwyd.conf from the packaged config (port, bind address, URL, console log, sqlite db)."""
    with open(BASE_CONF, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = []
    seen_bind = False
    for line in lines:
        stripped = line.strip()
        if re.match(r"^port\s*=", stripped):
            line = f"port={port}"
        elif re.match(r"^#?\s*bind_address\s*=", stripped):
            line = 'bind_address="127.0.0.1"'
            seen_bind = True
        elif re.match(r"^external_url\s*=", stripped):
            line = f'external_url="{base_url(port)}"'
        elif re.match(r"^log_mode\s*=", stripped):
            line = 'log_mode="console"'
        elif re.match(r"^log_file\s*=", stripped):
            line = "# " + line
        elif stripped.startswith("@include") and "db.conf" in stripped:
            line = f'database = {{ type = "sqlite3" path = "{db_path}" }};'
        out.append(line)
    if not seen_bind:
        out.insert(0, 'bind_address="127.0.0.1"')
    conf = os.path.join(dir_, "glewlwyd.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return conf


# ---------------------------------------------------------------------------------------------------------------
# Admin REST API provisioning
# ---------------------------------------------------------------------------------------------------------------


class Admin:
    """A cookie-keeping client for Glewlwyd's admin API."""

    def __init__(self, port):
        self.api = f"{base_url(port)}/api"
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path} -> {e.code}: {e.read()[:500]!r}") from None


def oidc_parameters(port, instance, duration, key_pem, pub_pem):
    return {
        "iss": issuer(port, instance),
        "jwt-type": "rsa",
        "jwt-key-size": "256",
        "key": key_pem,
        "cert": pub_pem,
        "jwks-show": True,
        "access-token-duration": duration,
        "refresh-token-duration": 1209600,
        "refresh-token-rolling": False,
        "code-duration": 600,
        "allow-non-oidc": True,
        "auth-type-code-enabled": True,
        "auth-type-token-enabled": True,
        "auth-type-id-token-enabled": True,
        "auth-type-none-enabled": True,
        "auth-type-password-enabled": True,
        "auth-type-client-enabled": True,
        "auth-type-refresh-enabled": True,
        "allowed-scope": ["openid"],
        "subject-type": "public",
        "introspection-revocation-allowed": True,
        "introspection-revocation-allow-target-client": True,
        # Without it a client may introspect only its own tokens.
        "introspection-revocation-auth-scope": ["introspect"],
    }


def provision(port, key_pem, pub_pem):
    admin = Admin(port)
    admin.call("POST", "/auth/", {"username": "admin", "password": "password"})
    for name, duration in OIDC_INSTANCES:
        admin.call(
            "POST",
            "/mod/plugin/",
            {
                "module": "oidc",
                "name": name,
                "display_name": f"OpenID Connect ({name})",
                "enabled": True,
                "parameters": oidc_parameters(port, name, duration, key_pem, pub_pem),
            },
        )
    for name, display, description in SCOPES:
        admin.call(
            "POST",
            "/scope/",
            {
                "name": name,
                "display_name": display,
                "description": description,
                "password_required": False,
                "password_max_age": 0,
            },
        )
    for username, name, password, scopes in USERS:
        admin.call(
            "POST",
            "/user/",
            {"username": username, "name": name, "password": password, "scope": scopes, "enabled": True},
        )
    admin.call("POST", "/client/", CLIENT)


# ---------------------------------------------------------------------------------------------------------------
# Template cache
# ---------------------------------------------------------------------------------------------------------------


def cache_key():
    """Changes whenever this script, the schema, the base config or the glewlwyd binary change."""
    h = hashlib.sha256(TEMPLATE_VERSION.encode())
    for path in (os.path.abspath(__file__), SCHEMA, BASE_CONF, GLEWLWYD):
        st = os.stat(path)
        h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gateway-idp")


def template_paths(cache_dir):
    key = cache_key()
    return os.path.join(cache_dir, f"template-{key}.db"), os.path.join(cache_dir, f"template-{key}.json")


def load_template(cache_dir, db_path, port):
    """Copy a cached provisioned database to db_path, rewritten for port. Return True on success."""
    tdb, tmeta = template_paths(cache_dir)
    try:
        with open(tmeta, encoding="utf-8") as f:
            meta = json.load(f)
        shutil.copyfile(tdb, db_path)
    except (OSError, ValueError):
        return False
    old, new = base_url(meta["port"]), base_url(port)
    con = sqlite3.connect(db_path)
    try:
        con.execute(
            "UPDATE g_plugin_module_instance SET gpmi_parameters = replace(gpmi_parameters, ?, ?)", (old, new)
        )
        # Sessions of the provisioning run are of no use to anyone.
        con.execute("DELETE FROM g_user_session_scheme")
        con.execute("DELETE FROM g_user_session")
        con.commit()
    finally:
        con.close()
    return True


def save_template(cache_dir, db_path, port):
    """Store a consistent copy of the freshly provisioned database (sqlite backup API, atomic rename)."""
    tdb, tmeta = template_paths(cache_dir)
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, tmp_db = tempfile.mkstemp(dir=cache_dir, suffix=".db.tmp")
        os.close(fd)
        src = sqlite3.connect(db_path)
        dst = sqlite3.connect(tmp_db)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        os.replace(tmp_db, tdb)
        fd, tmp_meta = tempfile.mkstemp(dir=cache_dir, suffix=".json.tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"port": port}, f)
        os.replace(tmp_meta, tmeta)
        # Drop templates of older versions of this script or of glewlwyd.
        keep = {os.path.basename(tdb), os.path.basename(tmeta)}
        for name in os.listdir(cache_dir):
            if name.startswith("template-") and name not in keep:
                os.remove(os.path.join(cache_dir, name))
    except (OSError, sqlite3.Error) as e:
        log(f"could not cache the provisioned database: {e}")


# ---------------------------------------------------------------------------------------------------------------
# Process handling
# ---------------------------------------------------------------------------------------------------------------


def _child_setup():
    """In the glewlwyd child: die with SIGTERM if idp.py itself dies (Linux; best effort)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def start_glewlwyd(dir_, conf, port):
    logf = open(os.path.join(dir_, "glewlwyd.log"), "ab")  # noqa: SIM115 (kept open for the child's lifetime)
    proc = subprocess.Popen(
        [GLEWLWYD, "-c", conf, "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=logf,
        stderr=subprocess.STDOUT,
        preexec_fn=_child_setup,  # noqa: PLW1509 (single-threaded here)
        cwd=dir_,
    )
    logf.close()
    return proc


def wait_ready(proc, port, timeout=15.0):
    """Wait until the OIDC discovery document is served."""
    url = f"{issuer(port)}/.well-known/openid-configuration"
    deadline = time.monotonic() + timeout
    delay = 0.005
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"glewlwyd exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise RuntimeError(f"glewlwyd did not answer {url} within {timeout} s")


def wait_api(proc, port, timeout=15.0):
    """Wait until the admin API answers (before any plugin instance exists)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"glewlwyd exited early with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    raise RuntimeError(f"glewlwyd did not listen on port {port} within {timeout} s")


def stop(proc, timeout=5.0):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def serve(args):
    started = time.monotonic()
    dir_ = os.path.abspath(args.dir)
    os.makedirs(dir_, exist_ok=True)
    port = args.port
    db_path = os.path.join(dir_, "glewlwyd.db")
    if os.path.exists(db_path):
        os.remove(db_path)
    conf = write_conf(dir_, port, db_path)
    cache_dir = None if args.no_cache else os.path.abspath(args.cache_dir or default_cache_dir())

    parent = os.getppid()
    proc = None
    stopping = {"sig": None}

    def on_signal(signum, _frame):
        stopping["sig"] = signum
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        if cache_dir and load_template(cache_dir, db_path, port):
            how = "from cached template"
            proc = start_glewlwyd(dir_, conf, port)
            wait_ready(proc, port)
        else:
            how = "provisioned from scratch"
            create_db(db_path)
            key_pem, pub_pem = make_key(dir_)
            proc = start_glewlwyd(dir_, conf, port)
            wait_api(proc, port)
            provision(port, key_pem, pub_pem)
            wait_ready(proc, port)
            if cache_dir:
                save_template(cache_dir, db_path, port)
    except Exception as e:  # noqa: BLE001 (report any bootstrap failure and clean up)
        log(f"bootstrap failed: {e} (see {dir_}/glewlwyd.log)")
        if proc is not None:
            stop(proc)
        return 1

    if stopping["sig"] is not None:
        stop(proc)
        return 0
    log(f"glewlwyd pid {proc.pid} on {base_url(port)} {how} in {time.monotonic() - started:.2f} s; log in {dir_}/glewlwyd.log")
    print(f"READY {issuer(port)}", flush=True)

    while True:
        try:
            rc = proc.wait(timeout=0.25)
            if stopping["sig"] is None:
                log(f"glewlwyd exited with status {rc}")
                return rc if rc else 1
            return 0
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:
            log("parent process went away; stopping glewlwyd")
            stop(proc)
            return 0
        if stopping["sig"] is not None:
            stop(proc)
            return 0


def rotate_key(args):
    """Give OIDC instance `args.instance` a new RSA signing key at runtime (new `kid`): update its parameters
    over the admin API, then reset the instance so it signs with the new key and serves it in its JWKS
    (Glewlwyd needs no restart). Prints the instance's JWKS `kid`s after the rotation."""
    admin = Admin(args.port)
    admin.call("POST", "/auth/", {"username": "admin", "password": "password"})
    _, body = admin.call("GET", f"/mod/plugin/{args.instance}")
    plugin = json.loads(body)
    keys_dir = tempfile.mkdtemp(prefix="rotate-", dir=args.dir)
    key_pem, pub_pem = make_key(keys_dir)
    plugin["parameters"]["key"] = key_pem
    plugin["parameters"]["cert"] = pub_pem
    update = {k: plugin[k] for k in ("module", "name", "display_name", "enabled", "parameters")}
    admin.call("PUT", f"/mod/plugin/{args.instance}", update)
    admin.call("PUT", f"/mod/plugin/{args.instance}/reset")
    with urllib.request.urlopen(f"{issuer(args.port, args.instance)}/jwks", timeout=10) as resp:
        kids = [k.get("kid") for k in json.loads(resp.read())["keys"]]
    print(" ".join(kids), flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="Provisioned Glewlwyd IdP on 127.0.0.1")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="bootstrap, provision and run glewlwyd in the foreground")
    p.add_argument("--dir", required=True, help="state directory (database, config, key, log)")
    p.add_argument("--port", required=True, type=int, help="port on 127.0.0.1")
    p.add_argument("--cache-dir", help="where to keep the provisioned template database")
    p.add_argument("--no-cache", action="store_true", help="always provision from scratch")
    r = sub.add_parser("rotate-key", help="give a running OIDC instance a new signing key (new kid)")
    r.add_argument("--dir", required=True, help="where the new key files go")
    r.add_argument("--port", required=True, type=int, help="port of the running glewlwyd")
    r.add_argument("--instance", default="oidc", help="OIDC plugin instance (default oidc)")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        return serve(args)
    if args.cmd == "rotate-key":
        return rotate_key(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
