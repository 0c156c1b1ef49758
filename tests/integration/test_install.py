"""
tests/integration/test_install.py — `make install` and what it installs, used for real:
`make install DESTDIR=<tmp> PREFIX=/usr` (with the build tree under test), the file list and
modes, the INSTALLED rwproxy accepting the INSTALLED example configuration (--check), then
running that configuration adapted to the shared sandbox (ports, servers, passwords; the
app user kept as a password_hash) with a query through it, the INSTALLED rwproxyctl
`status`, and configs/ha/check_rwproxy.sh judging it healthy and, once stopped, unhealthy;
every installed man page rendered by `man --warnings -l` without a warning; the installed
systemd unit through `systemd-analyze verify` (skipped without systemd-analyze);
`make uninstall`. Also the deployment files that have no engine here: configs/ha/
keepalived.conf through `keepalived --config-test`, configs/ha/check_rwproxy.sh on each kind
of answer, docker-compose.yml through `docker-compose config`, checked against
docker/rwproxy.ini (each skipped without its tool), and the docker/ init scripts and .cnf
files run on three local mariadbd (what the containers would do) with rwproxy on
docker/rwproxy.ini: replication, a query, a switchover.

Owns: temporary DESTDIRs under the session workdir, the rwproxy processes it starts (stopped by
PID, SIGTERM, required to exit 0), the table test.install_probe on the shared sandbox (used
read-mostly: the topology is never changed), and the three mariadbd of the docker/ test
(stopped by PID; their folder removed when the test passed).
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

import sandbox as sb
from conftest import REPO, pymysql_connect

MAKE_TIMEOUT = 600  # hang-guard of one make run (it may have to build)
CMD_TIMEOUT = 60    # hang-guard of one installed command


def build_tree():
    """The build tree under test: RWPROXY_BUILD (set by `make integration`), else the one
    RWPROXY_BIN lives in, else build/."""
    b = os.environ.get("RWPROXY_BUILD")
    if b:
        return b
    binary = os.environ.get("RWPROXY_BIN")
    if binary:
        return os.path.dirname(os.path.dirname(os.path.abspath(binary)))
    return "build"


def run(cmd, timeout=CMD_TIMEOUT, **kw):
    """subprocess.run with text output captured."""
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)


def make(*args):
    """make in the repository with the build tree under test; fails the test on an error."""
    r = run(["make", "-C", REPO, "BUILD=" + build_tree()] + list(args), timeout=MAKE_TIMEOUT)
    assert r.returncode == 0, "make %s failed (%d):\n%s\n%s" % (
        " ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r


class Installed:
    """Paths of one `make install DESTDIR=root PREFIX=/usr`."""

    def __init__(self, root):
        self.root = root                                         # DESTDIR
        self.rwproxy = os.path.join(root, "usr/bin/rwproxy")
        self.rwproxyctl = os.path.join(root, "usr/bin/rwproxyctl")
        self.config = os.path.join(root, "etc/rwproxy/rwproxy.ini")
        self.example = os.path.join(root, "etc/rwproxy/rwproxy.ini.example")
        self.unit = os.path.join(root, "usr/lib/systemd/system/rwproxy.service")
        self.sysusers = os.path.join(root, "usr/lib/sysusers.d/rwproxy.conf")
        self.man_pages = [os.path.join(root, "usr/share/man", p) for p in (
            "man1/rwproxy.1", "man1/rwproxyctl.1", "man5/rwproxy.ini.5")]


@pytest.fixture(scope="module")
def installed(workdir):
    """make install into a fresh DESTDIR (PREFIX=/usr), once for the module."""
    root = os.path.join(workdir, "install-root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    make("install", "DESTDIR=" + root, "PREFIX=/usr")
    return Installed(root)


# ======================================================================= installed files

def test_install_puts_every_file_in_place(installed):
    """Binaries 755, man pages and unit 644, the configuration 640 (it holds passwords),
    the example is configs/production.ini, and the unit starts the installed paths."""
    def mode(path):
        assert os.path.isfile(path), "not installed: %s" % path
        return os.stat(path).st_mode & 0o777

    assert mode(installed.rwproxy) == 0o755
    assert mode(installed.rwproxyctl) == 0o755
    for page in installed.man_pages:
        assert mode(page) == 0o644
    assert mode(installed.unit) == 0o644
    assert mode(installed.sysusers) == 0o644
    assert mode(installed.config) == 0o640
    with open(os.path.join(REPO, "configs", "production.ini")) as f:
        production = f.read()
    for path in (installed.config, installed.example):
        with open(path) as f:
            assert f.read() == production, path
    with open(installed.unit) as f:
        unit = f.read()
    assert "ExecStart=/usr/bin/rwproxy --config /etc/rwproxy/rwproxy.ini\n" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID\n" in unit
    assert "Type=simple\n" in unit
    r = run([installed.rwproxy, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("rwproxy "), r


def test_installed_binary_accepts_installed_config(installed):
    r = run([installed.rwproxy, "--check", "--config", installed.config])
    assert r.returncode == 0, r.stderr
    assert "configuration is valid" in r.stdout


def test_install_keeps_an_existing_config(installed, workdir):
    """A second install over an edited configuration leaves it alone (the example is
    refreshed)."""
    with open(installed.config, "a") as f:
        f.write("; edited by the operator\n")
    make("install", "DESTDIR=" + installed.root, "PREFIX=/usr")
    with open(installed.config) as f:
        assert f.read().endswith("; edited by the operator\n")
    with open(installed.example) as f:
        assert "; edited by the operator" not in f.read()
    shutil.copyfile(installed.example, installed.config)  # back to the shipped file


def test_install_with_another_prefix_uses_its_etc(workdir):
    """PREFIX other than /usr: the configuration goes to PREFIX/etc/rwproxy and the unit
    points there."""
    root = os.path.join(workdir, "install-local")
    shutil.rmtree(root, ignore_errors=True)
    make("install", "DESTDIR=" + root, "PREFIX=/opt/rwp")
    assert os.path.isfile(os.path.join(root, "opt/rwp/etc/rwproxy/rwproxy.ini"))
    with open(os.path.join(root, "opt/rwp/lib/systemd/system/rwproxy.service")) as f:
        unit = f.read()
    assert "ExecStart=/opt/rwp/bin/rwproxy --config /opt/rwp/etc/rwproxy/rwproxy.ini\n" in unit
    assert not os.path.exists(os.path.join(root, "etc"))
    shutil.rmtree(root, ignore_errors=True)


# ======================================================================= installed rwproxy

def native_hash(password):
    """mysql_native_password hash: '*' + HEX(SHA1(SHA1(password)))."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def adapt_config(text, box, port, admin_port):
    """The installed example pointed at the sandbox: listen/admin ports, admin, monitor and
    replication credentials, metrics off, drill schema, the sandbox's servers instead of
    [server.*], the app user's password_hash for app_pw. Every change must find its line."""
    wanted = {
        ("proxy", "listen"): "127.0.0.1:%d" % port,
        ("admin", "listen"): "127.0.0.1:%d" % admin_port,
        ("admin", "password"): "admin_pw",
        ("admin", "metrics_listen"): "off",
        ("monitor", "user"): "monitor",
        ("monitor", "password"): sb.PASSWORDS["monitor"],
        ("replication", "user"): "repl",
        ("replication", "password"): sb.PASSWORDS["repl"],
        ("drill", "schema"): "test_drill",
        ("user.app", "password_hash"): native_hash(sb.PASSWORDS["app"]),
    }
    done, out, section = set(), [], None
    for line in text.splitlines():
        m = re.match(r"^\[([^\]]+)\]", line)
        if m:
            section = m.group(1)
        if section and section.startswith("server."):
            continue  # the example's servers are replaced below
        m = re.match(r"^([a-z_]+)\s*=", line)
        if m and (section, m.group(1)) in wanted:
            line = "%s = %s" % (m.group(1), wanted[(section, m.group(1))])
            done.add((section, m.group(1)))
        out.append(line)
    missing = set(wanted) - done
    assert not missing, "configs/production.ini no longer has %s" % sorted(missing)
    for s in box.servers:
        out += ["[server.%s]" % s.name, "host = 127.0.0.1", "port = %d" % s.port, ""]
    return "\n".join(out) + "\n"


