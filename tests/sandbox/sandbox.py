#!/usr/bin/python3
"""MariaDB sandbox for rwproxy: one master and N replicas on 127.0.0.1.

Owns: creating datadirs (from one template made by mariadb-install-db), starting and
stopping mariadbd processes (only the PIDs it started, recorded in BASEDIR/sandbox.json),
the users and GTID + semi-sync replication, the proxy config writer and ProxyProcess
(spawning bin/rwproxy for tests).  Used by `make run` (CLI below) and by the integration
tests (`import sandbox`).  Needs only the standard library and PyMySQL.

CLI:
    sandbox.py start  --dir DIR [--ports 23306,23307,23308]
    sandbox.py stop   --dir DIR
    sandbox.py status --dir DIR
"""

import argparse
import configparser
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pymysql

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
STATE_FILE = "sandbox.json"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SOCKET_MAX = 100  # sun_path is 108 bytes; keep a margin

# Users created on the master (and replicated).  Passwords are fixed: tests rely on them.
PASSWORDS = {"app": "app_pw", "monitor": "monitor_pw", "repl": "repl_pw"}

# Options shared by the template initialisation and every server start.
INNODB_OPTS = ["--innodb-log-file-size=16M"]

_template_cache = None  # path of a finished template made earlier in this process


_HANDED_OUT = set()  # ports free_port() returned in this process (never returned twice)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now and that this process has
    not been given before (two calls in a row could otherwise get the same port back, e.g.
    for [proxy] listen and [admin] listen before either is bound)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no fresh free port after 100 tries")


