"""Create the lab's PostgreSQL clusters and their replication.

his-db-1 is the primary, his-db-2 a streaming standby made with pg_basebackup (the Active Data
Guard equivalent), his-db-3 a logical-replication subscriber of the HIS schema (the GoldenGate
equivalent). Clusters are created once inside their containers (``podman exec``, local peer
auth); every network connection, the replication ones included, goes to 127.0.0.1.

Each step first asks whether it is already done, so ``lab up`` can be run again safely.
"""

from __future__ import annotations

import logging
import shlex
import time
from typing import Any

import psycopg
from psycopg import sql

from hisops.lab import dataset, podman
from hisops.lab.errors import LabError
from hisops.lab.settings import PG_MAJOR
from hisops.lab.topology import HostSpec

log = logging.getLogger(__name__)

DBNAME = "his"
REPLICATOR = "replicator"
PUBLICATION = "his_pub"
SUBSCRIPTION = "his_sub"
CONF_DIR = f"/etc/postgresql/{PG_MAJOR}/main"
DATA_DIR = f"/var/lib/postgresql/{PG_MAJOR}/main"

# small enough that --hosts 20 and three clusters fit easily on the machine
BASE_CONF = """\
# written by hisops lab up
listen_addresses = '127.0.0.1'
shared_buffers = 32MB
max_connections = 40
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 128MB
hot_standby = on
hot_standby_feedback = on
"""


def connect(
    port: int, password: str, dbname: str = DBNAME, **kwargs: Any,
) -> psycopg.Connection[Any]:
    """A connection to the lab cluster on 127.0.0.1:PORT as the ``postgres`` superuser."""
    return psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", password=password, dbname=dbname,
        connect_timeout=5, **kwargs,
    )


def wait_ready(port: int, password: str, *, timeout: float = 60, dbname: str = "postgres") -> None:
    """Wait until the cluster on PORT accepts connections (and is out of startup)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with connect(port, password, dbname=dbname):
                return
        except psycopg.OperationalError as exc:
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        time.sleep(0.3)
    raise LabError(f"PostgreSQL on 127.0.0.1:{port} did not answer within {timeout:.0f} s: {last}")


def _sh(container: str, script: str, *, input_text: str | None = None,
        secret: str | None = None) -> str:
    """Run a shell SCRIPT as root in CONTAINER; secrets go through INPUT_TEXT, never argv.

    On failure the last output line is reported with SECRET masked (psql may quote the
    statement that carried it).
    """
    proc = podman.exec_in(container, ["bash", "-euo", "pipefail", "-c", script],
                          input_text=input_text, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        last = detail[-1] if detail else f"rc {proc.returncode}"
        if secret:
            last = last.replace(secret, "***")
        raise LabError(f"set-up in {container} failed: {last}")
    return proc.stdout


READY_MARKER = f"{CONF_DIR}/hisops-lab.ready"


def has_cluster(container: str) -> bool:
    """True when a cluster was fully set up here (its ready marker exists).

    A cluster left half-made by an interrupted ``lab up`` (no marker) is dropped, so the next
    step creates it again instead of trusting it.
    """
    proc = podman.exec_in(container, ["test", "-f", READY_MARKER, "-a",
                                      "-f", f"{CONF_DIR}/postgresql.conf"], check=False)
    if proc.returncode == 0:
        return True
    drop_cluster(container)
    return False


def drop_cluster(container: str) -> None:
    """Stop and remove the cluster in CONTAINER, if any (its data goes with it)."""
    _sh(container, f"""
if [[ -f {CONF_DIR}/postgresql.conf ]]; then
  pg_dropcluster --stop {PG_MAJOR} main
fi
# pg_dropcluster leaves files it did not create (our conf.d file, the ready marker)
rm -rf {CONF_DIR} {DATA_DIR}
""")


def forget_backups(container: str) -> None:
    """Empty a lab host's pgBackRest repository, restore-drill and refreshed-environment
    folders (the lab's primary was made again, so they describe a database that no longer
    exists)."""
    _sh(container, """