def test_installed_rwproxy_serves_the_sandbox(installed, sandbox, workdir):
    """The installed binary with the installed configuration (adapted to the sandbox) serves
    a write and a read through it; the installed rwproxyctl reports the master; the HA check
    script says healthy, and unhealthy once rwproxy is stopped."""
    port, admin_port = sb.free_port(), sb.free_port()
    with open(installed.config) as f:
        text = adapt_config(f.read(), sandbox, port, admin_port)
    cfg = os.path.join(installed.root, "etc/rwproxy/sandbox.ini")
    with open(cfg, "w") as f:
        f.write(text)
    r = run([installed.rwproxy, "--check", "--config", cfg])
    assert r.returncode == 0, r.stderr

    env = dict(os.environ, RWPROXYCTL=installed.rwproxyctl, RWPROXY_CONFIG=cfg)
    check_script = os.path.join(REPO, "configs/ha/check_rwproxy.sh")
    proc = sb.ProxyProcess(installed.rwproxy, cfg, os.path.join(workdir, "installed-rwproxy.log"))
    proc.start()
    try:
        token = os.urandom(6).hex()
        c = pymysql_connect(port)
        try:
            with c.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS test.install_probe "
                            "(id INT PRIMARY KEY, v VARCHAR(32))")
                cur.execute("REPLACE INTO test.install_probe VALUES (1, %s)", (token,))
                cur.execute("SELECT v FROM test.install_probe WHERE id = 1")
                assert cur.fetchall() == ((token,),)
        finally:
            c.close()
        master = sandbox.current_master()
        assert master is not None, sandbox.describe()
        got = master.query("SELECT v FROM test.install_probe WHERE id = 1")
        assert [tuple(x) for x in got] == [(token,)], "the write did not reach the master"

        # rwproxyctl status: exit 0 once the monitor has seen the master (bounded wait).
        status = None
        for _ in range(100):
            status = run([installed.rwproxyctl, "-c", cfg, "status"])
            if status.returncode == 0 or not proc.alive():
                break
            time.sleep(0.1)
        assert status.returncode == 0, (status.stdout, status.stderr, proc.log_text()[-2000:])
        summary = status.stdout.strip().splitlines()[-1]
        assert summary.startswith("master %s (127.0.0.1:%d)" % (master.name, master.port)), summary

        check = run(["bash", check_script], env=env)
        assert check.returncode == 0, (check.stdout, check.stderr)
    finally:
        rc = proc.stop(signal.SIGTERM)
    assert rc == 0, "installed rwproxy exited %s on SIGTERM:\n%s" % (rc, proc.log_text()[-3000:])
    check = run(["bash", check_script], env=env)
    assert check.returncode == 1, (check.stdout, check.stderr)
    assert "unhealthy" in check.stdout