def _free_ports(n):
    """n distinct free ports."""
    ports = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def established_sockets(pid):
    """[(local_port, remote_port)] of process pid's ESTABLISHED TCP sockets on IPv4 loopback
    (read from /proc/PID/fd and /proc/net/tcp): how tests and benchmarks count rwproxy's
    backend connections."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
            if state == "01" and inode in inodes:
                out.append((int(local.split(":")[1], 16), int(remote.split(":")[1], 16)))
    return out


def _tail(path, nbytes=4000):
    """The last nbytes of a file as text ('' if missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - nbytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _proc_cmdline(pid):
    """argv of a live, non-zombie process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return None
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")
    except (OSError, IndexError):
        return None


def _pid_matches(pid, *needles):
    """True if pid is alive and its command line contains every needle."""
    if not pid:
        return False
    argv = _proc_cmdline(pid)
    if argv is None:
        return False
    joined = " ".join(argv)
    return all(n in joined for n in needles)


def _wait_pid_gone(pid, proc, timeout):
    """Wait until pid exits (reaping it if it is our child). True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return True
        elif _proc_cmdline(pid) is None:
            return True
        time.sleep(0.05)
    return False


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _short_socket_dir(basedir):
    """A short per-basedir directory in /tmp for sockets whose natural path is too long."""
    digest = hashlib.sha1(os.path.abspath(basedir).encode()).hexdigest()[:12]
    return "/tmp/rwsb-" + digest


def _socket_admin():
    """The MariaDB account with all privileges that our OS user reaches by unix_socket auth."""
    if os.geteuid() == 0:
        return "root"
    return pwd.getpwuid(os.geteuid()).pw_name


def _make_template(basedir):
    """Initialise (once) a pristine datadir to copy for every server; returns its path."""
    global _template_cache
    if _template_cache and os.path.exists(os.path.join(_template_cache, ".complete")):
        return _template_cache
    tpl = os.path.join(basedir, ".template")
    if os.path.exists(os.path.join(tpl, ".complete")):
        _template_cache = tpl
        return tpl
    shutil.rmtree(tpl, ignore_errors=True)
    # its own tmpdir: bootstraps running at the same time (parallel test runs) must not share
    # /tmp's temporary tables (one removed another's '#sql-temptable-*' file: ERROR 1051)
    tmp = os.path.join(basedir, ".template-tmp")
    os.makedirs(tmp, exist_ok=True)
    cmd = [INSTALL_DB, "--no-defaults", "--datadir=" + tpl, "--tmpdir=" + tmp,
           "--auth-root-authentication-method=socket", "--skip-test-db",
           "--skip-name-resolve"] + INNODB_OPTS
    if os.geteuid() == 0:
        cmd.append("--user=root")
    else:  # root@localhost then needs OS user root: add a socket account for us
        cmd.append("--auth-root-socket-user=" + _socket_admin())
    log = os.path.join(basedir, "install-db.log")
    with open(log, "wb") as out:
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if rc != 0:
        raise RuntimeError("mariadb-install-db failed (rc=%d):\n%s" % (rc, _tail(log)))
    for name in ("ib_buffer_pool",):
        try:
            os.unlink(os.path.join(tpl, name))
        except OSError:
            pass
    open(os.path.join(tpl, ".complete"), "w").close()
    _template_cache = tpl
    return tpl


class Server:
    """One mariadbd: its files, its process and a way to run SQL on it."""

    def __init__(self, name, port, basedir, server_id, role, owner=None):
        self.name = name  # "db1", "db2", ...
        self.port = port  # TCP port on 127.0.0.1
        self.server_id = server_id  # --server-id
        self.role = role  # role at creation: "master" or "replica"
        self.owner = owner  # the Sandbox that records our pid, or None
        self.dir = os.path.join(os.path.abspath(basedir), name)  # everything of this server
        self.datadir = os.path.join(self.dir, "data")
        self.errlog = os.path.join(self.dir, "error.log")
        self.pidfile = os.path.join(self.dir, "mysqld.pid")
        sock = os.path.join(self.dir, "mysqld.sock")
        if len(sock) >= SOCKET_MAX:
            sock = os.path.join(_short_socket_dir(basedir), name + ".sock")
        self.socket = sock  # unix socket path (< 100 chars)
        self.pid = None  # pid of the mariadbd we started (or found in sandbox.json)
        self.proc = None  # subprocess.Popen when started by this process
        self.extra_args = []  # extra mariadbd options for every start

    def __repr__(self):
        return "Server(%s port=%d pid=%s)" % (self.name, self.port, self.pid)

    # ---- process ----
    def initialised(self):
        """True if the datadir exists (copied from the template)."""
        return os.path.exists(os.path.join(self.datadir, "mysql"))

    def alive(self):
        """True if our mariadbd process is running."""
        if self.proc is not None and self.proc.poll() is not None:
            return False
        return _pid_matches(self.pid, "mariadbd", self.datadir)

    def replica_configured(self):
        """True if the datadir has a master.info (CHANGE MASTER was run, no RESET SLAVE ALL)."""
        try:
            return os.path.getsize(os.path.join(self.datadir, "master.info")) > 0
        except OSError:
            return False

    def command(self, read_only):
        """The mariadbd argv for this server."""
        cmd = [MARIADBD, "--no-defaults"]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        # Every server may become master after a failover, so all get the same semi-sync
        # options. wait-no-slave=OFF: a server with no semi-sync replica connected (a replica
        # applying its relay log with log_slave_updates, or a lone master) does not stall
        # each first commit for the 2 s timeout.
        cmd += [
            "--datadir=" + self.datadir, "--socket=" + self.socket,
            "--tmpdir=" + os.path.join(self.dir, "tmp"),  # its own: never another server's files
            "--port=%d" % self.port, "--bind-address=127.0.0.1",
            "--pid-file=" + self.pidfile, "--log-error=" + self.errlog,
            "--server-id=%d" % self.server_id, "--report-host=127.0.0.1",
            "--report-port=%d" % self.port,
            "--log-bin=mysql-bin", "--relay-log=relay-bin", "--log-slave-updates=ON",
            "--gtid-strict-mode=ON", "--binlog-format=ROW",
            "--rpl-semi-sync-master-enabled=ON", "--rpl-semi-sync-slave-enabled=ON",
            "--rpl-semi-sync-master-wait-point=AFTER_SYNC",
            "--rpl-semi-sync-master-timeout=2000", "--rpl-semi-sync-master-wait-no-slave=OFF",
            "--slave-net-timeout=5",
            "--max-allowed-packet=256M", "--local-infile=ON",
            "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=OFF", "--innodb-buffer-pool-load-at-startup=OFF",
            "--innodb-buffer-pool-dump-at-shutdown=OFF",
            "--skip-name-resolve", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci", "--max-connections=500",
            "--performance-schema=OFF", "--read-only=%s" % ("ON" if read_only else "OFF"),
        ] + INNODB_OPTS + list(self.extra_args)
        return cmd

    def spawn(self, read_only=None):
        """Start mariadbd without waiting for it (see wait_ready)."""
        if self.alive():
            return
        if read_only is None:
            read_only = self.replica_configured() if self.initialised() else self.role == "replica"
        os.makedirs(os.path.dirname(self.socket), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        for stale in (self.socket, self.pidfile):
            try:
                os.unlink(stale)
            except OSError:
                pass
        with open(os.path.join(self.dir, "console.log"), "ab") as out:
            self.proc = subprocess.Popen(self.command(read_only), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, close_fds=True)
        self.pid = self.proc.pid
        self._changed()

    def wait_ready(self, timeout=START_TIMEOUT):
        """Poll until root can run SQL over the socket; raise with the error log tail."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("%s (pid %s) exited during start-up; %s:\n%s" % (
                    self.name, self.pid, self.errlog, _tail(self.errlog)))
            if os.path.exists(self.socket):
                try:
                    self.query("SELECT 1")
                    return
                except pymysql.err.MySQLError as e:
                    last = e
            time.sleep(0.05)
        raise RuntimeError("%s did not accept connections within %ds (last error %r); %s:\n%s" % (
            self.name, timeout, last, self.errlog, _tail(self.errlog)))

    def start(self, read_only=None, timeout=START_TIMEOUT):
        """Start mariadbd (if not running) and wait until it answers.

        read_only None: ON if the datadir has a replication configuration (a replica),
        otherwise OFF; for a fresh datadir, ON for the "replica" role."""
        self.spawn(read_only)
        self.wait_ready(timeout)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM (graceful shutdown), wait up to timeout, then SIGKILL."""
        if not self.alive():
            self._reap()
            return
        _signal(self.pid, signal.SIGTERM)
        if not _wait_pid_gone(self.pid, self.proc, timeout):
            _signal(self.pid, signal.SIGKILL)
            _wait_pid_gone(self.pid, self.proc, 10)
        self._reap()

    def kill(self):
        """SIGKILL, then wait until the process is gone."""
        if self.alive():
            _signal(self.pid, signal.SIGKILL)
            _wait_pid_gone(self.pid, self.proc, 10)
        self._reap()

    def restart(self, read_only=None):
        self.stop()
        self.start(read_only)

    def _reap(self):
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        self._changed()

    def _changed(self):
        if self.owner is not None:
            self.owner.save_state()

    # ---- SQL ----
    def connect(self, user="root", password=None, database=None, **kw):
        """A PyMySQL connection: root over the unix socket, others over TCP 127.0.0.1.

        "root" means the all-privileged unix_socket account: root itself when we run as
        root, else the account named after our OS user (see _make_template)."""
        args = dict(user=user, database=database, autocommit=True, connect_timeout=5,
                    charset="utf8mb4")
        if user == "root":
            args.update(user=_socket_admin(), unix_socket=self.socket)
        else:
            args.update(host="127.0.0.1", port=self.port,
                        password=PASSWORDS.get(user, "") if password is None else password)
        args.update(kw)
        return pymysql.connect(**args)

    def query(self, sql, user="root", args=None, **kw):
        """Run one statement; returns the rows as a list of tuples."""
        conn = self.connect(user, **kw)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def execute(self, sql, user="root", args=None, **kw):
        """Run one or more statements (a list or a string) without returning rows."""
        conn = self.connect(user, **kw)
        try:
            with conn.cursor() as cur:
                for stmt in ([sql] if isinstance(sql, str) else sql):
                    cur.execute(stmt, args)
        finally:
            conn.close()

    def query_dict(self, sql, user="root", **kw):
        """Run one statement; rows as dicts (useful for SHOW SLAVE STATUS)."""
        conn = self.connect(user, cursorclass=pymysql.cursors.DictCursor, **kw)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def var(self, name):
        """A global variable (e.g. 'gtid_current_pos')."""
        return self.query("SELECT @@GLOBAL." + name)[0][0]

    def slave_status(self):
        """SHOW SLAVE STATUS as a dict, or None if not a replica."""
        rows = self.query_dict("SHOW SLAVE STATUS")
        return rows[0] if rows else None

    # ---- replication role helpers (used by the failover tests) ----
    def is_writable(self):
        """True if the running server has @@read_only = 0."""
        return int(self.var("read_only")) == 0

    def replicating_from(self, master):
        """True if this server's slave connection points at master's port and both threads
        run (Slave_IO_Running = Slave_SQL_Running = Yes)."""
        st = self.slave_status()
        return bool(st and int(st["Master_Port"]) == master.port
                    and st["Slave_IO_Running"] == "Yes" and st["Slave_SQL_Running"] == "Yes")

    def describe(self):
        """One line: alive?, read_only, slave connection (source port, IO/SQL, errors), GTIDs.
        Never raises (for failure messages)."""
        if not self.alive():
            return "%s port=%d: NOT RUNNING" % (self.name, self.port)
        try:
            to = dict(read_timeout=5, write_timeout=5)  # a frozen (SIGSTOP) server: no hang
            ro, binlog_pos, slave_pos = self.query(
                "SELECT @@GLOBAL.read_only, @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_slave_pos",
                **to)[0]
            rows = self.query_dict("SHOW SLAVE STATUS", **to)
            st = rows[0] if rows else None
            if st:
                rep = "replica of :%s IO=%s SQL=%s lag=%s io_err=%r sql_err=%r" % (
                    st["Master_Port"], st["Slave_IO_Running"], st["Slave_SQL_Running"],
                    st["Seconds_Behind_Master"], st["Last_IO_Error"], st["Last_SQL_Error"])
            else:
                rep = "no slave connection"
            return "%s port=%d pid=%s read_only=%s %s binlog_pos=%s slave_pos=%s" % (
                self.name, self.port, self.pid, ro, rep, binlog_pos, slave_pos)
        except pymysql.err.MySQLError as e:
            return "%s port=%d pid=%s: not answering (%r)" % (self.name, self.port, self.pid, e)

    def point_to(self, master, use_gtid="current_pos"):
        """Make this server a read-only replica of master (STOP SLAVE; CHANGE MASTER TO the
        master's port with the repl user, MASTER_USE_GTID=use_gtid, MASTER_CONNECT_RETRY=1;
        START SLAVE). current_pos also suits an old master whose own binlogged GTIDs are not in
        gtid_slave_pos. Does not wait (see Sandbox.wait_replicating_from)."""
        self.execute(["STOP ALL SLAVES", "SET GLOBAL read_only = 1",
                      "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, "
                      "MASTER_USER='repl', MASTER_PASSWORD='%s', MASTER_USE_GTID=%s, "
                      "MASTER_CONNECT_RETRY=1" % (master.port, PASSWORDS["repl"], use_gtid),
                      "START SLAVE"])

    def make_master(self):
        """Turn this server into a writable server with no slave connection
        (STOP ALL SLAVES; RESET SLAVE ALL; SET GLOBAL read_only = 0)."""
        self.execute(["STOP ALL SLAVES", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"])

    def start_with_args(self, args, read_only=None, timeout=START_TIMEOUT):
        """start() with extra mariadbd options for this start only (e.g.
        ["--init-rpl-role=SLAVE"] so that crash recovery of a killed semi-sync master rolls
        back and truncates binlogged transactions no replica acknowledged)."""
        saved = self.extra_args
        self.extra_args = list(saved) + list(args)
        try:
            self.start(read_only=read_only, timeout=timeout)
        finally:
            self.extra_args = saved

    def start_detached(self, port, read_only=False, args=(), timeout=START_TIMEOUT):
        """Start this server's datadir on another TCP port (one no rwproxy knows) with
        --skip-slave-start, e.g. to give an old master a write while it is cut off. self.port
        is the temporary port until stop_detached() puts the real one back."""
        if self.alive():
            raise RuntimeError("%s is running; stop it before start_detached" % self.name)
        self._real_port = self.port
        self.port = port
        try:
            self.start_with_args(["--skip-slave-start"] + list(args), read_only=read_only,
                                 timeout=timeout)
        except BaseException:
            self.kill()
            self.port = self._real_port
            raise

    def stop_detached(self):
        """Stop a server started by start_detached and restore its real port."""
        try:
            self.stop()
        finally:
            self.port = getattr(self, "_real_port", self.port)
            self._changed()


class Sandbox:
    """A master (servers[0]) and nreplicas replicas with GTID semi-sync replication."""

    def __init__(self, basedir, ports=None, nreplicas=2):
        self.basedir = os.path.abspath(basedir)  # holds dbN/, .template/, sandbox.json
        os.makedirs(self.basedir, exist_ok=True)
        state = self.load_state()
        self.auto_ports = False  # True when free ports were picked here (re-picked on a race)
        if ports is None:
            if state:
                ports = [s["port"] for s in state["servers"]]
            else:
                ports = _free_ports(nreplicas + 1)
                self.auto_ports = True
        ports = list(ports)
        if state and [s["port"] for s in state["servers"]] != ports:
            raise ValueError("sandbox in %s uses ports %s, not %s: stop it and remove the directory"
                             % (self.basedir, [s["port"] for s in state["servers"]], ports))
        self.configured = bool(state and state.get("configured"))  # users + replication set up
        self._loading = True  # while True, save_state() does nothing
        self.servers = []  # [Server]; servers[0] is the master at creation
        for i, port in enumerate(ports):
            srv = Server("db%d" % (i + 1), port, self.basedir, i + 1,
                         "master" if i == 0 else "replica", owner=self)
            if state and i < len(state["servers"]):
                srv.pid = state["servers"][i].get("pid")
            self.servers.append(srv)
        self._loading = False

    @property
    def master(self):
        return self.servers[0]

    @property
    def replicas(self):
        return self.servers[1:]

    @property
    def ports(self):
        return [s.port for s in self.servers]

    # ---- state ----
    def state_path(self):
        return os.path.join(self.basedir, STATE_FILE)

    def load_state(self):
        try:
            with open(self.state_path()) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def save_state(self):
        if getattr(self, "_loading", True):
            return
        state = {"basedir": self.basedir, "configured": self.configured,
                 "servers": [{"name": s.name, "port": s.port, "pid": s.pid if s.alive() else None,
                              "role": s.role, "datadir": s.datadir, "socket": s.socket,
                              "errlog": s.errlog} for s in self.servers]}
        tmp = self.state_path() + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, self.state_path())

    # ---- lifecycle ----
    def running(self):
        """True if every server is alive and answers SQL."""
        for s in self.servers:
            if not s.alive():
                return False
            try:
                s.query("SELECT 1")
            except pymysql.err.MySQLError:
                return False
        return True

    def start(self):
        """Initialise (first time) or restart the servers; returns when replicas replicate."""
        if self.configured:
            self._restart_all()
        else:
            self._create_all()
        return self

    def _start_servers(self, servers):
        for s in servers:
            s.spawn()
        for s in servers:
            s.wait_ready()

    def _restart_all(self):
        self._start_servers([s for s in self.servers if not s.alive()])
        for s in self.servers:
            s.wait_ready()
        for s in self.servers:
            if s.replica_configured():
                self._wait_replicating(s, 30)

    def _create_all(self):
        for s in self.servers:  # leftovers of an interrupted set-up
            s.kill()
        tpl = _make_template(self.basedir)
        for s in self.servers:
            shutil.rmtree(s.dir, ignore_errors=True)
            os.makedirs(s.dir)
            shutil.copytree(tpl, s.datadir)
            os.unlink(os.path.join(s.datadir, ".complete"))
        try:
            self._start_servers(self.servers)
        except RuntimeError as e:
            if not (self.auto_ports and "Address already in use" in str(e)):
                raise
            for s in self.servers:  # another process took a port we picked: pick again
                s.kill()
            for s, port in zip(self.servers, _free_ports(len(self.servers))):
                s.port = port
            self._start_servers(self.servers)
        self._setup_replication()
        self.configured = True
        self.save_state()

    def _setup_replication(self):
        """Users on the master (binlogged), then replicas replicate from the first GTID."""
        for s in self.servers:
            s.execute(["RESET MASTER", "SET GLOBAL gtid_slave_pos = ''"])
        m = self.master
        # No replica is connected yet (wait-no-slave=OFF already avoids the stall; belt and braces).
        m.execute("SET GLOBAL rpl_semi_sync_master_enabled = OFF")
        m.execute(_setup_sql())
        m.execute("SET GLOBAL rpl_semi_sync_master_enabled = ON")
        for r in self.replicas:
            r.execute(["SET GLOBAL read_only = 1",
                       "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, "
                       "MASTER_USER='repl', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos, "
                       "MASTER_CONNECT_RETRY=1" % (m.port, PASSWORDS["repl"]),
                       "START SLAVE"])
        for r in self.replicas:
            self._wait_replicating(r, 30)
        self.wait_replicas_caught_up()
        self._wait_semisync_clients(m, len(self.replicas), 10)

    def _wait_replicating(self, r, timeout):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = r.slave_status()
            if st and st["Slave_IO_Running"] == "Yes" and st["Slave_SQL_Running"] == "Yes":
                return
            time.sleep(0.05)
        raise RuntimeError("%s does not replicate: IO=%s SQL=%s io_error=%r sql_error=%r" % (
            r.name, st and st["Slave_IO_Running"], st and st["Slave_SQL_Running"],
            st and st["Last_IO_Error"], st and st["Last_SQL_Error"]))

    def _wait_semisync_clients(self, m, n, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = dict(m.query("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'"))
            if int(rows.get("Rpl_semi_sync_master_clients", 0)) >= n:
                return
            time.sleep(0.05)
        raise RuntimeError("%s: fewer than %d semi-sync replicas connected" % (m.name, n))

    def wait_replicas_caught_up(self, timeout=30, master=None, replicas=None):
        """Wait until every replica applied the master's @@gtid_binlog_pos."""
        master = master or self.master
        replicas = self.replicas if replicas is None else replicas
        pos = master.var("gtid_binlog_pos")
        deadline = time.monotonic() + timeout
        for r in replicas:
            left = max(0.1, deadline - time.monotonic())
            res = r.query("SELECT MASTER_GTID_WAIT(%s, %s)", args=(pos, left), read_timeout=left + 10)
            if res[0][0] != 0:
                st = r.slave_status() or {}
                raise TimeoutError("%s did not reach %s in %ss (gtid_slave_pos=%s, IO=%s SQL=%s, %r %r)" % (
                    r.name, pos, timeout, r.var("gtid_slave_pos"), st.get("Slave_IO_Running"),
                    st.get("Slave_SQL_Running"), st.get("Last_IO_Error"), st.get("Last_SQL_Error")))

    def stop(self):
        """Stop every server this sandbox started (by PID): SIGTERM all, wait, SIGKILL."""
        live = [s for s in self.servers if s.alive()]
        for s in live:
            _signal(s.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for s in live:
            if not _wait_pid_gone(s.pid, s.proc, max(0.1, deadline - time.monotonic())):
                _signal(s.pid, signal.SIGKILL)
                _wait_pid_gone(s.pid, s.proc, 10)
        for s in self.servers:
            s._reap()
        self.save_state()
        short = _short_socket_dir(self.basedir)
        if any(s.socket.startswith(short + "/") for s in self.servers):
            try:
                os.rmdir(short)  # only when empty: the servers removed their sockets
            except OSError:
                pass

    def __enter__(self):
        if not self.running():
            try:
                self.start()
            except BaseException:
                self.stop()
                raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- topology helpers (used by the failover tests) ----
    def writable_servers(self):
        """Running servers with @@read_only = 0."""
        out = []
        for s in self.servers:
            if s.alive():
                try:
                    if s.is_writable():
                        out.append(s)
                except pymysql.err.MySQLError:
                    pass
        return out

    def current_master(self):
        """The only running writable server, or None (none or several)."""
        w = self.writable_servers()
        return w[0] if len(w) == 1 else None

    def describe(self):
        """Every server's describe() line (for failure messages)."""
        return "\n".join(s.describe() for s in self.servers)

    def wait_replicating_from(self, replica, master, timeout=30):
        """Wait until replica replicates from master (IO and SQL running); raise with the
        sandbox state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if replica.replicating_from(master):
                    return
            except pymysql.err.MySQLError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s does not replicate from %s after %ss:\n%s" % (
            replica.name, master.name, timeout, self.describe()))

    def restore_topology(self, master=None, timeout=60):
        """Bring the sandbox back to: every server running, exactly one writable master
        (master, else the only writable server, else the server the running replicas point
        at, else servers[0]) and the others read-only replicas of it, caught up, with their
        semi-sync connections. Stopped (SIGSTOP) servers are continued first. A server
        started here that is not the master gets --init-rpl-role=SLAVE (semi-sync crash
        recovery drops its unacknowledged transactions). Returns the master. Cannot repair a
        diverged server (its replication then fails and this raises)."""
        for s in self.servers:
            if s.pid and s.alive():
                _signal(s.pid, signal.SIGCONT)
        live = [s for s in self.servers if s.alive()]
        if master is None:
            writable = []
            for s in live:
                st = s.slave_status()
                if s.is_writable() and not (st and st["Slave_IO_Running"] == "Yes"):
                    writable.append(s)
            sources = set()
            for s in live:
                st = s.slave_status()
                if st:
                    sources.add(int(st["Master_Port"]))
            if len(writable) == 1:
                master = writable[0]
            elif len(writable) > 1:
                pointed = [s for s in writable if s.port in sources]
                if len(pointed) != 1:
                    raise RuntimeError("several writable servers, cannot choose:\n" +
                                       self.describe())
                master = pointed[0]
            else:
                pointed = [s for s in self.servers if s.port in sources]
                master = pointed[0] if len(pointed) == 1 else self.servers[0]
        if not master.alive():
            master.start(read_only=False)
        if master.slave_status() is not None:
            master.execute(["STOP ALL SLAVES", "RESET SLAVE ALL"])
        master.execute("SET GLOBAL read_only = 0")
        others = [s for s in self.servers if s is not master]
        for s in others:
            if not s.alive():
                s.start_with_args(["--init-rpl-role=SLAVE"], read_only=True)
        for s in others:
            if not s.replicating_from(master):
                s.point_to(master)
            else:
                s.execute("SET GLOBAL read_only = 1")
        for s in others:
            self.wait_replicating_from(s, master, timeout)
        self.wait_replicas_caught_up(timeout=timeout, master=master, replicas=others)
        self._wait_semisync_clients(master, len(others), timeout)
        return master


def _setup_sql():
    """Statements run once on the master: database and users, all binlogged."""
    stmts = ["DELETE FROM mysql.global_priv WHERE User = ''", "FLUSH PRIVILEGES",
             "CREATE DATABASE IF NOT EXISTS test"]
    grants = {
        "app": ["ALL PRIVILEGES ON `test`.*", "ALL PRIVILEGES ON `test\\_%`.*", "PROCESS ON *.*"],
        "monitor": ["ALL PRIVILEGES ON *.* WITH GRANT OPTION"],
        "repl": ["REPLICATION SLAVE, REPLICATION SLAVE ADMIN, BINLOG MONITOR ON *.*"],
    }
    for user, privs in grants.items():
        for host in ("%", "localhost"):
            stmts.append("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'" % (user, host, PASSWORDS[user]))
            for p in privs:
                on, _, opt = p.partition(" WITH ")
                stmts.append("GRANT %s TO '%s'@'%s'%s" % (on, user, host,
                                                            " WITH " + opt if opt else ""))
    return stmts


def write_proxy_config(path, sandbox, port, admin_port, threads=2, extra=""):
    """Write an rwproxy INI that points at the sandbox's servers."""
    lines = ["; written by tests/sandbox/sandbox.py", "[proxy]",
             "listen = 127.0.0.1:%d" % port, "threads = %d" % threads, "",
             "[admin]", "listen = 127.0.0.1:%d" % admin_port, "user = admin",
             "password = admin_pw", "",
             "[monitor]", "user = monitor", "password = %s" % PASSWORDS["monitor"], "",
             "[replication]", "user = repl", "password = %s" % PASSWORDS["repl"], ""]
    for s in sandbox.servers:
        lines += ["[server.%s]" % s.name, "host = 127.0.0.1", "port = %d" % s.port, ""]
    lines += ["[user.app]", "password = %s" % PASSWORDS["app"], ""]
    text = "\n".join(lines)
    if extra:
        text += "\n" + extra + ("" if extra.endswith("\n") else "\n")
    with open(path, "w") as f:
        f.write(text)
    return path


def _listen_port(config_path, section):
    """The port of `listen = host:port` in a section of an INI file, or None."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), strict=False,
                                   interpolation=None)
    try:
        cp.read(config_path)
        return int(cp.get(section, "listen").rsplit(":", 1)[1])
    except (configparser.Error, ValueError, IndexError):
        return None


def _apply_multiplex_override(config_path):
    """RWPROXY_TEST_MULTIPLEX=on|off (make test-multiplex-off): every rwproxy a test starts runs
    with [pool] multiplex set so, unless its config sets the key itself."""
    want = os.environ.get("RWPROXY_TEST_MULTIPLEX")
    if not want:
        return
    try:
        with open(config_path) as f:
            text = f.read()
    except OSError:
        return
    if re.search(r"(?m)^\s*multiplex\s*[=:]", text):
        return
    with open(config_path, "a") as f:
        f.write("\n[pool]\nmultiplex = %s\n" % want)


class ProxyProcess:
    """bin/rwproxy started with --config for a test; stdout+stderr go to log_path."""

    def __init__(self, binary, config_path, log_path, args=(), env=None):
        self.binary = binary  # path of the rwproxy executable
        self.config_path = config_path  # INI given with --config
        self.log_path = log_path  # stdout+stderr of the process (appended)
        self.args = list(args)  # extra arguments after --config FILE
        self.env = env  # environment (None: inherit)
        self.port = _listen_port(config_path, "proxy")  # client port from [proxy] listen
        self.admin_port = _listen_port(config_path, "admin")  # from [admin] listen
        self.proc = None  # subprocess.Popen
        self.pid = None  # pid of the running rwproxy

    def start(self, timeout=20.0):
        """Spawn rwproxy, wait until its port sends a greeting; raise with the log tail."""
        _apply_multiplex_override(self.config_path)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "--config", self.config_path] + self.args,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rwproxy exited with %s during start-up; log:\n%s" % (
                    self.proc.returncode, _tail(self.log_path)))
            if self.port and _greets(self.port):
                return self
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise RuntimeError("rwproxy did not greet on port %s within %ss; log:\n%s" % (
            self.port, timeout, _tail(self.log_path)))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Send sig, wait up to timeout (then SIGKILL); returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        if not self.alive():
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def _greets(port):
    """True if 127.0.0.1:port accepts and sends at least 4 bytes within 2s."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            data = b""
            while len(data) < 4:
                chunk = s.recv(64)
                if not chunk:
                    return False
                data += chunk
            return True
    except OSError:
        return False


# ---- CLI ----
def _cmd_start(args):
    ports = [int(p) for p in args.ports.split(",")] if args.ports else None
    nrep = len(ports) - 1 if ports else 2
    t0 = time.monotonic()
    try:
        sb = Sandbox(args.dir, ports, nreplicas=nrep)
    except ValueError as e:
        print("sandbox.py: %s" % e, file=sys.stderr)
        return 1
    if sb.configured and sb.running():
        print("sandbox in %s already running (ports %s)" % (sb.basedir, sb.ports))
        return 0
    try:
        sb.start()
    except Exception:
        sb.stop()
        raise
    print("sandbox in %s started in %.1fs: master %s:%d, replicas %s" % (
        sb.basedir, time.monotonic() - t0, sb.master.name, sb.master.port,
        ", ".join("%s:%d" % (r.name, r.port) for r in sb.replicas)))
    return 0


def _cmd_stop(args):
    if not os.path.exists(os.path.join(args.dir, STATE_FILE)):
        print("no sandbox in %s" % args.dir)
        return 0
    sb = Sandbox(args.dir)
    sb.stop()
    print("sandbox in %s stopped" % sb.basedir)
    return 0


def _server_status(s):
    """(role, gtid) of a running server."""
    ro = s.var("read_only")
    st = s.slave_status()
    if st:
        role = "replica(%s,%s)" % (st["Slave_IO_Running"], st["Slave_SQL_Running"])
    else:
        role = "master" if not ro else "standalone(read_only)"
    return role, s.var("gtid_current_pos") or "-"


def _cmd_status(args):
    if not os.path.exists(os.path.join(args.dir, STATE_FILE)):
        print("no sandbox in %s" % args.dir)
        return 1
    sb = Sandbox(args.dir)
    all_up = True
    for s in sb.servers:
        role, gtid, up = "-", "-", "down"
        if s.alive():
            try:
                role, gtid = _server_status(s)
                up = "up"
            except pymysql.err.MySQLError as e:
                up = "not answering (%s)" % e.args[0]
        all_up = all_up and up == "up"
        print("%-4s port=%d pid=%s role=%s %s gtid=%s" % (
            s.name, s.port, s.pid if s.alive() else "-", role, up, gtid))
    return 0 if all_up else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start (or resume) the sandbox")
    p.add_argument("--dir", required=True)
    p.add_argument("--ports", help="comma-separated: master first, then replicas")
    for name in ("stop", "status"):
        sub.add_parser(name).add_argument("--dir", required=True)
    args = ap.parse_args(argv)
    return {"start": _cmd_start, "stop": _cmd_stop, "status": _cmd_status}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
