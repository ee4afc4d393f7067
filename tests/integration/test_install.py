"""test_install.py - `make install DESTDIR=... PREFIX=/usr` into a temporary directory, then
the installed files used as a user would: tocsind --check-config on the installed sample
configuration, tocsin --help, `tocsin db migrate` finding the installed schema by itself,
the installed tocsind running with a configuration made from the sample, a small C
program built against the installed header and library through the installed tocsin.pc
(shared and static) sending an event to it, the man pages rendered without a warning and
naming every verb and option the binaries' --help print, the systemd unit verified by
systemd-analyze, and `make uninstall` removing everything it installed and nothing else."""
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest

from harness import BUILD, KEEP, REPO, Database, free_port, pg_start, run, wait_until

MAKE_TIMEOUT_S = 300
# `make install` as packagers and docker/Dockerfile run it, with a DESTDIR added
INSTALL_ARGS = ("install", "PREFIX=/usr")
SDK_HEADERS = ["adapter.h", "error.h", "event.h"]


def make_env():
    """The environment for a nested make: without the jobserver and command-line variables
    of a make we may be running under (`make check SAN=...` passes them in MAKEFLAGS)."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def make(*args):
    """Run make in the repository with the build directory of the tests (TOCSIN_BUILD)."""
    build = os.path.relpath(BUILD, REPO)
    extra = ["BUILD=" + build]
    name = os.path.basename(BUILD)
    if name.startswith("build-"):  # build-address-undefined: SAN=address,undefined
        extra.append("SAN=" + name[len("build-"):].replace("-", ","))
    return run(["make", "--no-print-directory", "-C", REPO] + extra + list(args),
               timeout=MAKE_TIMEOUT_S, env=make_env())


def files_under(root):
    """Every file and symlink under root, as paths relative to it."""
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def expected_files(prefix, sysconf):
    p = prefix.lstrip("/")
    s = sysconf.lstrip("/")
    schema = sorted(f for f in os.listdir(os.path.join(REPO, "schema")) if f.endswith(".sql"))
    examples = sorted(f for f in os.listdir(os.path.join(REPO, "adapters", "examples"))
                      if f.endswith((".py", ".c", ".csv")))
    files = {p + "/bin/tocsind", p + "/bin/tocsin",
             p + "/lib/libtocsin-adapter.a", p + "/lib/libtocsin-adapter.so",
             p + "/lib/libtocsin-adapter.so.1", p + "/lib/libtocsin-adapter.so.1.0.0",
             p + "/lib/pkgconfig/tocsin.pc",
             p + "/share/man/man1/tocsin.1", p + "/share/man/man8/tocsind.8",
             p + "/lib/systemd/system/tocsind.service", p + "/lib/sysusers.d/tocsin.conf",
             s + "/tocsin/tocsind.conf.sample"}
    files |= {p + "/include/tocsin/" + h for h in SDK_HEADERS}
    files |= {p + "/share/tocsin/schema/" + f for f in schema}
    files |= {p + "/share/doc/tocsin/examples/" + f for f in examples}
    return files


def empty_database(case):
    """A new database on the private cluster with no schema at all; dropped after the test."""
    db = Database()
    case.addCleanup(db.drop)
    pg_start()
    db._admin("CREATE DATABASE %s" % db.name)
    db.created = True
    return db


def sanitizer_flags():
    name = os.path.basename(BUILD)
    if name.startswith("build-"):
        return ["-fsanitize=" + name[len("build-"):].replace("-", ",")]
    return []


SDK_PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tocsin/adapter.h>

static int oks, fails;

static void on_result(void *ud, const char *id, int status, const char *code, const char *msg)
{
	(void)ud;
	if (status == TN_ADAPTER_OK || status == TN_ADAPTER_DUP) {
		printf("ok %s\n", id);
		oks++;
	} else {
		printf("err %s %s %s\n", id, code, msg);
		fails++;
	}
}

/* argv: endpoint server.pub key-base event-id */
int main(int argc, char **argv)
{
	struct tn_adapter_options o;
	struct tn_adapter *a;
	struct tn_event ev;
	char err[256];
	int rc;

	if (argc != 5)
		return 2;
	if (strcmp(tn_sector_name(TN_SECTOR_ENERGY), "energy") != 0 ||
	    strcmp(tn_wire_code(TN_ESCHEMA), "E_SCHEMA") != 0)
		return 3;
	tn_adapter_options_init(&o);
	o.endpoint = argv[1];
	o.on_result = on_result;
	if (tn_adapter_options_keys(&o, argv[2], argv[3], err, sizeof err) != 0 ||
	    tn_adapter_open(&o, &a, err, sizeof err) != 0) {
		fprintf(stderr, "sdk: %s\n", err);
		return 1;
	}
	memset(&ev, 0, sizeof ev);
	ev.id = argv[4];
	ev.source = "installed/sdk";
	ev.type = TN_EV_DOWN;
	ev.time_us = tn_adapter_now_us();
	ev.sector = TN_SECTOR_ENERGY;
	ev.asset = "ukpn.sub.1";
	ev.summary = "sent by a program built against the installed SDK";
	if ((rc = tn_adapter_send(a, &ev)) != 0) {
		fprintf(stderr, "sdk: send: %s\n", tn_adapter_last_error(a));
		return 1;
	}
	rc = tn_adapter_flush(a, 20000);
	tn_adapter_close(a);
	if (rc != 0)
		fprintf(stderr, "sdk: flush: %s\n", tn_strerror(rc));
	return rc == 0 && oks == 1 && fails == 0 ? 0 : 1;
}
"""