# ======================================================================= man pages, unit

def plain(text):
    """man's output without the overstrike bold and underline it uses when not on a tty."""
    return re.sub(r".\x08", "", text)


@pytest.mark.parametrize("page", ["man1/rwproxy.1", "man1/rwproxyctl.1", "man5/rwproxy.ini.5"])
def test_installed_man_page_renders_without_warnings(installed, page):
    if not shutil.which("man"):
        pytest.skip("man (man-db) is not installed")
    path = os.path.join(installed.root, "usr/share/man", page)
    r = run(["man", "--warnings", "-l", path], env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", "man warnings for %s:\n%s" % (page, r.stderr)
    text = plain(r.stdout)
    name = os.path.basename(page).rsplit(".", 1)[0]
    assert re.search(r"\nNAME\n +%s +- " % re.escape(name), text), text[:400]
    for heading in ("SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert "\n%s\n" % heading in text, heading


def test_installed_rwproxy_ini_page_shows_every_key(installed):
    """The installed rwproxy.ini(5), as man renders it, has an entry for every key of
    docs/config.md under its section (tests/unit/test_manpage_keys.c checks the Markdown
    source against the parser's table; this checks what pandoc and man made of it)."""
    if not shutil.which("man"):
        pytest.skip("man (man-db) is not installed")
    r = run(["man", "-l", os.path.join(installed.root, "usr/share/man/man5/rwproxy.ini.5")],
            env=dict(os.environ, MANWIDTH="250"))
    assert r.returncode == 0, r.stderr
    sys.path.insert(0, os.path.join(REPO, "packaging"))
    import sync_man_keys
    with open(os.path.join(REPO, "docs", "config.md")) as f:
        tables = sync_man_keys.key_tables(f.read())
    assert len(tables) >= 10
    text = plain(r.stdout)
    for section, rows in tables:
        start = text.find("[%s]\n" % section)
        assert start >= 0, "rwproxy.ini(5) has no section [%s]" % section
        nxt = re.compile(r"^   \[[a-z]", re.M).search(text, start + 1)
        block = text[start:nxt.start() if nxt else len(text)]
        for row in rows:
            assert re.search(r"^ +%s \(" % re.escape(row[0]), block, re.M), \
                "rwproxy.ini(5) lacks [%s] %s" % (section, row[0])


def test_installed_systemd_unit_verifies(installed, workdir):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed")
    # The unit names /usr/bin/rwproxy; point it at the DESTDIR copy so verify checks a real
    # executable.
    with open(installed.unit) as f:
        unit = f.read()
    unit = unit.replace("/usr/bin/rwproxy", installed.rwproxy).replace(
        "/etc/rwproxy/", os.path.join(installed.root, "etc/rwproxy") + "/")
    d = os.path.join(workdir, "unit-verify")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "rwproxy.service")
    with open(path, "w") as f:
        f.write(unit)
    r = run([tool, "verify", "--man=no", path])
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", (
        r.returncode, r.stdout, r.stderr)
    # TimeoutStopSec must leave room for the drain of the shipped shutdown_timeout_ms.
    stop_s = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
    with open(installed.config) as f:
        drain_ms = int(re.search(r"^shutdown_timeout_ms\s*=\s*(\d+)", f.read(), re.M).group(1))
    assert stop_s * 1000 > drain_ms