pkill -u postgres -f 'hisops-drill|hisops-env' || true
find /var/lib/pgbackrest -mindepth 1 -delete 2>/dev/null || true
rm -rf /var/lib/postgresql/hisops-drill /var/lib/postgresql/hisops-env /srv/hisops-small-disk/*
""")


def _mark_ready(container: str) -> None:
    _sh(container, f"touch {READY_MARKER}")


def _ensure_running(container: str) -> None:
    _sh(container, f"pg_ctlcluster {PG_MAJOR} main status >/dev/null "
                   f"|| pg_ctlcluster {PG_MAJOR} main start")


def _create_cluster(container: str, port: int, extra_conf: str = "") -> None:
    _sh(container, f"""
# data checksums on, as CIS 3.1 asks and as a hospital cluster should be created
pg_createcluster {PG_MAJOR} main -p {port} --locale C.UTF-8 -e UTF8 -- --data-checksums >/dev/null
install -d -o postgres -g postgres {CONF_DIR}/conf.d
grep -q "^include_dir = 'conf.d'" {CONF_DIR}/postgresql.conf \
  || echo "include_dir = 'conf.d'" >> {CONF_DIR}/postgresql.conf
cat > {CONF_DIR}/conf.d/hisops-lab.conf <<'CONF'
{BASE_CONF}{extra_conf}CONF
""")


def _write_pgpass(container: str, primary_port: int, password: str) -> None:
    """~postgres/.pgpass so walreceiver and the subscription find the replicator password."""
    _sh(container, """
umask 077
cat > /var/lib/postgresql/.pgpass
chown postgres:postgres /var/lib/postgresql/.pgpass
""", input_text=f"127.0.0.1:{primary_port}:*:{REPLICATOR}:{password}\n", secret=password)


def _set_passwords(container: str, password: str, *, primary: bool) -> None:
    """Set role passwords through psql's stdin (peer auth inside the container)."""
    quoted = password.replace("'", "''")
    stmts = [f"ALTER ROLE postgres PASSWORD '{quoted}';"]
    if primary:
        stmts += [
            f"CREATE ROLE {REPLICATOR} WITH LOGIN REPLICATION PASSWORD '{quoted}';",
            f"GRANT pg_read_all_data TO {REPLICATOR};",
        ]
    stmts.append(f"CREATE DATABASE {DBNAME};")
    _sh(container, "runuser -u postgres -- psql -q -X -v ON_ERROR_STOP=1 -f - >/dev/null",
        input_text="\n".join(stmts) + "\n", secret=quoted)


def ensure_primary(container: str, host: HostSpec, password: str) -> bool:
    """Create and start the primary cluster if it does not exist. True when it was created."""
    if has_cluster(container):
        _ensure_running(container)
        return False
    _create_cluster(container, host.pg)
    _sh(container, f"pg_ctlcluster {PG_MAJOR} main start")
    _set_passwords(container, password, primary=True)
    _mark_ready(container)
    log.info("created primary cluster on %s (port %d)", host.name, host.pg)
    return True


def ensure_standby(container: str, host: HostSpec, primary: HostSpec, password: str) -> bool:
    """Make HOST a streaming standby of PRIMARY with pg_basebackup. True when created now."""
    if has_cluster(container):
        _ensure_running(container)
        return False
    slot = host.name.replace("-", "_")
    with connect(primary.pg, password, dbname="postgres", autocommit=True) as conn:
        # a slot left by an earlier standby container would make pg_basebackup -C fail
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_name = %s AND NOT active", (slot,))
    standby_conf = (
        f"primary_conninfo = 'host=127.0.0.1 port={primary.pg} user={REPLICATOR} "
        f"application_name={host.name}'\nprimary_slot_name = '{slot}'\n"
    )
    _create_cluster(container, host.pg, standby_conf)
    _write_pgpass(container, primary.pg, password)
    _sh(container, f"""
rm -rf {DATA_DIR}
runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p {primary.pg} -U {REPLICATOR} \
  -D {DATA_DIR} -X stream -C -S {shlex.quote(slot)} -c fast -w
runuser -u postgres -- touch {DATA_DIR}/standby.signal
pg_ctlcluster {PG_MAJOR} main start
""")
    _mark_ready(container)
    log.info("created standby %s of %s (port %d)", host.name, primary.name, host.pg)
    return True


def ensure_publication(primary: HostSpec, password: str) -> None:
    with connect(primary.pg, password, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s",
                           (PUBLICATION,)).fetchone()
        if row is None:
            conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLES IN SCHEMA {}").format(
                sql.Identifier(PUBLICATION), sql.Identifier(dataset.SCHEMA)))


# The HIS application's own account and its interface configuration, as a hospital database
# has them: what a refreshed test copy must change (the account's production password, the
# endpoints that would otherwise send test traffic to the real LIS, PACS and insurance
# gateway). In a schema of its own, outside the logical publication of the his schema.
APP_ROLE = "his_app"
APP_CONFIG_SCHEMA = "his_config"
INTERFACE_ENDPOINTS = (  # reserved .example names: nothing is ever sent to them
    ("HIS-LIS", "https://lis.hospital.example/api/v2/results"),
    ("HIS-PACS", "https://pacs.hospital.example/wado-rs"),
    ("insurance-settlement", "https://settlement.insurance.example/api/settle"),
)


def ensure_app_config(primary: HostSpec, password: str) -> None:
    """The application account and the interface endpoint table on the primary (idempotent)."""
    with connect(primary.pg, password, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone() \
                is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(password)))
        schema = sql.Identifier(APP_CONFIG_SCHEMA)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.interface_endpoints ("
                             "name text PRIMARY KEY, url text NOT NULL)").format(schema))
        with conn.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO {}.interface_endpoints (name, url) "
                                    "VALUES (%s, %s) ON CONFLICT (name) DO NOTHING")
                            .format(schema), INTERFACE_ENDPOINTS)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {}, {} TO {}").format(
            schema, sql.Identifier(dataset.SCHEMA), sql.Identifier(APP_ROLE)))


def ensure_subscriber(container: str, host: HostSpec, primary: HostSpec, password: str) -> bool:
    """Make HOST a logical subscriber of the HIS schema on PRIMARY. True when created now."""
    created = False
    if not has_cluster(container):
        _create_cluster(container, host.pg)
        _sh(container, f"pg_ctlcluster {PG_MAJOR} main start")
        _set_passwords(container, password, primary=False)
        _write_pgpass(container, primary.pg, password)
        _mark_ready(container)
        created = True
    else:
        _ensure_running(container)
    wait_ready(host.pg, password, dbname=DBNAME)
    with connect(host.pg, password) as conn:
        dataset.apply_schema(conn)
    with connect(host.pg, password, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s",
                        (SUBSCRIPTION,)).fetchone() is not None:
            return created
    with connect(primary.pg, password, dbname="postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_name = %s AND NOT active", (SUBSCRIPTION,))
    conninfo = (f"host=127.0.0.1 port={primary.pg} dbname={DBNAME} user={REPLICATOR} "
                f"application_name={host.name}")
    with connect(host.pg, password, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
            sql.Identifier(SUBSCRIPTION), sql.Literal(conninfo), sql.Identifier(PUBLICATION)))
    log.info("subscribed %s to %s on %s", host.name, PUBLICATION, primary.name)
    return True


def wait_subscription_synced(port: int, password: str, *, timeout: float = 300) -> None:
    """Wait until every table of the subscription finished its initial copy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connect(port, password) as conn:
            row = conn.execute("SELECT count(*) FILTER (WHERE srsubstate <> 'r'), count(*) "
                               "FROM pg_subscription_rel").fetchone()
        if row is not None and row[1] > 0 and row[0] == 0:
            return
        time.sleep(0.5)
    raise LabError(f"the subscription on 127.0.0.1:{port} did not finish its initial copy")


def wait_streaming(port: int, password: str, *, timeout: float = 120) -> None:
    """Wait until the standby on PORT streams WAL from its primary."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connect(port, password, dbname="postgres") as conn:
                row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
            if row is not None and row[0] == "streaming":
                return
        except psycopg.OperationalError:
            pass  # still starting up
        time.sleep(0.5)
    raise LabError(f"the standby on 127.0.0.1:{port} is not streaming after {timeout:.0f} s")