class InstallTest(unittest.TestCase):
    """One `make install DESTDIR=D PREFIX=/usr`; each test uses what it installed."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tocsin-install-")
        if not KEEP:
            cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.dest = os.path.join(cls.tmp, "dest")
        cls.make_out = make(*INSTALL_ARGS, "DESTDIR=" + cls.dest).stdout
        cls.bin = os.path.join(cls.dest, "usr", "bin")
        cls.tocsind = os.path.join(cls.bin, "tocsind")
        cls.tocsin = os.path.join(cls.bin, "tocsin")
        cls.libdir = os.path.join(cls.dest, "usr", "lib")
        cls.etc = os.path.join(cls.dest, "etc", "tocsin")

    def path(self, rel):
        return os.path.join(self.dest, rel.lstrip("/"))

    def read(self, rel):
        with open(self.path(rel)) as f:
            return f.read()

    # ---- what is installed where ----------------------------------------------------

    def test_files_installed_and_nothing_else(self):
        self.assertEqual(files_under(self.dest), expected_files("/usr", "/etc"))
        for exe in (self.tocsind, self.tocsin):
            self.assertEqual(stat.S_IMODE(os.stat(exe).st_mode), 0o755, exe)
        self.assertEqual(os.readlink(os.path.join(self.libdir, "libtocsin-adapter.so")),
                         "libtocsin-adapter.so.1")
        self.assertEqual(os.readlink(os.path.join(self.libdir, "libtocsin-adapter.so.1")),
                         "libtocsin-adapter.so.1.0.0")
        for f in os.listdir(os.path.join(REPO, "schema")):
            with open(os.path.join(REPO, "schema", f)) as a:
                self.assertEqual(a.read(), self.read("/usr/share/tocsin/schema/" + f), f)

    def test_pkg_config_file_names_the_prefix_not_destdir(self):
        pc = self.read("/usr/lib/pkgconfig/tocsin.pc")
        self.assertIn("prefix=/usr\n", pc)
        self.assertIn("libdir=/usr/lib\n", pc)
        self.assertIn("includedir=/usr/include\n", pc)
        self.assertNotIn(self.dest, pc)
        self.assertNotIn("@", pc)
        out = run(["pkg-config", "--modversion", "tocsin"], env=self.pc_env()).stdout.strip()
        self.assertEqual(out, run([self.tocsind, "--version"]).stdout.split()[1])

    def test_shared_library_soname_and_exports_are_the_headers(self):
        so = os.path.join(self.libdir, "libtocsin-adapter.so.1.0.0")
        dyn = run(["readelf", "-d", so]).stdout
        self.assertRegex(dyn, r"SONAME\)\s+Library soname: \[libtocsin-adapter\.so\.1\]")
        exported = set()
        for line in run(["nm", "-D", "--defined-only", so]).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TtWw":
                exported.add(parts[2].split("@")[0])
        declared = set()
        for h in SDK_HEADERS:
            text = self.read("/usr/include/tocsin/" + h)
            declared |= set(re.findall(r"^[a-z][\w \*]*?\b(tn_\w+)\(", text, re.M))
        self.assertTrue(declared, "no prototypes found in the installed headers")
        self.assertEqual(exported, declared,
                         "the library must export exactly the installed headers' functions")

    # ---- the installed binaries --------------------------------------------------------

    def test_binaries_run_from_destdir(self):
        out = run([self.tocsind, "--version"]).stdout
        self.assertRegex(out, r"^tocsind \d+\.\d+ \(wire protocol v1\)")
        out = run([self.tocsin, "--help"]).stdout
        self.assertIn("db migrate", out)
        # the installed binaries need nothing from the build tree
        for exe in (self.tocsind, self.tocsin):
            ldd = run(["ldd", exe]).stdout
            self.assertNotIn("not found", ldd)
            self.assertNotIn(REPO, ldd)

    def test_sample_config_passes_check_config(self):
        conf_dir = os.path.join(self.tmp, "etc-check")
        shutil.copytree(self.etc, conf_dir)
        conf = os.path.join(conf_dir, "tocsind.conf")
        shutil.copy(os.path.join(conf_dir, "tocsind.conf.sample"), conf)
        # without the server key the sample is refused, naming the key
        p = run([self.tocsind, "--config", conf, "--check-config"], check=False)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("ingest.server_key", p.stderr)
        self.assertIn(os.path.join(conf_dir, "server.key"), p.stderr)
        # with it (relative to the configuration's directory, as the sample says), it passes
        run([self.tocsin, "keygen", "server"], cwd=conf_dir)
        p = run([self.tocsind, "--config", conf, "--check-config"])
        self.assertEqual(p.stdout.strip(), conf + ": ok")

    def test_db_migrate_finds_the_installed_schema(self):
        db = empty_database(self)
        # from a directory without ./schema, and without --schema or TOCSIN_SCHEMA_DIR
        env = dict(os.environ)
        env.pop("TOCSIN_SCHEMA_DIR", None)
        p = run([self.tocsin, "--db", db.conninfo, "db", "migrate"], cwd=self.tmp, env=env)
        applied = re.findall(r"^applied (\S+)$", p.stdout, re.M)
        self.assertEqual(applied, sorted(os.listdir(self.path("/usr/share/tocsin/schema"))))
        p = run([self.tocsin, "--db", db.conninfo, "db", "status"], cwd=self.tmp, env=env)
        self.assertIn("schema is up to date", p.stdout)
        # --schema still wins, and a wrong one is a clear error
        p = run([self.tocsin, "--db", db.conninfo, "--schema", "/nonexistent", "db", "status"],
                cwd=self.tmp, env=env, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot open schema directory /nonexistent", p.stderr)

    def test_installed_server_accepts_an_event_from_a_program_built_on_the_installed_sdk(self):
        work = os.path.join(self.tmp, "run")
        os.makedirs(work)
        db = empty_database(self)
        run([self.tocsin, "--db", db.conninfo, "db", "migrate"], cwd=work)
        run([self.tocsin, "keygen", "server"], cwd=work)
        run([self.tocsin, "keygen", "sdk"], cwd=work)
        run([self.tocsin, "--db", db.conninfo, "adapter", "add", "sdk", "--key", "sdk.pub",
             "--sectors", "energy"], cwd=work)

        # the sample configuration, with loopback test ports, the journal here and the
        # test database
        port = free_port()
        conf = self.read("/etc/tocsin/tocsind.conf.sample")
        subst = {"tcp://127.0.0.1:7450": "tcp://127.0.0.1:%d" % port,
                 "tcp://127.0.0.1:7451": "tcp://127.0.0.1:%d" % free_port(),
                 "tcp://127.0.0.1:7452": "tcp://127.0.0.1:%d" % free_port(),
                 "/var/lib/tocsin/journal": os.path.join(work, "journal"),
                 "host=/run/postgresql dbname=tocsin user=tocsin_server": db.conninfo}
        for old, new in subst.items():
            self.assertIn(old, conf)
            conf = conf.replace(old, new)
        with open(os.path.join(work, "tocsind.conf"), "w") as f:
            f.write(conf)
        log = open(os.path.join(work, "tocsind.log"), "w")
        self.addCleanup(log.close)
        server = subprocess.Popen([self.tocsind, "--config", "tocsind.conf"], cwd=work,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(stop_process, server)

        def server_log():
            with open(os.path.join(work, "tocsind.log")) as f:
                return f.read()
        wait_until(lambda: "tocsind ready" in server_log() or server.poll() is not None, 15,
                   what="tocsind ready")
        self.assertIsNone(server.poll(), server_log())

        for kind in ("shared", "static"):
            with self.subTest(kind):
                exe = self.build_sdk_program(kind)
                event_id = "installed-%s-%d" % (kind, time.time_ns())
                p = run([exe, "tcp://127.0.0.1:%d" % port, "server.pub", "sdk", event_id],
                        cwd=work, env=self.run_env(), check=False, timeout=60)
                self.assertEqual((p.returncode, p.stdout), (0, "ok %s\n" % event_id),
                                 "%s\n%s" % (p.stderr, server_log()[-3000:]))
                wait_until(lambda: db.scalar("SELECT count(*) FROM events WHERE id = '%s'"
                                             % event_id) == 1, 15, 0.2,
                           what="the event stored in PostgreSQL")
        stop_process(server)
        self.assertEqual(server.returncode, 0, server_log()[-3000:])

    def pc_env(self):
        env = dict(os.environ)
        env["PKG_CONFIG_PATH"] = os.path.join(self.libdir, "pkgconfig")
        env["PKG_CONFIG_SYSROOT_DIR"] = self.dest
        return env

    def run_env(self):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = self.libdir
        return env

    def build_sdk_program(self, kind):
        """Compile SDK_PROGRAM against the installed files only, through tocsin.pc."""
        src = os.path.join(self.tmp, "sdk.c")
        with open(src, "w") as f:
            f.write(SDK_PROGRAM)
        cflags = run(["pkg-config", "--cflags", "tocsin"], env=self.pc_env()).stdout.split()
        self.assertIn("-I" + os.path.join(self.dest, "usr", "include"), cflags)
        exe = os.path.join(self.tmp, "sdk-" + kind)
        if kind == "shared":
            libs = run(["pkg-config", "--libs", "tocsin"], env=self.pc_env()).stdout.split()
        else:
            # The archive, and the libraries it needs shared: Debian's libzmq.pc gives a
            # --static link line that does not link (libprotokit.a, from libnorm).
            libs = run(["pkg-config", "--libs", "tocsin", "libzmq", "msgpack"],
                       env=self.pc_env()).stdout.split()
            libs = [("-l:libtocsin-adapter.a" if x == "-ltocsin-adapter" else x) for x in libs]
        self.assertIn("-L" + self.libdir, libs)
        # no -I of the source tree: the installed headers and the system's only
        run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] + sanitizer_flags() + cflags
            + ["-o", exe, src] + libs, cwd=self.tmp)
        ldd = run(["ldd", exe], env=self.run_env()).stdout
        if kind == "shared":
            self.assertRegex(ldd, r"libtocsin-adapter\.so\.1 => %s/libtocsin-adapter\.so\.1"
                             % re.escape(self.libdir))
        else:
            self.assertNotIn("libtocsin-adapter", ldd)
        return exe

    # ---- man pages -----------------------------------------------------------------

    def render(self, page):
        """Render an installed man page at 80 and 60 columns; every warning fails."""
        path = self.path(page)
        out = None
        for width in ("80", "60"):
            env = dict(os.environ, MANWIDTH=width, MAN_KEEP_FORMATTING="0")
            p = run(["man", "--warnings", "-l", path], env=env)
            self.assertEqual(p.stderr, "", "man %s at %s columns" % (page, width))
            if out is None:
                out = re.sub(".\b", "", p.stdout)  # overstrike bold and underline
        p = run(["groff", "-ww", "-z", "-man", path])
        self.assertEqual(p.stderr, "", page)
        return out

    def test_man_pages_render_without_warnings(self):
        for page in ("/usr/share/man/man8/tocsind.8", "/usr/share/man/man1/tocsin.1"):
            text = self.render(page)
            self.assertIn("NAME", text)
            self.assertIn("SYNOPSIS", text)
        # and the check can fail: a page with an undefined macro is reported
        bad = os.path.join(self.tmp, "bad.1")
        with open(bad, "w") as f:
            f.write(".TH BAD 1\n.SH NAME\nbad \\- bad\n.XYZ nothing\n")
        p = run(["man", "--warnings", "-l", bad], check=False)
        self.assertIn("warning", p.stderr)

    def test_tocsind_man_page_has_every_option_of_help(self):
        text = man_source(self.read("/usr/share/man/man8/tocsind.8"))
        helptext = run([self.tocsind, "--help"]).stdout
        opts = set(re.findall(r"--[a-z][a-z-]*", helptext))
        self.assertGreaterEqual(opts, {"--config", "--check-config", "--version"})
        for o in opts | {"--help"}:
            self.assertIn(o, text)
        for sig in ("SIGTERM", "SIGINT", "SIGHUP"):
            self.assertIn(sig, text)

    def test_tocsin_man_page_has_every_verb_sub_verb_and_option(self):
        sections = man_sections(man_source(self.read("/usr/share/man/man1/tocsin.1")))
        top = run([self.tocsin, "--help"]).stdout
        verbs = re.findall(r"^  ([a-z]+) ", top, re.M)
        self.assertGreaterEqual(len(verbs), 13, top)
        # global options: in the synopsis and GLOBAL OPTIONS
        for o in re.findall(r"--[a-z][a-z-]*", top.split("\n", 1)[0]):
            self.assertIn(o, sections["GLOBAL OPTIONS"])
        missing = []
        for verb in dict.fromkeys(verbs):
            sec = sections.get("tocsin " + verb)
            if sec is None:
                missing.append("no section .SS \"tocsin %s\"" % verb)
                continue
            p = run([self.tocsin, verb, "--help"], check=False)
            helptext = p.stdout + p.stderr
            self.assertIn("usage: tocsin " + verb, helptext)
            for sub in re.findall(r"tocsin %s ([a-z][a-z-]*)\b" % verb, helptext):
                if "tocsin %s %s" % (verb, sub) not in sec:
                    missing.append("tocsin %s %s" % (verb, sub))
            for o in set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-o)\b", helptext)) - {"--help"}:
                if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), sec):
                    missing.append("tocsin %s: %s" % (verb, o))
        self.assertEqual(missing, [], "tocsin(1) is behind the binary's --help")

    # ---- systemd -------------------------------------------------------------------

    def unit(self):
        return self.read("/usr/lib/systemd/system/tocsind.service")

    def test_systemd_unit_is_hardened_and_names_the_installed_paths(self):
        unit = self.unit()
        directives = {}
        for line in unit.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                directives.setdefault(k, []).append(v)
        want = {"User": "tocsin", "Group": "tocsin", "ProtectSystem": "strict",
                "NoNewPrivileges": "yes", "StateDirectory": "tocsin", "PrivateTmp": "yes",
                "ProtectHome": "yes", "CapabilityBoundingSet": "",
                "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
                "ExecReload": "/bin/kill -HUP $MAINPID"}
        for k, v in want.items():
            self.assertEqual(directives.get(k), [v], k)
        self.assertIn("@system-service", directives["SystemCallFilter"])
        self.assertTrue(int(directives["TimeoutStopSec"][0]) > 5)  # past the 5 s store drain
        self.assertEqual(directives["ExecStart"],
                         ["/usr/bin/tocsind --config /etc/tocsin/tocsind.conf"])
        # the journal of the sample configuration is in the StateDirectory
        self.assertIn("dir = /var/lib/tocsin/journal",
                      self.read("/etc/tocsin/tocsind.conf.sample"))
        sysusers = self.read("/usr/lib/sysusers.d/tocsin.conf")
        self.assertRegex(sysusers, r"(?m)^u tocsin - ")

    def verify_unit(self, text):
        """systemd-analyze verify of a copy of the unit whose binaries point into DESTDIR
        (they are not installed on this machine). Returns its (status, output)."""
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed (apt: systemd)")
        d = tempfile.mkdtemp(dir=self.tmp)
        path = os.path.join(d, "tocsind.service")
        with open(path, "w") as f:
            f.write(text.replace("/usr/bin/tocsind", self.tocsind))
        env = dict(os.environ, MANPATH=self.path("/usr/share/man"))
        p = run(["systemd-analyze", "verify", path], check=False, env=env, timeout=60)
        return p.returncode, (p.stdout + p.stderr).strip()

    def test_systemd_analyze_verify(self):
        # systemd-analyze exits 0 on an unknown or bad directive but prints it: both count
        self.assertEqual(self.verify_unit(self.unit()), (0, ""))
        rc, out = self.verify_unit(self.unit().replace("ProtectSystem=strict",
                                                       "ProtectSystem=strickt"))
        self.assertIn("strickt", out)

    def test_systemd_analyze_security_exposure(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed (apt: systemd)")
        p = run(["systemd-analyze", "security", "--offline=yes",
                 self.path("/usr/lib/systemd/system/tocsind.service")], check=False,
                timeout=60)
        m = re.search(r"Overall exposure level for tocsind\.service: (\d+\.\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        # 0 is a fully sandboxed service, 10 none at all; systemd calls < 2 "OK"
        self.assertLess(float(m.group(1)), 2.0, p.stdout)


class ComposeScriptsTest(unittest.TestCase):
    """What docker/compose.yaml runs, run here with the installed binaries (no container
    engine): docker/setup.sh (twice: it must be idempotent), tocsind with
    docker/tocsind.conf (loopback ports and local paths in place of the container's),
    the installed console example, and docker/feed.sh, which makes the fire's incident."""

    def test_setup_feed_and_console_as_compose_runs_them(self):
        tmp = tempfile.mkdtemp(prefix="tocsin-compose-")
        if not KEEP:
            self.addCleanup(shutil.rmtree, tmp, True)
        dest = os.path.join(tmp, "dest")
        make(*INSTALL_ARGS, "DESTDIR=" + dest)
        keys = os.path.join(tmp, "keys")
        os.mkdir(keys, 0o700)
        with open(os.path.join(tmp, "pg_password"), "w") as f:
            f.write("s3cret-for-the-test\n")
        db = empty_database(self)
        env = dict(os.environ, PATH=os.path.join(dest, "usr", "bin") + ":" + os.environ["PATH"],
                   TOCSIN_DB=db.conninfo, TOCSIN_KEYS=keys,
                   TOCSIN_CITY=os.path.join(REPO, "tests", "data", "demo-city"),
                   TOCSIN_PG_PASSWORD_FILE=os.path.join(tmp, "pg_password"))
        env.pop("TOCSIN_SCHEMA_DIR", None)
        setup = os.path.join(REPO, "docker", "setup.sh")
        first = run([setup], env=env, cwd=tmp, timeout=120).stdout
        self.assertIn("applied 001_init.sql", first)  # the installed schema
        self.assertEqual(len(re.findall(r"^added adapter", first, re.M)), 5, first)
        self.assertIn('added console "desk1"', first)
        for k in ("server", "power", "water", "netco", "transport", "health", "desk1"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(keys, k + ".key")).st_mode),
                             0o600, k)
        pgpass = os.path.join(keys, "pgpass")
        self.assertEqual(stat.S_IMODE(os.stat(pgpass).st_mode), 0o600)
        with open(pgpass) as f:
            self.assertEqual(f.read(), "*:*:*:*:s3cret-for-the-test\n")
        with open(os.path.join(keys, "server.pub")) as f:
            server_pub = f.read()
        again = run([setup], env=env, cwd=tmp, timeout=120).stdout
        self.assertNotIn("added", again)
        self.assertIn("schema is up to date", again)
        with open(os.path.join(keys, "server.pub")) as f:
            self.assertEqual(f.read(), server_pub, "a second run keeps the keys")
        # a missing password file is a clear error
        bad = dict(env, TOCSIN_PG_PASSWORD_FILE=os.path.join(tmp, "empty"))
        open(bad["TOCSIN_PG_PASSWORD_FILE"], "w").close()
        p = run([setup], env=bad, cwd=tmp, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is empty", p.stderr)

        # docker/tocsind.conf, with what differs outside a container
        ports = [free_port() for _ in range(3)]
        with open(os.path.join(REPO, "docker", "tocsind.conf")) as f:
            conf = f.read()
        subst = {"tcp://0.0.0.0:7450": "tcp://127.0.0.1:%d" % ports[0],
                 "tcp://0.0.0.0:7451": "tcp://127.0.0.1:%d" % ports[1],
                 "tcp://0.0.0.0:7452": "tcp://127.0.0.1:%d" % ports[2],
                 "0.0.0.0:9464": "127.0.0.1:%d" % free_port(),
                 "/etc/tocsin/keys/": keys + "/",
                 "/var/lib/tocsin/journal": os.path.join(tmp, "journal"),
                 "host=postgres dbname=tocsin user=tocsin": db.conninfo}
        for old, new in subst.items():
            self.assertIn(old, conf)
            conf = conf.replace(old, new)
        conf_path = os.path.join(tmp, "tocsind.conf")
        tocsind = os.path.join(dest, "usr", "bin", "tocsind")
        with open(conf_path, "w") as f:
            f.write(conf)
        p = run([tocsind, "--config", conf_path, "--check-config"], check=False)
        if "unknown section [metrics]" in p.stderr:  # before issue 7 item 1
            with open(conf_path, "w") as f:
                f.write(conf[:conf.index("[metrics]")])
        log = open(os.path.join(tmp, "tocsind.log"), "w")
        self.addCleanup(log.close)
        server = subprocess.Popen([tocsind, "--config", conf_path], cwd=tmp,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def server_log():
            with open(os.path.join(tmp, "tocsind.log")) as f:
                return f.read()
        self.addCleanup(stop_process, server)
        wait_until(lambda: "tocsind ready" in server_log() or server.poll() is not None, 15,
                   what="tocsind ready")
        self.assertIsNone(server.poll(), server_log())

        console_log = open(os.path.join(tmp, "console.log"), "w")
        self.addCleanup(console_log.close)
        console = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(dest, "usr/share/doc/tocsin/examples/console.py"),
             "--server-key", os.path.join(keys, "server.pub"), "--key", os.path.join(keys, "desk1"),
             "--alerts", "tcp://127.0.0.1:%d" % ports[1],
             "--control", "tcp://127.0.0.1:%d" % ports[2],
             "--operator", "duty officer", "--ack-p1", "--seconds", "60"],
            stdout=console_log, stderr=subprocess.STDOUT, env=env)
        self.addCleanup(stop_process, console)
        time.sleep(1)

        p = run([os.path.join(REPO, "docker", "feed.sh")],
                env=dict(env, TOCSIN_ENDPOINT="tcp://127.0.0.1:%d" % ports[0]), timeout=120)
        with open(os.path.join(env["TOCSIN_CITY"], "scenario-substation-fire.csv")) as f:
            n = len(f.read().splitlines()) - 1
        self.assertIn("feed: %d events accepted" % n, p.stdout)

        # the fire's incident, as make demo shows it, and the console acknowledged it
        def fire():
            rows = db.query("SELECT priority, cause, jsonb_array_length(body->'affected') AS n "
                            "FROM incidents WHERE root_asset = 'SUB-ALD-PRI-07' "
                            "AND cause = 'observed'")
            return rows[0] if rows and rows[0]["n"] >= 15 else None
        inc = wait_until(fire, 30, 0.3, what="the substation fire's incident")
        self.assertEqual(inc["priority"], 1)
        wait_until(lambda: db.scalar("SELECT count(*) FROM alert_acks "
                                     "WHERE operator = 'duty officer'") >= 1, 30, 0.3,
                   what="the console's acknowledgement of the P1")
        stop_process(server)
        self.assertEqual(server.returncode, 0, server_log()[-3000:])