def test_uninstall_removes_all_but_the_config(installed, workdir):
    root = os.path.join(workdir, "uninstall-root")
    shutil.rmtree(root, ignore_errors=True)
    make("install", "DESTDIR=" + root, "PREFIX=/usr")
    make("uninstall", "DESTDIR=" + root, "PREFIX=/usr")
    left = sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)
    assert left == ["etc/rwproxy/rwproxy.ini", "etc/rwproxy/rwproxy.ini.example"], left
    shutil.rmtree(root, ignore_errors=True)


# ======================================================================= HA and compose files

def test_keepalived_config_is_valid(workdir):
    tool = shutil.which("keepalived") or ("/usr/sbin/keepalived"
                                          if os.path.exists("/usr/sbin/keepalived") else None)
    if not tool:
        pytest.skip("keepalived is not installed")
    with open(os.path.join(REPO, "configs/ha/keepalived.conf")) as f:
        conf = f.read()
    if os.geteuid() != 0:
        pytest.skip("keepalived --config-test runs as root")
    # The rwproxy user does not exist on a test machine, and keepalived 2.2.7's config test
    # kills itself when it drops to an unprivileged script user: check with root. The script
    # is replaced by /bin/true: with enable_script_security keepalived refuses a script whose
    # path a non-root user can write, which a checkout may be (installed it is root's).
    assert "script_user rwproxy\n" in conf
    assert 'script "/etc/keepalived/check_rwproxy.sh"' in conf
    conf = conf.replace("script_user rwproxy\n", "script_user root\n").replace(
        "/etc/keepalived/check_rwproxy.sh", "/bin/true")
    path = os.path.join(workdir, "keepalived-test.conf")
    with open(path, "w") as f:
        f.write(conf)
    r = run([tool, "--config-test", "-f", path])
    assert r.returncode == 0 and r.stderr.strip() == "", (r.returncode, r.stdout, r.stderr)


FAKE_CTL = """#!/bin/sh
# a stand-in for rwproxyctl: prints what the test wants and exits with its code
printf '%%s\\n' "%s"
exit %d
"""


