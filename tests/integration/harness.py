"""harness.py - the integration tests' fixtures: a private database, keys,
adapters, a real tocsind on loopback, a CURVE adapter client.

Standard library + zmq + msgpack only (Debian's /usr/bin/python3 with
python3-zmq and python3-msgpack).

Environment:
  TOCSIN_BUILD        build directory with tocsind and tocsin (default: build),
                      relative to the working directory or to the repository
  TOCSIN_IT_TIMEOUT_S per-test wall-clock bound (default 150)
  TOCSIN_IT_KEEP=1    keep temporary directories (logs, journals, keys)

Everything is bounded in time; servers bind 127.0.0.1 only; every process
started here is stopped in a cleanup, also when a test fails.
"""
import atexit
import csv
import glob
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import msgpack
import zmq

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_DIR = os.path.join(REPO, "schema")
PG_SH = os.path.join(REPO, "scripts", "pg.sh")
PG_SOCKET_DIR = os.path.join(REPO, "var", "pg", "run")
PG_PORT = int(os.environ.get("TOCSIN_PG_PORT", "5439"))
KEEP = os.environ.get("TOCSIN_IT_KEEP") == "1"
TEST_TIMEOUT_S = float(os.environ.get("TOCSIN_IT_TIMEOUT_S", "150"))
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 20.0
CMD_TIMEOUT_S = 60.0


def _build_dir():
    b = os.environ.get("TOCSIN_BUILD", "build")
    if os.path.isabs(b):
        return b
    for base in (os.getcwd(), REPO):
        p = os.path.join(base, b)
        if os.path.isdir(p):
            return os.path.abspath(p)
    return os.path.join(REPO, b)


BUILD = _build_dir()
TOCSIND = os.path.join(BUILD, "tocsind")
TOCSIN = os.path.join(BUILD, "tocsin")


def _pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    return dirs[-1] if dirs else "/usr/bin"


PSQL = os.path.join(_pg_bindir(), "psql")


def run(cmd, timeout=CMD_TIMEOUT_S, check=True, cwd=None, env=None):
    """Run a command; return CompletedProcess (text). Raise with its output on failure."""
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("command failed (exit %d): %s\nstdout: %s\nstderr: %s"
                             % (p.returncode, " ".join(cmd), p.stdout.strip(), p.stderr.strip()))
    return p