def stop_process(p, timeout=20):
    """SIGTERM, wait, SIGKILL past the timeout; for addCleanup."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


class DefaultPrefixAndUninstallTest(unittest.TestCase):
    def test_default_prefix_then_uninstall_leaves_only_the_operators_files(self):
        tmp = tempfile.mkdtemp(prefix="tocsin-uninstall-")
        self.addCleanup(shutil.rmtree, tmp, True)
        make("install", "DESTDIR=" + tmp)
        self.assertEqual(files_under(tmp), expected_files("/usr/local", "/usr/local/etc"))
        with open(os.path.join(tmp, "usr/local/lib/systemd/system/tocsind.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/local/bin/tocsind --config "
                      "/usr/local/etc/tocsin/tocsind.conf\n", unit)
        with open(os.path.join(tmp, "usr/local/lib/pkgconfig/tocsin.pc")) as f:
            pc = f.read()
        self.assertIn("prefix=/usr/local\n", pc)

        # an operator's configuration and key beside the sample survive uninstall
        etc = os.path.join(tmp, "usr/local/etc/tocsin")
        for name in ("tocsind.conf", "server.key"):
            with open(os.path.join(etc, name), "w") as f:
                f.write("kept\n")
        make("uninstall", "DESTDIR=" + tmp)
        self.assertEqual(files_under(tmp), {"usr/local/etc/tocsin/tocsind.conf",
                                            "usr/local/etc/tocsin/server.key"})
        left = {os.path.relpath(d, tmp) for d, _, _ in os.walk(tmp)}
        for d in ("usr/local/include/tocsin", "usr/local/share/tocsin",
                  "usr/local/share/doc/tocsin"):
            self.assertNotIn(d, left)


def man_source(roff):
    """The text of a roff page, enough to search: escapes \\- and \\e undone, fonts and
    zero-width break points dropped, comments removed."""
    out = []
    for line in roff.splitlines():
        if line.startswith('.\\"'):
            continue
        line = line.replace("\\-", "-").replace("\\e", "\\").replace("\\:", "")
        line = re.sub(r"\\f[BIRP]", "", line)
        out.append(line)
    return "\n".join(out)


def man_sections(text):
    """{title: text} of the .SH and .SS sections; a .SS belongs to itself only."""
    sections, title, cur = {}, None, []
    for line in text.splitlines():
        m = re.match(r'^\.S[HS] "?([^"]*)"?$', line)
        if m:
            if title:
                sections[title] = "\n".join(cur)
            title, cur = m.group(1), []
        else:
            # font macros: .B / .BR / .IR ... join their words as rendered
            m = re.match(r"^\.(B|I|BR|RB|IR|RI|BI|IB) (.*)$", line)
            if m:
                words = re.findall(r'"[^"]*"|\S+', m.group(2))
                joined = "".join(w.strip('"') for w in words) if len(m.group(1)) == 2 \
                    else " ".join(w.strip('"') for w in words)
                cur.append(joined)
            else:
                cur.append(line)
    if title:
        sections[title] = "\n".join(cur)
    # alternating macros join without spaces; keep lines joined by spaces for search
    return {k: " ".join(v.split("\n")) for k, v in sections.items()}


if __name__ == "__main__":
    unittest.main()