@pytest.mark.parametrize("out,rc,port_open,healthy", [
    ("master db1 (10.0.0.11:3306); 3 servers: 3 up, 0 down", 0, True, True),
    ("NO MASTER; 3 servers: 2 up, 1 down, 0 lagging, 0 maintenance, 0 fenced", 1, True, True),
    ("NO MASTER; 3 servers: 0 up, 3 down, 0 lagging, 0 maintenance, 0 fenced", 1, True, False),
    ("rwproxyctl: cannot connect to 127.0.0.1:6032: Connection refused (2002)", 1, True, False),
    ("master db1 (10.0.0.11:3306); 3 servers: 3 up, 0 down", 0, False, False),
])
def test_check_rwproxy_script_decides(workdir, out, rc, port_open, healthy):
    """configs/ha/check_rwproxy.sh on each kind of rwproxyctl answer (a stand-in script), with
    the client port (taken from [proxy] listen of the config) open or closed."""
    import socket
    d = os.path.join(workdir, "check-script")
    os.makedirs(d, exist_ok=True)
    ctl = os.path.join(d, "fake-rwproxyctl")
    with open(ctl, "w") as f:
        f.write(FAKE_CTL % (out, rc))
    os.chmod(ctl, 0o755)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if port_open:
        listener.listen(4)
    cfg = os.path.join(d, "rwproxy.ini")
    with open(cfg, "w") as f:
        f.write("[admin]\nlisten = 127.0.0.1:1\n[proxy]\nlisten = 0.0.0.0:%d  ; clients\n" % port)
    try:
        r = run(["bash", os.path.join(REPO, "configs/ha/check_rwproxy.sh")],
                env=dict(os.environ, RWPROXYCTL=ctl, RWPROXY_CONFIG=cfg))
    finally:
        listener.close()
    assert r.returncode == (0 if healthy else 1), (r.stdout, r.stderr)
    assert ("unhealthy" in r.stdout) == (not healthy), r.stdout


def test_ha_configs_are_valid_and_lock_failover():
    """Both rwproxy configs of the HA pair validate, keep majority_lock on and list the same
    servers in the same order."""
    rwproxy = os.environ.get("RWPROXY_BIN") or os.path.join(REPO, "build", "bin", "rwproxy")
    servers = []
    for name in ("rwproxy-a.ini", "rwproxy-b.ini"):
        path = os.path.join(REPO, "configs/ha", name)
        r = run([rwproxy, "--check", "--config", path])
        assert r.returncode == 0, r.stderr
        with open(path) as f:
            text = f.read()
        assert re.search(r"^majority_lock = on\b", text, re.M)
        servers.append(re.findall(r"^\[server\.(\w+)\]\nhost = (\S+)\nport = (\d+)", text, re.M))
    assert servers[0] == servers[1] and len(servers[0]) == 3