def wait_until(predicate, timeout, interval=0.1, what="condition"):
    """Poll predicate() until it returns something truthy; return that value.
    Raise AssertionError naming `what` (a string or a callable giving one) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, desc))
        time.sleep(interval)


def lit(s):
    """An SQL string literal."""
    if s is None:
        return "NULL"
    return "'" + str(s).replace("'", "''") + "'"


_ports_given = set()


def free_port():
    """A loopback port free now and never handed out before by this process: a port
    picked ahead (a test's metrics listen) and not yet bound must not be picked again
    for another endpoint of the same server (the kernel may offer it twice)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise AssertionError("no fresh loopback port after 100 tries")


def now_ms():
    return int(time.time() * 1000)


_ids = itertools.count(1)
_run_tag = secrets.token_hex(3)


def unique_id(prefix="ev"):
    return "%s-%s-%d" % (prefix, _run_tag, next(_ids))


def make_event(source, id=None, type="asset.down", sector="energy", asset="ukpn.sub.1",
               time_ms=None, **extra):
    """A wire event map (design 3.1). time_ms: int ms (default now) or a msgpack.Timestamp.
    Pass sector=None / asset=None to leave them out."""
    ev = {"id": unique_id() if id is None else id, "source": source, "type": type,
          "time": now_ms() if time_ms is None else time_ms}
    if sector is not None:
        ev["sector"] = sector
    if asset is not None:
        ev["asset"] = asset
    ev.update(extra)
    return ev


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


CITY = os.path.join(REPO, "tests", "data", "demo-city")
ALL_SECTORS = ["chemicals", "civil-nuclear", "communications", "defence",
               "emergency-services", "energy", "finance", "food", "government", "health",
               "space", "transport", "water", "data"]


def scenario_events(name, base_ms, tag=None):
    """The rows of a demo-city scenario as wire events, in file (arrival) order; ids are
    "L<line>", prefixed with "<tag>-" when given (to send a scenario again)."""
    events = []
    with open(os.path.join(CITY, name)) as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            ev = {"id": ("%s-L%d" % (tag, line)) if tag else "L%d" % line,
                  "source": row["source"], "type": row["type"],
                  "time": base_ms + int(float(row["t_offset_s"]) * 1000)}
            for k in ("sector", "asset", "summary"):
                if row[k]:
                    ev[k] = row[k]
            if row["severity"]:
                ev["severity"] = int(row["severity"])
            events.append(ev)
    return events


# ---- PostgreSQL -------------------------------------------------------------------

# The login roles of schema/007_roles.sql and the private cluster's superuser,
# each with its password file made by scripts/pg.sh (var/pg/pass/<role>).
PG_PASS_DIR = os.path.join(REPO, "var", "pg", "pass")
PG_ROLES = {"super": "tocsin", "admin": "tocsin_admin", "server": "tocsin_server",
            "console": "tocsin_console"}


def pg_passfile(role="super"):
    return os.path.join(PG_PASS_DIR, PG_ROLES[role])


def pg_conninfo(dbname, role="super", passfile=True):
    """A conninfo as `role` (super, admin, server, console); with passfile=False, the
    password must come from elsewhere (PGPASSFILE, PGPASSWORD)."""
    c = "host=%s port=%d user=%s dbname=%s" % (PG_SOCKET_DIR, PG_PORT, PG_ROLES[role], dbname)
    return c + (" passfile=" + pg_passfile(role) if passfile else "")


def pg_start():
    run(["sh", PG_SH, "start"], timeout=120)


def pg_stop():
    run(["sh", PG_SH, "stop"], timeout=120)


def pg_running():
    return run(["sh", PG_SH, "status"], check=False, timeout=30).returncode == 0


class Database:
    """A fresh database on the private cluster, migrated with `tocsin db migrate`."""

    def __init__(self, name=None):
        self.name = name or "tocsin_it_" + secrets.token_hex(6)
        # the cluster's superuser: creates the database, runs its first migrate, and
        # lets tests look at (and tamper with) anything
        self.conninfo = pg_conninfo(self.name)
        # the roles of schema/007_roles.sql, as the tools and tocsind use them
        self.admin_conninfo = pg_conninfo(self.name, "admin")
        self.server_conninfo = pg_conninfo(self.name, "server")
        self.console_conninfo = pg_conninfo(self.name, "console")
        self.created = False

    def create(self):
        pg_start()
        self._admin("CREATE DATABASE %s" % self.name)
        self.created = True
        tocsin("--db", self.conninfo, "--schema", SCHEMA_DIR, "db", "migrate")
        return self

    def drop(self):
        if not self.created:
            return
        if not pg_running():
            pg_start()
        self._admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        self.created = False

    def _admin(self, sql):
        run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg_conninfo("postgres"),
             "-c", sql], env=_pg_env())

    def query(self, sql, timeout=30):
        """Rows of a SELECT as a list of dicts (through json_agg: numbers are numbers,
        NULL is None, jsonb is nested)."""
        wrapped = "SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql
        p = run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-d", self.conninfo,
                 "-c", wrapped], timeout=timeout, env=_pg_env())
        return json.loads(p.stdout)

    def scalar(self, sql):
        rows = self.query(sql)
        if not rows:
            return None
        return next(iter(rows[0].values()))

    def execute(self, sql):
        run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo, "-c", sql],
            env=_pg_env())

    def event_ids(self, source):
        return [r["id"] for r in self.query(
            "SELECT id FROM events WHERE source = %s" % lit(source))]


def _pg_env():
    env = dict(os.environ)
    env["PGCONNECT_TIMEOUT"] = "5"
    env.pop("PGSERVICE", None)
    return env


# ---- the tocsin CLI, keys ------------------------------------------------------------

def tocsin(*args, check=True, cwd=None, timeout=CMD_TIMEOUT_S):
    return run([TOCSIN] + list(args), check=check, cwd=cwd, timeout=timeout)


def read_z85(path):
    with open(path, "r", encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                if len(line) != 40:
                    raise AssertionError("%s: expected a 40-character Z85 key, got %r"
                                         % (path, line))
                return line.encode("ascii")
    raise AssertionError("%s: no key in file" % path)


class KeyPair:
    def __init__(self, name, public, secret, pub_path, key_path):
        self.name, self.public, self.secret = name, public, secret
        self.pub_path, self.key_path = pub_path, key_path


def keygen(directory, name):
    """`tocsin keygen NAME` in `directory`; returns a KeyPair."""
    tocsin("keygen", name, cwd=directory)
    pub = os.path.join(directory, name + ".pub")
    key = os.path.join(directory, name + ".key")
    return KeyPair(name, read_z85(pub), read_z85(key), pub, key)


def adapter_add(db, name, keypair, sectors, assets=None):
    args = ["--db", db.admin_conninfo, "adapter", "add", name, "--key", keypair.pub_path,
            "--sectors", ",".join(sectors)]
    if assets:
        args += ["--assets", ",".join(assets)]
    tocsin(*args)


def adapter_revoke(db, name):
    tocsin("--db", db.admin_conninfo, "adapter", "revoke", name)


def console_add(db, name, keypair, clearance="official-sensitive"):
    """A console key; of clearance official-sensitive unless told (the stream of
    `alerts.endpoint`, where Console connects by default), None for the command's own
    default (official)."""
    args = ["--db", db.admin_conninfo, "console", "add", name, "--key", keypair.pub_path]
    if clearance:
        args += ["--clearance", clearance]
    tocsin(*args)


def console_revoke(db, name):
    tocsin("--db", db.admin_conninfo, "console", "revoke", name)


# ---- tocsind ---------------------------------------------------------------------------

_live = set()  # TocsindProcess instances with a process, for the atexit safety net


@atexit.register
def _kill_leftovers():
    for t in list(_live):
        try:
            t.kill9()
        except Exception:
            pass


class TocsindProcess:
    """A tocsind on 127.0.0.1:<free port>, its config, key and journal in `workdir`."""

    def __init__(self, workdir, db, server_key, options=None):
        self.workdir = workdir
        self.db = db
        self.server_key = server_key
        self.port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        # the consoles' endpoints too, so that servers never share a port
        self.alerts_endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.control_endpoint = "tcp://127.0.0.1:%d" % free_port()
        # the lower clearances' streams (docs/control-rooms.md, "Need to know")
        self.alerts_endpoints = {
            "official-sensitive": self.alerts_endpoint,
            "official": "tcp://127.0.0.1:%d" % free_port(),
            "public": "tcp://127.0.0.1:%d" % free_port(),
        }
        self.config_path = os.path.join(workdir, "tocsind.ini")
        self.journal_dir = os.path.join(workdir, "journal")
        self.log_path = os.path.join(workdir, "tocsind.log")
        self.proc = None
        self.starts = 0
        self.log_offset = 0
        cfg = {
            "server": {"log_level": "info", "name": "tocsind-it"},
            "ingest": {"endpoint": self.endpoint, "server_key": server_key.key_path},
            "journal": {"dir": self.journal_dir, "segment_bytes": "1M"},
            # as tocsind is deployed: the server role, its password from PGPASSFILE
            # (start), which keeps the line short (inih reads 200 bytes a line)
            "store": {"conninfo": pg_conninfo(db.name, "server", passfile=False),
                      "retry_ms": "200"},
            "registry": {"poll_ms": "200"},
            "alerts": {"endpoint": self.alerts_endpoint,
                       "endpoint_official": self.alerts_endpoints["official"],
                       "endpoint_public": self.alerts_endpoints["public"],
                       "control_endpoint": self.control_endpoint},
        }
        for k, v in (options or {}).items():
            section, key = k.split(".", 1)
            cfg.setdefault(section, {})[key] = str(v)
        self.config = cfg
        self.write_config()

    def write_config(self):
        with open(self.config_path, "w") as f:
            for section, kv in self.config.items():
                f.write("[%s]\n" % section)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def start(self):
        assert not self.running, "tocsind already running"
        with open(self.log_path, "a") as lf:
            self.log_offset = lf.tell()
            lf.write("---- harness: start #%d ----\n" % (self.starts + 1))
            lf.flush()
            env = dict(os.environ, PGPASSFILE=pg_passfile("server"))
            self.proc = subprocess.Popen([TOCSIND, "--config", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                         cwd=self.workdir, env=env)
        _live.add(self)
        self.starts += 1
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if "tocsind ready" in self.log()[self.log_offset:]:
                return self
            if self.proc.poll() is not None:
                raise AssertionError("tocsind exited with status %d before ready; log:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            time.sleep(0.05)
        self.kill9()
        raise AssertionError("tocsind not ready within %.0fs; log:\n%s"
                             % (READY_TIMEOUT_S, self.log_tail()))

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; returns the exit status. A server that does not stop in time
        is killed and the test fails."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise AssertionError("tocsind did not stop within %.0fs of SIGTERM; log:\n%s"
                                     % (timeout, self.log_tail()))
        rc = self.proc.returncode
        self.proc = None
        _live.discard(self)
        self.assert_no_sanitizer_report()
        return rc

    SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")

    def assert_no_sanitizer_report(self):
        """Under SAN=... builds, a sanitizer report in the server's log fails the test (UBSan
        and TSan report and carry on, so the exit status alone would not show it)."""
        try:
            with open(self.log_path, errors="replace") as f:
                log = f.read()
        except OSError:
            return
        for mark in self.SANITIZER_MARKS:
            if mark in log:
                i = log.index(mark)
                raise AssertionError("sanitizer report in tocsind's log:\n%s"
                                     % log[max(0, i - 200):i + 3000])

    def kill9(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        _live.discard(self)

    def restart(self):
        self.stop()
        return self.start()

    def ensure_running(self):
        if not self.running:
            self.proc = None
            self.start()

    def cleanup(self):
        """For addCleanup: stop, and kill if that fails."""
        try:
            self.stop()
        except Exception:
            # A server that would not stop, or a sanitizer report: kill it,
            # and let unittest count the error against the test.
            self.kill9()
            raise


# ---- adapters ------------------------------------------------------------------------

_ctx = None


def context():
    global _ctx
    if _ctx is None:
        _ctx = zmq.Context()
    return _ctx


class Adapter:
    """A sector adapter: a DEALER (or REQ) with CURVE, one frame out, one reply in."""

    def __init__(self, server, keypair, source=None, socket_type=zmq.DEALER, timeout=10.0):
        self.server = server
        self.keypair = keypair
        self.source = source or "it/%s/%s" % (keypair.name, secrets.token_hex(3))
        self.socket_type = socket_type
        self.timeout = timeout
        self.sock = None
        self.connect()

    def connect(self):
        self.close()
        s = context().socket(self.socket_type)
        s.linger = 0
        s.curve_serverkey = self.server.server_key.public
        s.curve_publickey = self.keypair.public
        s.curve_secretkey = self.keypair.secret
        s.connect(self.server.endpoint)
        self.sock = s

    def close(self):
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def event(self, **kw):
        return make_event(self.source, **kw)

    def send_raw(self, data, timeout=None):
        """Send one frame; return the decoded reply, or None when none came in time
        (the socket is then replaced, so a late reply cannot be taken for a later one)."""
        timeout = self.timeout if timeout is None else timeout
        self.sock.send(data)
        if self.sock.poll(int(timeout * 1000), zmq.POLLIN):
            raw = self.sock.recv()
            return msgpack.unpackb(raw, raw=False, timestamp=0)
        self.connect()
        return None

    def send(self, obj, timeout=None):
        """Send an event or a list of events; return the reply; fail the test without one."""
        reply = self.send_raw(pack(obj), timeout)
        if reply is None:
            raise AssertionError("no reply from tocsind within %.1fs; log:\n%s"
                                 % (self.timeout if timeout is None else timeout,
                                    self.server.log_tail()))
        return reply


class Console:
    """A control-room console: a SUB on the alerts endpoint and a DEALER on the control
    endpoint, both with CURVE and the console's key (docs/control-rooms.md)."""

    def __init__(self, server, keypair, topics=("live/",), timeout=10.0,
                 clearance="official-sensitive"):
        """`clearance`: which of the server's alert streams the SUB connects to."""
        self.server, self.keypair, self.timeout = server, keypair, timeout
        self.topics = topics
        self.clearance = clearance
        self.sub = self.ctl = None
        self.connect()

    def _curve(self, s):
        s.linger = 0
        s.curve_serverkey = self.server.server_key.public
        s.curve_publickey = self.keypair.public
        s.curve_secretkey = self.keypair.secret

    def connect(self):
        self.close()
        self.sub = context().socket(zmq.SUB)
        self._curve(self.sub)
        for t in self.topics:
            self.sub.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.sub.connect(self.server.alerts_endpoints[self.clearance])
        self.connect_control()

    def connect_control(self):
        if self.ctl is not None:
            self.ctl.close(linger=0)
        self.ctl = context().socket(zmq.DEALER)
        self._curve(self.ctl)
        self.ctl.connect(self.server.control_endpoint)

    def close(self):
        for s in (self.sub, self.ctl):
            if s is not None:
                s.close(linger=0)
        self.sub = self.ctl = None

    def recv_alert(self, timeout=None):
        """(topic, body) of the next alert, or None when none came in time."""
        timeout = self.timeout if timeout is None else timeout
        if not self.sub.poll(int(timeout * 1000), zmq.POLLIN):
            return None
        topic, body = self.sub.recv_multipart()
        return topic.decode(), msgpack.unpackb(body, raw=False)

    def request_raw(self, data, timeout=None):
        """Send one request frame; the decoded reply, or None (the DEALER is then replaced,
        so a late reply cannot be taken for a later one)."""
        timeout = self.timeout if timeout is None else timeout
        self.ctl.send(data)
        if self.ctl.poll(int(timeout * 1000), zmq.POLLIN):
            return msgpack.unpackb(self.ctl.recv(), raw=False)
        self.connect_control()
        return None

    def request(self, timeout=None, **req):
        reply = self.request_raw(pack(req), timeout)
        if reply is None:
            raise AssertionError("no control reply within %.1fs; log:\n%s"
                                 % (self.timeout if timeout is None else timeout,
                                    self.server.log_tail()))
        return reply

    def since(self, seq):
        """Every alert after `seq` (following "more"), as a list of bodies."""
        out = []
        while True:
            r = self.request(op="since", seq=seq)
            if not r.get("ok"):
                raise AssertionError("since %d: %r" % (seq, r))
            out += r["alerts"]
            if r["alerts"]:
                seq = r["alerts"][-1]["seq"]
            if not r["more"]:
                return out


# ---- test case base ---------------------------------------------------------------------

class _Timeout(Exception):
    pass


class IntegrationCase(unittest.TestCase):
    """One database, one server key, a few adapters, one tocsind per test class.

    Subclasses set SERVER_OPTIONS ({"section.key": value}) and may override
    ADAPTERS: name -> (sectors, asset prefixes or None)."""

    SERVER_OPTIONS = {}
    ADAPTERS = {
        "energy": (["energy", "communications"], None),
        "scoped": (["energy"], ["ukpn.", "sub:"]),
    }
    START_SERVER = True

    @classmethod
    def setUpClass(cls):
        for exe in (TOCSIND, TOCSIN):
            if not os.access(exe, os.X_OK):
                raise AssertionError("%s not built (make all)" % exe)
        cls.tmp = tempfile.mkdtemp(prefix="tocsin-it-")
        if KEEP:
            sys.stderr.write("harness: keeping %s\n" % cls.tmp)
        else:
            cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.keydir = os.path.join(cls.tmp, "keys")
        os.mkdir(cls.keydir, 0o700)
        cls.db = Database()
        cls.addClassCleanup(cls.db.drop)
        cls.addClassCleanup(_ensure_pg_started)
        cls.db.create()
        cls.server_key = keygen(cls.keydir, "server")
        cls.keys = {}
        for name, (sectors, assets) in cls.ADAPTERS.items():
            cls.keys[name] = keygen(cls.keydir, name)
            adapter_add(cls.db, name, cls.keys[name], sectors, assets)
        cls.server = TocsindProcess(os.path.join(cls.tmp), cls.db, cls.server_key,
                                    cls.SERVER_OPTIONS)
        cls.addClassCleanup(cls.server.cleanup)
        if cls.START_SERVER:
            cls.server.start()

    def setUp(self):
        self._arm_timeout()
        if self.START_SERVER:
            self.server.ensure_running()

    def _arm_timeout(self):
        if threading.current_thread() is not threading.main_thread():
            return

        def on_alarm(signum, frame):
            raise _Timeout("test exceeded %.0fs (TOCSIN_IT_TIMEOUT_S)" % TEST_TIMEOUT_S)
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT_S)

        def disarm():
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        self.addCleanup(disarm)

    # helpers

    def adapter(self, name="energy", **kw):
        a = Adapter(self.server, self.keys[name], **kw)
        self.addCleanup(a.close)
        return a

    def new_key(self, name):
        """A key pair that is not registered (yet)."""
        return keygen(self.keydir, name)

    def wait_stored(self, source, ids, timeout=15.0):
        """Wait until every id of `ids` is in events for `source`; return the stored ids."""
        want = set(ids)

        def check():
            got = set(self.db.event_ids(source))
            return got if want <= got else None
        return wait_until(check, timeout, 0.2,
                          lambda: "%d events of %s in PostgreSQL; missing e.g. %s; log:\n%s" % (
                              len(want), source,
                              sorted(want - set(self.db.event_ids(source)))[:5],
                              self.server.log_tail()))

    def send_all(self, events, adapter="city"):
        """Send `events` in batches of 500 through adapter `adapter`; every one accepted."""
        a = self.adapter(adapter)
        for i in range(0, len(events), 500):
            batch = events[i:i + 500]
            reply = a.send(batch)
            self.assertEqual(reply["err"], [], reply)
            self.assertEqual(len(reply["ok"]) + len(reply["dup"]), len(batch))

    def assertReply(self, reply, ok=(), dup=(), err_codes=None):
        """ok/dup as lists of ids (order as in the frame); err_codes: {index: code}."""
        self.assertEqual(set(reply), {"ok", "dup", "err"}, reply)
        self.assertEqual(list(reply["ok"]), list(ok), reply)
        self.assertEqual(list(reply["dup"]), list(dup), reply)
        if err_codes is not None:
            got = {e["i"]: e["code"] for e in reply["err"]}
            self.assertEqual(got, dict(err_codes), reply)


def _ensure_pg_started():
    if not pg_running():
        pg_start()