def test_compose_file_matches_the_docker_rwproxy_config():
    """docker-compose.yml is valid (docker-compose config -q) and docker/rwproxy.ini points at
    the addresses compose gives db1..db3; rwproxy publishes 6033 and 6032."""
    tool = shutil.which("docker-compose")
    if not tool:
        pytest.skip("docker-compose is not installed")
    r = run([tool, "-f", os.path.join(REPO, "docker-compose.yml"), "config", "-q"])
    assert r.returncode == 0, r.stderr
    yaml = pytest.importorskip("yaml")  # python3-yaml comes with docker-compose
    with open(os.path.join(REPO, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    with open(os.path.join(REPO, "docker/rwproxy.ini")) as f:
        ini = f.read()
    hosts = dict(re.findall(r"^\[server\.(\w+)\]\nhost = (\S+)", ini, re.M))
    assert sorted(hosts) == ["db1", "db2", "db3"]
    for name, host in hosts.items():
        assert services[name]["networks"]["rwpnet"]["ipv4_address"] == host, name
        assert services[name]["image"] == "mariadb:10.11"
    ports = [str(p) for p in services["rwproxy"]["ports"]]
    assert "6033:6033" in ports and "6032:6032" in ports
    for name in ("db2", "db3"):
        env = services[name]["environment"]
        assert env["RWP_MASTER_HOST"] == hosts["db1"]
    assert "healthcheck" in services["rwproxy"] and "healthcheck" in services["db1"]


# ======================================================================= docker/ init scripts

MARIADBD = "/usr/sbin/mariadbd"
DOCKER_IPS = {"db1": "172.30.86.11", "db2": "172.30.86.12", "db3": "172.30.86.13"}
MARIADB_WRAPPER = """#!/bin/bash
# stands in for the image's mariadb client: the test server's socket, and root -> the
# sandbox's all-privileged socket account
args=()
for a in "$@"; do [ "$a" = "-uroot" ] && a="-u$RWP_TEST_ADMIN"; args+=("$a"); done
exec /usr/bin/mariadb --no-defaults -S "$RWP_TEST_SOCK" "${args[@]}"
"""


class CnfServer:
    """A mariadbd started with docker/mariadb-common.cnf + a role file, as in the compose
    setup (plus local paths and a free port); stopped by PID."""

    def __init__(self, name, base, server_id, role):
        self.name = name                                   # db1, db2, db3
        self.dir = os.path.join(base, name)                # its files
        self.socket = os.path.join(self.dir, "s.sock")     # unix socket
        self.port = sb.free_port()                         # TCP port on 127.0.0.1
        self.server_id = server_id                         # --server-id
        self.role = role                                   # "master" or "replica"
        self.proc = None                                   # subprocess.Popen

    def start(self, template):
        shutil.copytree(template, os.path.join(self.dir, "data"))
        os.unlink(os.path.join(self.dir, "data", ".complete"))
        cnf = os.path.join(self.dir, "my.cnf")
        with open(cnf, "w") as f:
            for part in ("mariadb-common.cnf", "mariadb-%s.cnf" % self.role):
                with open(os.path.join(REPO, "docker", part)) as src:
                    f.write(src.read() + "\n")
            f.write("[mariadbd]\ndatadir=%s/data\nsocket=%s\nport=%d\nbind-address=127.0.0.1\n"
                    "server-id=%d\nreport-host=127.0.0.1\nlog-error=%s/err.log\n"
                    "pid-file=%s/pid\ninnodb-buffer-pool-size=32M\nperformance-schema=OFF\n"
                    "innodb-log-file-size=16M\n%s" % (
                        self.dir, self.socket, self.port, self.server_id, self.dir, self.dir,
                        "user=root\n" if os.geteuid() == 0 else ""))
        with open(os.path.join(self.dir, "console.log"), "ab") as out:
            self.proc = subprocess.Popen([MARIADBD, "--defaults-file=" + cnf],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        last = None
        for _ in range(600):  # hang-guard: 60 s
            if self.proc.poll() is not None:
                break
            try:
                self.query("SELECT 1")
                return
            except pymysql_errors() as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError("%s did not start (%r):\n%s" % (self.name, last, self.err_tail()))

    def err_tail(self):
        try:
            with open(os.path.join(self.dir, "err.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def query(self, sql):
        import pymysql
        conn = pymysql.connect(unix_socket=self.socket, user=sb._socket_admin(),
                               autocommit=True, connect_timeout=5,
                               cursorclass=pymysql.cursors.DictCursor)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def run_init(self, script, env, bindir):
        e = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], RWP_TEST_SOCK=self.socket,
                 RWP_TEST_ADMIN=sb._socket_admin(), MARIADB_ROOT_PASSWORD="", **env)
        r = run(["bash", os.path.join(REPO, "docker", script)], env=e)
        assert r.returncode == 0, "%s on %s: %s%s" % (script, self.name, r.stdout, r.stderr)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def pymysql_errors():
    import pymysql
    return (pymysql.err.MySQLError, OSError)


def wait_for(cond, what, tries=300, diag=lambda: ""):
    """Poll cond every 0.1 s, at most tries times (a hang-guard, not a timing check)."""
    for _ in range(tries):
        if cond():
            return
        time.sleep(0.1)
    pytest.fail("gave up waiting for %s\n%s" % (what, diag()), pytrace=False)


def test_docker_init_scripts_build_a_working_cluster(workdir, sandbox):
    """What docker-compose would do, without an engine: three mariadbd with the docker/
    .cnf files, docker/init-master.sh on db1 and docker/init-replica.sh on db2 and db3 (the
    image's client replaced by a wrapper onto each server's socket), then rwproxy with
    docker/rwproxy.ini (addresses mapped to 127.0.0.1 and the servers' ports): GTID
    replication with semi-sync, a write and read through rwproxy as app, rwproxyctl status,
    and a switchover with the monitor and repl users the init script created."""
    rwproxy = os.environ.get("RWPROXY_BIN") or os.path.join(REPO, "build", "bin", "rwproxy")
    rwproxyctl = os.environ.get("RWPROXYCTL_BIN") or os.path.join(REPO, "build", "bin",
                                                                  "rwproxyctl")
    base = os.path.join(workdir, "docker-sim")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    bindir = os.path.join(base, "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "mariadb"), "w") as f:
        f.write(MARIADB_WRAPPER)
    os.chmod(os.path.join(bindir, "mariadb"), 0o755)
    template = sb._make_template(base)  # the session sandbox's template (made once)
    servers = [CnfServer("db1", base, 1, "master"), CnfServer("db2", base, 2, "replica"),
               CnfServer("db3", base, 3, "replica")]
    proc = None
    try:
        for s in servers:
            s.start(template)
        m = servers[0]
        m.run_init("init-master.sh", {}, bindir)
        for r in servers[1:]:
            r.run_init("init-replica.sh", {"RWP_MASTER_HOST": "127.0.0.1",
                                           "RWP_MASTER_PORT": str(m.port)}, bindir)

        def replicating():
            pos = m.query("SELECT @@gtid_binlog_pos AS p")[0]["p"]
            for r in servers[1:]:
                st = r.query("SHOW SLAVE STATUS")
                if not st or st[0]["Slave_SQL_Running"] != "Yes" or st[0]["Using_Gtid"] != "Slave_Pos":
                    return False
                if r.query("SELECT @@gtid_slave_pos AS p")[0]["p"] != pos:
                    return False
            clients = m.query("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'")
            return int(clients[0]["Value"]) == 2

        wait_for(replicating, "both replicas replicating with GTID, semi-sync connected",
                 diag=lambda: "\n".join(str(r.query("SHOW SLAVE STATUS")) for r in servers[1:]))
        for r in servers[1:]:
            assert r.query("SELECT @@read_only AS r")[0]["r"] == 1
            users = {x["User"] for x in r.query("SELECT User FROM mysql.user")}
            assert {"app", "monitor", "repl"} <= users, users
        assert m.query("SELECT @@read_only AS r, @@gtid_strict_mode AS g, "
                       "@@rpl_semi_sync_master_wait_point AS w")[0] == \
            {"r": 0, "g": 1, "w": "AFTER_SYNC"}

        with open(os.path.join(REPO, "docker", "rwproxy.ini")) as f:
            text = f.read()
        port, admin_port = sb.free_port(), sb.free_port()
        text = text.replace("0.0.0.0:6033", "127.0.0.1:%d" % port).replace(
            "0.0.0.0:6032", "127.0.0.1:%d" % admin_port).replace("0.0.0.0:9104", "off")
        for s in servers:
            text = re.sub(r"host = %s( .*)?\nport = 3306" % re.escape(DOCKER_IPS[s.name]),
                          "host = 127.0.0.1\nport = %d" % s.port, text)
        assert text.count("host = 127.0.0.1") == 3, text
        cfg = os.path.join(base, "rwproxy.ini")
        with open(cfg, "w") as f:
            f.write(text)
        proc = sb.ProxyProcess(rwproxy, cfg, os.path.join(base, "rwproxy.log"))
        proc.start()
        c = pymysql_connect(port)
        try:
            with c.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS test.docker_probe (id INT PRIMARY KEY)")
                cur.execute("REPLACE INTO test.docker_probe VALUES (7)")
                cur.execute("SELECT id FROM test.docker_probe")
                assert cur.fetchall() == ((7,),)
        finally:
            c.close()

        def status_ok():
            r = run([rwproxyctl, "-c", cfg, "status"])
            return r.returncode == 0 and ": 3 up," in r.stdout and "; 2 readable" in r.stdout

        wait_for(status_ok, "rwproxyctl status: master, 3 up, 2 readable",
                 diag=lambda: run([rwproxyctl, "-c", cfg, "status"]).stdout)
        r = run([rwproxyctl, "-c", cfg, "switchover"], timeout=300)
        assert r.returncode == 0, (r.stdout, r.stderr, proc.log_text()[-3000:])
        wait_for(lambda: run([rwproxyctl, "-c", cfg, "status"]).stdout.strip().splitlines()[-1]
                 .startswith("master db2 "), "db2 to be the master after the switchover",
                 diag=lambda: run([rwproxyctl, "-c", cfg, "status"]).stdout)
        assert m.query("SELECT @@read_only AS r")[0]["r"] == 1
        st = m.query("SHOW SLAVE STATUS")
        assert st and st[0]["Master_Port"] == servers[1].port, st
    finally:
        rc = proc.stop(signal.SIGTERM) if proc else 0
        for s in servers:
            s.stop()
    assert rc == 0, "rwproxy exited %s on SIGTERM" % rc
    shutil.rmtree(base, ignore_errors=True)
