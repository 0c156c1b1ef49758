#!/usr/bin/python3
"""bench/bench.py — `make bench`: rwproxy against HAProxy and a direct connection (issue 6).

Owns, for one run: a private MariaDB sandbox (master + 2 replicas, temp dir, free ports), an
HAProxy in TCP mode in front of the master, rwproxy processes started with bench configs, the
sysbench tables (database test_bench), and the report (stdout and bench/results/). Everything it
starts is stopped by PID at the end, also on failure or Ctrl-C. A report, never a test: the
targets are printed as PASS/MISS and never change the exit code (only a harness failure does).

What it measures (bench/README.md explains every figure):
  1. sysbench oltp_point_select, oltp_read_only --skip-trx=on and oltp_read_write against the
     master directly, through HAProxy and through rwproxy, alternating, in rounds: tps, p95,
     ratios, CPU seconds of the proxy process (and the servers) per 10,000 queries.
  2. RSS of rwproxy holding 10,000 idle client connections (logged in; also greeting-only).
  3. Backend connections rwproxy holds while 2,000 clients run short autocommit reads.
  4. Connect + one query + disconnect rate (short-lived clients) direct, HAProxy, rwproxy.

Usage: bench/bench.py [--quick] [--threads 16] [--time 20] [--rounds 2] ... (see --help);
BENCH_QUICK=1 in the environment is the same as --quick.
"""
import argparse
import asyncio
import collections
import datetime
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "sandbox"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import sandbox as sb  # noqa: E402
import mysqlraw as raw  # noqa: E402

SYSBENCH = shutil.which("sysbench") or "/usr/bin/sysbench"
HAPROXY = "/usr/sbin/haproxy"
HOST = "127.0.0.1"
DB = "test_bench"  # the app user has ALL on test\_% (sandbox._setup_sql)
USER, PASSWORD = "app", sb.PASSWORDS["app"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024

BENCHMARKS = {  # name -> sysbench test and extra options
    "point_select": ("oltp_point_select", []),
    "read_only": ("oltp_read_only", ["--skip-trx=on"]),
    "read_write": ("oltp_read_write", []),
}
TARGET_LABELS = {"direct": "direct", "haproxy": "HAProxy", "rwproxy": "rwproxy",
                 "rwproxy_ev": "rwproxy-ev"}


# ------------------------------------------------------------------ output

class Report:
    """Lines go to stdout and to the results file as they are produced."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "w")

    def __call__(self, text=""):
        print(text, flush=True)
        self.f.write(text + "\n")
        self.f.flush()

    def close(self):
        self.f.close()


# ------------------------------------------------------------------ /proc helpers

def proc_cpu(pid):
    """utime+stime of a process in seconds (all its threads, live and exited)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def thread_cpu(pid):
    """{tid: (comm, cpu seconds)} of every live thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                data = f.read()
        except OSError:
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        fields = data.rsplit(")", 1)[1].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def proc_status(pid, key):
    """A kB value of /proc/PID/status (VmRSS, VmHWM, ...) in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


def nofile_limit(pid):
    """(soft, hard) 'Max open files' of a process from /proc/PID/limits."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return int(parts[3]), int(parts[4])
    return None, None


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def established_to(pid, ports):
    """{port: count} of pid's ESTABLISHED TCP sockets whose remote end is 127.0.0.1:port."""
    counts = {p: 0 for p in ports}
    for _, rport in sb.established_sockets(pid):
        if rport in counts:
            counts[rport] += 1
    return counts


def raise_nofile(want):
    """Raise RLIMIT_NOFILE (soft and, as root, hard) for us and the children we start."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as f:
            nr_open = int(f.read())
    except (OSError, ValueError):
        nr_open = want
    target = min(want, nr_open)
    if hard != resource.RLIM_INFINITY and hard < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ValueError, OSError):
            target = hard
    if soft == resource.RLIM_INFINITY or soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ------------------------------------------------------------------ processes

class HAProxy:
    """/usr/sbin/haproxy -db (foreground, our child) in TCP mode in front of one server."""

    def __init__(self, workdir, backend_port, maxconn=30000):
        self.port = sb.free_port()
        self.cfg = os.path.join(workdir, "haproxy.cfg")
        self.log = os.path.join(workdir, "haproxy.log")
        with open(self.cfg, "w") as f:
            f.write("""# written by bench/bench.py
global
    maxconn %d

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend mysql
    bind 127.0.0.1:%d
    default_backend master

backend master
    server master 127.0.0.1:%d
""" % (maxconn, self.port, backend_port))
        self.proc = None
        self.pid = None

    def start(self, timeout=15):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited with %s; log:\n%s" % (
                    self.proc.returncode, sb._tail(self.log)))
            if sb._greets(self.port):  # the master's greeting came through HAProxy
                return self
            time.sleep(0.05)
        raise RuntimeError("haproxy did not relay the master's greeting within %ss" % timeout)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Bench:
    def __init__(self, args, out):
        self.a = args
        self.out = out
        self.workdir = None
        self.box = None
        self.haproxy = None
        self.proxies = []  # every ProxyProcess started (stopped at the end)
        self.results = {"args": vars(args), "sysbench": [], "extras": {}}
        self.nproxy = 0

    # ---- set-up ----
    def start_sandbox(self):
        self.box = sb.Sandbox(os.path.join(self.workdir, "sandbox"))
        for s in self.box.servers:
            s.extra_args = ["--max-connections=%d" % self.a.server_max_connections]
        self.box.start()

    def start_rwproxy(self, name, routing=""):
        """A fresh rwproxy with the bench config (+ routing lines) on free ports."""
        self.nproxy += 1
        cfg = os.path.join(self.workdir, "%s-%d.ini" % (name, self.nproxy))
        extra = "\n".join([
            "[admin]", "metrics_listen = off", "",
            "[limits]",
            "max_client_connections = %d" % self.a.max_client_connections,
            "handshake_timeout_ms = 3600000", ""]) + ("\n[routing]\n" + routing + "\n" if routing else "")
        sb.write_proxy_config(cfg, self.box, sb.free_port(), sb.free_port(),
                              threads=self.a.rwproxy_threads, extra=extra)
        if self.a.backend_max_connections > 0:  # [server.NAME] max_connections on every server
            with open(cfg) as f:
                text = f.read()
            text = re.sub(r"(?m)^(\[server\.[^\]]+\]\n)",
                          lambda m: m.group(1) + "max_connections = %d\n" % self.a.backend_max_connections,
                          text)
            with open(cfg, "w") as f:
                f.write(text)
        p = sb.ProxyProcess(self.a.rwproxy, cfg, cfg[:-4] + ".log")
        self.proxies.append(p)
        p.start()
        # wait until the monitor found the master and the replicas: a login through it works
        # and an autocommit read is served
        deadline = time.monotonic() + 20
        last = None
        while time.monotonic() < deadline:
            try:
                c = raw.connect(HOST, p.port, USER, PASSWORD, DB, timeout=5)
                try:
                    r = c.query1("SELECT 1")
                finally:
                    c.close()
                if r.kind == "rs":
                    return p
                last = r
            except Exception as e:  # noqa: BLE001
                last = e
            time.sleep(0.2)
        raise RuntimeError("rwproxy %s does not serve a client: %r; log:\n%s" % (
            name, last, sb._tail(p.log_path)))

    def stop_rwproxy(self, p):
        p.stop()

    def sysbench_cmd(self, test, action, port, extra, threads, seconds=None):
        timing = [] if seconds is None else ["--time=%d" % seconds, "--events=0", "--percentile=95",
                                             "--report-interval=0"]
        return [SYSBENCH, test, action, "--db-driver=mysql", "--mysql-host=" + HOST,
                "--mysql-port=%d" % port, "--mysql-user=" + USER, "--mysql-password=" + PASSWORD,
                "--mysql-db=" + DB, "--tables=%d" % self.a.tables,
                "--table-size=%d" % self.a.table_size, "--threads=%d" % threads] + timing + list(extra)

    def prepare(self):
        m = self.box.master
        m.execute(["DROP DATABASE IF EXISTS " + DB, "CREATE DATABASE " + DB])
        cmd = self.sysbench_cmd("oltp_read_write", "prepare", m.port, [], min(4, self.a.tables))
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError("sysbench prepare failed:\n%s\n%s" % (p.stdout[-2000:],
                                                                     p.stderr[-2000:]))
        self.box.wait_replicas_caught_up(timeout=120)
        return time.monotonic() - t0

    # ---- sysbench ----
    def target_port(self, target):
        if target == "direct":
            return self.box.master.port
        if target == "haproxy":
            return self.haproxy.port
        return self.rw[target].port

    def target_pid(self, target):
        if target == "direct":
            return None
        if target == "haproxy":
            return self.haproxy.pid
        return self.rw[target].pid

    def db_cpu(self):
        return sum(proc_cpu(s.pid) for s in self.box.servers)

    def run_sysbench(self, bench, target, rnd, seconds):
        test, extra = BENCHMARKS[bench]
        port, pid = self.target_port(target), self.target_pid(target)
        cmd = self.sysbench_cmd(test, "run", port, extra, self.a.threads, seconds)
        cpu0 = proc_cpu(pid) if pid else None
        thr0 = thread_cpu(pid) if pid and target.startswith("rwproxy") else None
        db0 = self.db_cpu()
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
        wall = time.monotonic() - t0
        cpu = proc_cpu(pid) - cpu0 if pid else None
        threads = None
        if thr0 is not None:
            thr1 = thread_cpu(pid)
            threads = sorted(((tid, comm, c - thr0.get(tid, (comm, 0.0))[1])
                              for tid, (comm, c) in thr1.items()), key=lambda t: t[0])
        dbcpu = self.db_cpu() - db0
        res = {"bench": bench, "target": target, "round": rnd, "seconds": seconds,
               "rc": p.returncode, "wall": wall, "proxy_cpu": cpu, "db_cpu": dbcpu,
               "threads": threads, "cmd": " ".join(cmd)}
        text = p.stdout

        def num(pattern, cast=float):
            m = re.search(pattern, text)
            return cast(m.group(1)) if m else None
        res["transactions"] = num(r"transactions:\s+(\d+)", int)
        res["tps"] = num(r"transactions:\s+\d+\s+\(([\d.]+) per sec")
        res["queries"] = num(r"queries:\s+(\d+)", int)
        res["qps"] = num(r"queries:\s+\d+\s+\(([\d.]+) per sec")
        res["p95"] = num(r"95th percentile:\s+([\d.]+)")
        res["avg"] = num(r"avg:\s+([\d.]+)")
        res["ignored"] = num(r"ignored errors:\s+(\d+)", int)
        res["reconnects"] = num(r"reconnects:\s+(\d+)", int)
        if p.returncode != 0 or res["tps"] is None:
            res["error"] = (p.stdout[-1500:] + "\n" + p.stderr[-1500:]).strip()
        return res

    def sysbench_phase(self):
        a, out = self.a, self.out
        benches = a.benchmarks
        targets = a.targets
        # warm-up (not reported): buffer pools of the master and the replicas, the proxies
        for bench in benches:
            test, extra = BENCHMARKS[bench]
            out("  %s: %s" % (bench, " ".join(self.sysbench_cmd(test, "run", 0, extra, a.threads,
                                                                 a.time)).replace(
                "--mysql-port=0", "--mysql-port=<target>")))
        out("warm-up: oltp_read_only --skip-trx=on %ds on each target (not reported)" % a.warmup)
        for t in targets:
            r = self.run_sysbench("read_only", t, 0, a.warmup)
            if r.get("error"):
                raise RuntimeError("warm-up through %s failed:\n%s" % (t, r["error"]))
        for rnd in range(1, a.rounds + 1):
            order = targets if rnd % 2 == 1 else list(reversed(targets))
            for bench in benches:
                for t in order:
                    r = self.run_sysbench(bench, t, rnd, a.time)
                    self.results["sysbench"].append(r)
                    cpu = ("  proxy CPU %.2fs" % r["proxy_cpu"]) if r["proxy_cpu"] is not None else ""
                    if r.get("error"):
                        out("  round %d %-12s %-10s FAILED rc=%s\n%s" % (
                            rnd, bench, TARGET_LABELS[t], r["rc"], r["error"]))
                    else:
                        out("  round %d %-12s %-10s %9.1f tps  p95 %7.2f ms  %8d queries%s  "
                            "errors %d" % (rnd, bench, TARGET_LABELS[t], r["tps"], r["p95"],
                                           r["queries"], cpu, (r["ignored"] or 0) + (r["reconnects"] or 0)))
                    # writes: let the replicas apply everything before the next run
                    self.box.wait_replicas_caught_up(timeout=120)
                    time.sleep(0.5)

    # ---- extras ----
    def idle_phase(self):
        """(a) RSS with N idle client connections."""
        a, out = self.a, self.out
        res = {}
        ports = [s.port for s in self.box.servers]
        for mode in ("greeting", "login"):
            p = self.start_rwproxy("idle-" + mode)
            time.sleep(1.0)
            soft, hard = nofile_limit(p.pid)
            need = a.idle_clients * (2 if mode == "login" else 1) + 100
            rss0 = proc_status(p.pid, "VmRSS")
            cpu0 = proc_cpu(p.pid)
            m = {}

            def measure():  # with the connections open (called inside the event loop)
                m["alive"] = p.alive()
                if m["alive"]:
                    m["rss"] = proc_status(p.pid, "VmRSS")
                    m["hwm"] = proc_status(p.pid, "VmHWM")
                    m["fds"] = fd_count(p.pid)
                    m["be"] = established_to(p.pid, ports)
                    m["cpu"] = proc_cpu(p.pid) - cpu0
            nopen, errors, took = asyncio.run(hold_idle(p.port, a.idle_clients, mode == "login",
                                                        a.login_concurrency, 2.0, measure))
            alive = m["alive"]
            rss, hwm, fds = m.get("rss"), m.get("hwm"), m.get("fds")
            be, cpu = m.get("be", {}), m.get("cpu")
            r = {"mode": mode, "requested": a.idle_clients, "open": nopen,
                 "errors": errors, "seconds": took, "rss0": rss0, "rss": rss, "hwm": hwm,
                 "fds": fds, "nofile": [soft, hard], "fd_needed": need,
                 "backends": {s.name: be.get(s.port, 0) for s in self.box.servers},
                 "proxy_cpu": cpu, "alive": alive}
            res[mode] = r
            out("  %-8s %5d/%d open in %.1fs (%s), rwproxy RSS %s -> %s (peak %s), fds %s, "
                "nofile %s, backends %s%s" % (
                    mode, nopen, a.idle_clients, took, fmt_errors(errors), mib(rss0), mib(rss),
                    mib(hwm), fds, soft, r["backends"], "" if alive else "  rwproxy DIED"))
            if soft is not None and soft < need:
                out("  NOTE: rwproxy's open-file limit %d is below the %d this needs" % (soft, need))
            self.stop_rwproxy(p)
            time.sleep(1.0)
        return res

    def busy_phase(self):
        """(b) backend connections while N clients run short autocommit reads."""
        a, out = self.a, self.out
        p = self.start_rwproxy("busy")
        ports = [s.port for s in self.box.servers]
        names = {s.port: s.name for s in self.box.servers}
        cpu0 = proc_cpu(p.pid)
        r = asyncio.run(busy_clients(p.port, a.busy_clients, a.busy_time, a.login_concurrency,
                                     lambda: established_to(p.pid, ports), a.tables,
                                     a.table_size))
        r["proxy_cpu"] = proc_cpu(p.pid) - cpu0
        r["samples"] = [{names[k]: v for k, v in s.items()} for s in r["samples"]]
        r["max_per_server"] = {n: max([s[n] for s in r["samples"]] or [0]) for n in names.values()}
        r["after_login"] = {names[k]: v for k, v in r["after_login"].items()}
        r["alive"] = p.alive()
        out("  %d/%d clients logged in in %.1fs (%s); %d reads in %.1fs = %.0f/s, %s" % (
            r["logged_in"], a.busy_clients, r["login_seconds"], fmt_errors(r["login_errors"]),
            r["queries"], r["query_seconds"], r["queries"] / max(r["query_seconds"], 1e-9),
            fmt_errors(r["query_errors"])))
        out("  backend connections after the logins %s; max while reading %s" % (
            r["after_login"], r["max_per_server"]))
        self.stop_rwproxy(p)
        return r

    def short_phase(self):
        """(c) connect + one query + disconnect, N workers, per target."""
        a, out = self.a, self.out
        p = self.start_rwproxy("short")
        targets = [("direct", self.box.master.port, None),
                   ("haproxy", self.haproxy.port, self.haproxy.pid),
                   ("rwproxy", p.port, p.pid)]
        res = collections.defaultdict(list)
        for rnd in range(1, a.rounds + 1):
            order = targets if rnd % 2 == 1 else list(reversed(targets))
            for name, port, pid in order:
                cpu0 = proc_cpu(pid) if pid else None
                ok, err, errs, secs = short_lived(port, a.short_workers, a.short_time,
                                                  a.table_size)
                cpu = proc_cpu(pid) - cpu0 if pid else None
                rate = ok / secs
                res[name].append({"ok": ok, "errors": err, "error_kinds": errs, "seconds": secs,
                                  "rate": rate, "proxy_cpu": cpu})
                out("  round %d %-8s %7.0f connections/s (%d ok, %s)%s" % (
                    rnd, TARGET_LABELS[name], rate, ok, fmt_errors(errs),
                    "  proxy CPU %.2fs" % cpu if cpu is not None else ""))
                time.sleep(1.0)
        self.stop_rwproxy(p)
        return dict(res)

    # ---- main ----
    def run(self):
        a, out = self.a, self.out
        t_start = time.monotonic()
        lim = raise_nofile(a.nofile)
        self.workdir = tempfile.mkdtemp(prefix="rwp-bench-")
        self.header(lim)
        out("starting the sandbox in %s ..." % self.workdir)
        t0 = time.monotonic()
        self.start_sandbox()
        out("sandbox: master %s:%d, replicas %s (%.1fs)" % (
            self.box.master.name, self.box.master.port,
            ", ".join("%s:%d" % (r.name, r.port) for r in self.box.replicas),
            time.monotonic() - t0))
        mc = [int(srv.var("max_connections")) for srv in self.box.servers]
        out("servers' max_connections in effect: %s%s" % (mc, "" if min(mc) >= a.server_max_connections
                                                          else "  (lowered by mariadbd: open-file limit)"))
        took = self.prepare()
        out("prepared %d tables x %d rows in %s on the master directly (%.1fs), replicas caught up"
            % (a.tables, a.table_size, DB, took))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        hmax = 30000 if soft == resource.RLIM_INFINITY else max(1000, min(30000, (soft - 200) // 2))
        self.haproxy = HAProxy(self.workdir, self.box.master.port, hmax).start()
        self.rw = {}
        if "rwproxy" in a.targets:
            self.rw["rwproxy"] = self.start_rwproxy("rwproxy")
        if "rwproxy_ev" in a.targets:
            self.rw["rwproxy_ev"] = self.start_rwproxy("rwproxy-ev", "consistency = eventual")
        out("HAProxy pid %d port %d; %s" % (self.haproxy.pid, self.haproxy.port, "; ".join(
            "%s pid %d port %d" % (TARGET_LABELS[k], v.pid, v.port) for k, v in self.rw.items())))
        for label, pid in [("HAProxy", self.haproxy.pid)] + [
                (TARGET_LABELS[k], v.pid) for k, v in self.rw.items()]:
            out("  %s: open-file limit %s, %d threads" % (label, "/".join(map(str, nofile_limit(pid))),
                                                         len(os.listdir("/proc/%d/task" % pid))))
        out()
        if a.benchmarks:
            out("== sysbench (%d threads, %d s per run, %d rounds; round 2 runs the targets in "
                "reverse order)" % (a.threads, a.time, a.rounds))
            self.sysbench_phase()
        for p in self.rw.values():
            self.stop_rwproxy(p)
        out()
        if not a.skip_extras:
            out("== (a) %d idle client connections (fresh rwproxy each)" % a.idle_clients)
            self.results["extras"]["idle"] = self.idle_phase()
            out("== (b) %d clients running short autocommit reads for %ds (fresh rwproxy)" % (
                a.busy_clients, a.busy_time))
            self.results["extras"]["busy"] = self.busy_phase()
            out("== (c) connect + 1 query + disconnect, %d workers, %ds per run, %d rounds" % (
                a.short_workers, a.short_time, a.rounds))
            self.results["extras"]["short"] = self.short_phase()
        out()
        self.summary()
        out()
        with open("/proc/loadavg") as f:
            out("load average at the end: %s" % " ".join(f.read().split()[:3]))
        out("bench took %.0fs" % (time.monotonic() - t_start))

    def header(self, lim):
        a, out = self.a, self.out
        try:
            commit = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                    capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = "?"
        hv = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
        sv = subprocess.run([SYSBENCH, "--version"], capture_output=True, text=True).stdout.strip()
        mv = subprocess.run([sb.MARIADBD, "--version"], capture_output=True, text=True).stdout.strip()
        out("rwproxy bench  %s  commit %s  %s" % (
            datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"), commit, self.out.path))
        out("machine: %d CPUs, %s; %s; %s; %s" % (os.cpu_count(), os.uname().release, sv,
                                                  hv.replace("HAProxy version ", "HAProxy "),
                                                  mv.split(" for ")[0].replace("/usr/sbin/", "")))
        out("rwproxy: %s, %d worker threads, default config except [limits] "
            "max_client_connections = %d, handshake_timeout_ms = 3600000, [admin] metrics_listen "
            "= off, [server.NAME] max_connections = %d (0: unlimited); [pool] multiplex = on and "
            "[routing] consistency = global (the defaults)%s" % (
                a.rwproxy, a.rwproxy_threads, a.max_client_connections, a.backend_max_connections,
                "; rwproxy-ev: same with consistency = eventual" if "rwproxy_ev" in a.targets else ""))
        out("servers: max_connections = %d (sandbox default 500; raised so that the direct and "
            "HAProxy rows of the connection figures measure the servers, not their limit)"
            % a.server_max_connections)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        out("HAProxy: TCP mode, one server (the master), maxconn %d (fits the open-file limit), "
            "default threads" % (30000 if soft == resource.RLIM_INFINITY else
                                 max(1000, min(30000, (soft - 200) // 2))))
        with open("/proc/loadavg") as f:
            out("load average at start: %s (other processes on this machine share the CPUs)"
                % " ".join(f.read().split()[:3]))
        out("sysbench: %d tables x %d rows, %d threads, %d s per run; open-file limit %s" % (
            a.tables, a.table_size, a.threads, a.time, "/".join(map(str, lim))))
        out()

    # ---- summary ----
    def summary(self):
        a, out = self.a, self.out
        rows = self.results["sysbench"]
        agg = {}
        for r in rows:
            agg.setdefault((r["bench"], r["target"]), []).append(r)
        summ = {}
        for key, rs in agg.items():
            good = [r for r in rs if not r.get("error")]
            if not good:
                summ[key] = None
                continue
            q = sum(r["queries"] for r in good)
            cpu = sum(r["proxy_cpu"] for r in good) if good[0]["proxy_cpu"] is not None else None
            summ[key] = {
                "tps": sum(r["tps"] for r in good) / len(good),
                "tps_rounds": [r["tps"] for r in rs if not r.get("error")],
                "p95": sum(r["p95"] for r in good) / len(good),
                "cpu10k": cpu / q * 10000 if cpu is not None and q else None,
                "db10k": sum(r["db_cpu"] for r in good) / q * 10000 if q else None,
                "errors": sum((r["ignored"] or 0) + (r["reconnects"] or 0) for r in good),
                "failed": len(rs) - len(good),
                "queries": q, "qpt": q / max(1, sum(r["transactions"] for r in good)),
            }
        self.results["summary"] = {"%s/%s" % k: v for k, v in summ.items()}
        out("=" * 118)
        if rows:
            self.sysbench_table(agg, summ)
        ex = self.results["extras"]
        if ex:
            self.extras_summary(ex)
        self.targets(summ)

    def sysbench_table(self, agg, summ):
        a, out = self.a, self.out
        out("SYSBENCH  (%d threads, %d s per run, mean of %d rounds; CPU = utime+stime from /proc "
            "per 10,000 queries)" % (a.threads, a.time, a.rounds))
        out("%-13s %-10s %-19s %9s %8s %8s %9s %12s %10s %7s" % (
            "benchmark", "target", "tps per round", "tps", "p95 ms", "x direct", "x HAProxy",
            "proxy CPU s", "db CPU s", "errors"))
        out("-" * 118)
        for bench in a.benchmarks:
            d = summ.get((bench, "direct"))
            h = summ.get((bench, "haproxy"))
            for t in a.targets:
                s = summ.get((bench, t))
                if s is None:
                    out("%-13s %-10s FAILED (see above)" % (bench, TARGET_LABELS[t]))
                    continue
                out("%-13s %-10s %-19s %9.1f %8.2f %8s %9s %12s %10s %7s" % (
                    bench, TARGET_LABELS[t], "/".join("%.0f" % x for x in s["tps_rounds"]),
                    s["tps"], s["p95"], ratio(s["tps"], d and d["tps"]),
                    ratio(s["tps"], h and h["tps"]),
                    "-" if s["cpu10k"] is None else "%.3f" % s["cpu10k"],
                    "%.3f" % s["db10k"], "%d%s" % (s["errors"], "" if not s["failed"] else
                                                   " +%d failed" % s["failed"])))
        out("-" * 118)
        # per-thread CPU of rwproxy
        for t in [t for t in a.targets if t.startswith("rwproxy")]:
            out("%s CPU per thread (seconds, all rounds; thread ids in start order):" % TARGET_LABELS[t])
            for bench in a.benchmarks:
                tot = collections.OrderedDict()
                q = 0
                for r in agg.get((bench, t), []):
                    if r.get("error") or not r["threads"]:
                        continue
                    q += r["queries"]
                    for tid, comm, c in r["threads"]:
                        tot[tid] = tot.get(tid, 0.0) + c
                if not q:
                    continue
                total = sum(tot.values())
                out("  %-13s %s  total %.2fs = %.3f s/10k queries" % (
                    bench, "  ".join("%d:%.2f" % (tid, c) for tid, c in tot.items()), total,
                    total / q * 10000))
        out()

    def extras_summary(self, ex):
        if ex:
            out = self.out
            out("EXTRAS")
            idle = ex.get("idle", {})
            for mode in ("login", "greeting"):
                r = idle.get(mode)
                if not r:
                    continue
                per = (r["rss"] - r["rss0"]) / max(1, r["open"]) if r["rss"] and r["rss0"] else None
                out("  (a) idle %-8s %5d/%d open: rwproxy RSS %s (before %s, %s per connection), "
                    "backends %s%s" % (
                        "logged-in" if mode == "login" else "greeting", r["open"], r["requested"],
                        mib(r["rss"]), mib(r["rss0"]), "-" if per is None else "%.1f KiB" % (per / 1024),
                        r["backends"], "" if not r["errors"] else "; errors: " + fmt_errors(r["errors"])))
            b = ex.get("busy")
            if b:
                out("  (b) %d/%d clients reading: max backend connections per server %s "
                    "(after logins %s); %.0f reads/s, %s" % (
                        b["logged_in"], self.a.busy_clients, b["max_per_server"], b["after_login"],
                        b["queries"] / max(b["query_seconds"], 1e-9),
                        fmt_errors(b["query_errors"]) if b["query_errors"] else "no errors"))
            sh = ex.get("short")
            if sh:
                parts = []
                for name in ("direct", "haproxy", "rwproxy"):
                    rs = sh.get(name)
                    if not rs:
                        continue
                    rate = sum(r["rate"] for r in rs) / len(rs)
                    ok = sum(r["ok"] for r in rs)
                    cpu = sum(r["proxy_cpu"] for r in rs) if rs[0]["proxy_cpu"] is not None else None
                    err = sum(r["errors"] for r in rs)
                    parts.append("%s %.0f/s%s%s" % (
                        TARGET_LABELS[name], rate,
                        "" if cpu is None else " (%.3f CPU s/10k conns)" % (cpu / max(ok, 1) * 10000),
                        "" if not err else " %d errors" % err))
                out("  (c) connect+query+disconnect (%d workers): %s" % (self.a.short_workers,
                                                                        ", ".join(parts)))
            out()

    def targets(self, summ):
        out = self.out
        rows = []

        def tps_ratio(bench):
            r, h = summ.get((bench, "rwproxy")), summ.get((bench, "haproxy"))
            if not r or not h:
                return None, "not measured"
            x = r["tps"] / h["tps"]
            return x >= 1.0, "%.2fx (%.0f vs %.0f tps)" % (x, r["tps"], h["tps"])

        for bench in ("point_select", "read_only"):
            ok, txt = tps_ratio(bench)
            rows.append(("rwproxy tps >= 1.0x HAProxy, %s" % bench, ">= 1.00x", txt, ok))
        for bench in self.a.benchmarks:
            r, h = summ.get((bench, "rwproxy")), summ.get((bench, "haproxy"))
            if r and h and r["cpu10k"] is not None and h["cpu10k"] is not None:
                rows.append(("proxy CPU per query below HAProxy, %s" % bench,
                             "< %.3f s/10k" % h["cpu10k"], "%.3f s/10k" % r["cpu10k"],
                             r["cpu10k"] < h["cpu10k"]))
        for bench in ("point_select", "read_only"):
            r, h = summ.get((bench, "rwproxy")), summ.get((bench, "haproxy"))
            if r and h:
                rows.append(("rwproxy p95 not worse than HAProxy, %s" % bench,
                             "<= %.2f ms" % h["p95"], "%.2f ms" % r["p95"], r["p95"] <= h["p95"]))
        ex = self.results["extras"]
        idle = ex.get("idle", {}).get("login")
        if idle:
            full = idle["open"] >= idle["requested"]
            rss = idle["rss"]
            rows.append(("%d idle logged-in clients in <= 64 MiB RSS" % idle["requested"],
                         "<= 64.0 MiB", "%s with %d open" % (mib(rss), idle["open"]),
                         bool(rss is not None and full and rss <= 64 * MIB)))
        b = ex.get("busy")
        if b:
            mx = max(b["max_per_server"].values()) if b["max_per_server"] else None
            full = b["logged_in"] >= self.a.busy_clients
            rows.append(("%d reading clients on <= 64 backend conns per server" % self.a.busy_clients,
                         "<= 64", "max %s (%d clients in)" % (mx, b["logged_in"]),
                         bool(mx is not None and full and mx <= 64)))
        sh = ex.get("short")
        if sh and sh.get("direct") and sh.get("rwproxy"):
            d = sum(r["rate"] for r in sh["direct"]) / len(sh["direct"])
            r = sum(r["rate"] for r in sh["rwproxy"]) / len(sh["rwproxy"])
            rows.append(("short-lived connections faster through rwproxy than direct",
                         "> 1.00x direct", "%.2fx (%.0f vs %.0f /s)" % (r / d, r, d), r > d))
        self.results["targets"] = [{"target": t, "want": w, "measured": m, "pass": ok}
                                   for t, w, m, ok in rows]
        out("TARGETS (issue 6; reported, never asserted)")
        out("%-58s %-16s %-32s %s" % ("target", "wanted", "measured", "verdict"))
        out("-" * 118)
        for t, w, m, ok in rows:
            out("%-58s %-16s %-32s %s" % (t, w, m, "-" if ok is None else ("PASS" if ok else "MISS")))
        out("=" * 118)

    def cleanup(self, failed):
        for p in self.proxies:
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass
        if self.haproxy:
            self.haproxy.stop()
        if self.box:
            try:
                self.box.stop()
            except Exception as e:  # noqa: BLE001
                self.out("sandbox stop failed: %r" % e)
        if self.workdir:
            if failed or self.a.keep:
                self.out("kept %s (sandbox, configs, logs)" % self.workdir)
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)


def ratio(x, base):
    return "-" if not base else "%.2f" % (x / base)


def mib(b):
    return "-" if b is None else "%.1f MiB" % (b / MIB)


def fmt_errors(errs):
    if not errs:
        return "0 errors"
    items = sorted(errs.items(), key=lambda kv: -kv[1])
    return "%d errors: %s" % (sum(errs.values()), "; ".join("%dx %s" % (n, k) for k, n in items[:3]))


# ------------------------------------------------------------------ asyncio raw client

CAPS = (raw.CLIENT_LONG_PASSWORD | raw.CLIENT_LONG_FLAG | raw.CLIENT_CONNECT_WITH_DB
        | raw.CLIENT_PROTOCOL_41 | raw.CLIENT_TRANSACTIONS | raw.CLIENT_SECURE_CONNECTION
        | raw.CLIENT_MULTI_RESULTS | raw.CLIENT_PLUGIN_AUTH)


class AConn:
    """A minimal asyncio MySQL client: greeting, native-password login, COM_QUERY (no
    DEPRECATE_EOF, so every result set ends with a classic EOF packet)."""

    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer

    async def packet(self):
        hdr = await self.r.readexactly(4)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        return hdr[3], (await self.r.readexactly(n) if n else b"")

    def send(self, payload, seq):
        self.w.write(len(payload).to_bytes(3, "little") + bytes([seq & 0xff]) + payload)

    @classmethod
    async def open(cls, port, login=True, db=DB):
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        c = cls(reader, writer)
        try:
            seq, pkt = await c.packet()
            g = raw.Greeting(pkt)
            if login:
                caps = CAPS & (g.caps | raw.CLIENT_LONG_PASSWORD)
                auth = raw.native_scramble(PASSWORD, g.salt)
                p = struct.pack("<IIB", caps, 1 << 24, raw.CHARSET_UTF8MB4) + b"\x00" * 23
                p += USER.encode() + b"\x00" + bytes([len(auth)]) + auth + db.encode() + b"\x00"
                p += b"mysql_native_password\x00"
                c.send(p, seq + 1)
                for _ in range(5):
                    seq, pkt = await c.packet()
                    if pkt[:1] == b"\x00":
                        return c
                    if pkt[:1] == b"\xff":
                        raise raw.ProtocolError("login: %s" % raw.parse_err(pkt).message)
                    if pkt[:1] == b"\xfe":  # auth switch
                        rd = raw.Reader(pkt, 1)
                        plugin = rd.nul_str().decode()
                        salt = rd.rest().rstrip(b"\x00")
                        c.send(raw.scramble_for(plugin, PASSWORD, salt), seq + 1)
                        continue
                    raise raw.ProtocolError("login: unexpected packet %r" % pkt[:16])
                raise raw.ProtocolError("login: too many round trips")
            return c
        except BaseException:
            writer.close()
            raise

    async def query(self, sql):
        """Run one statement; returns the number of rows (raises on ERR)."""
        self.send(b"\x03" + sql.encode(), 0)
        _, pkt = await self.packet()
        if pkt[:1] == b"\x00":
            return 0
        if pkt[:1] == b"\xff":
            raise raw.ProtocolError(raw.parse_err(pkt).message)
        eofs, rows = 0, 0
        while True:
            _, pkt = await self.packet()
            if pkt[:1] == b"\xfe" and len(pkt) < 9:
                eofs += 1
                if eofs == 2:
                    return rows
            elif pkt[:1] == b"\xff":
                raise raw.ProtocolError(raw.parse_err(pkt).message)
            elif eofs == 1:
                rows += 1

    def close(self):
        try:
            self.w.close()
        except Exception:  # noqa: BLE001
            pass


def err_key(e):
    s = str(e) or type(e).__name__
    return (type(e).__name__ + ": " + s)[:90]


async def open_many(port, n, login, concurrency):
    """n connections (logged in, or only greeted), at most `concurrency` opening at once."""
    sem = asyncio.Semaphore(concurrency)
    conns, errors = [], collections.Counter()

    async def one():
        async with sem:
            try:
                conns.append(await asyncio.wait_for(AConn.open(port, login=login), 60))
            except Exception as e:  # noqa: BLE001
                errors[err_key(e)] += 1
    await asyncio.gather(*(one() for _ in range(n)))
    return conns, dict(errors)


async def close_conns(conns):
    for c in conns:
        c.close()
    if conns:
        await asyncio.wait([asyncio.ensure_future(c.w.wait_closed()) for c in conns], timeout=30)


async def hold_idle(port, n, login, concurrency, settle, measure):
    """Open n connections, wait settle seconds, call measure(), close them all.
    Returns (connections that opened, errors, seconds the opening took)."""
    t0 = time.monotonic()
    conns, errors = await open_many(port, n, login, concurrency)
    took = time.monotonic() - t0
    await asyncio.sleep(settle)
    measure()
    await close_conns(conns)
    return len(conns), errors, took


async def busy_clients(port, n, seconds, concurrency, sample, tables, table_size):
    t0 = time.monotonic()
    conns, login_errors = await open_many(port, n, True, concurrency)
    login_seconds = time.monotonic() - t0
    await asyncio.sleep(0.5)
    after_login = sample()
    stop = asyncio.Event()
    counts = {"q": 0}
    qerr = collections.Counter()

    async def reader(c):
        rnd = random.Random(id(c))
        while not stop.is_set():
            sql = "SELECT c FROM sbtest%d WHERE id=%d" % (rnd.randint(1, tables),
                                                          rnd.randint(1, table_size))
            try:
                await c.query(sql)
                counts["q"] += 1
            except Exception as e:  # noqa: BLE001
                qerr[err_key(e)] += 1
                return
    tasks = [asyncio.create_task(reader(c)) for c in conns]
    samples = []
    q0, t1 = counts["q"], time.monotonic()
    end = t1 + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.5)
        samples.append(sample())
    stop.set()
    qs, qsecs = counts["q"] - q0, time.monotonic() - t1
    await asyncio.wait(tasks, timeout=30)
    for t in tasks:
        t.cancel()
    await close_conns(conns)
    return {"logged_in": len(conns), "login_errors": dict(login_errors),
            "login_seconds": login_seconds, "after_login": after_login, "samples": samples,
            "queries": qs, "query_seconds": qsecs, "query_errors": dict(qerr)}


# ------------------------------------------------------------------ short-lived clients

def _short_worker(port, seconds, table_size, q, seed):
    rnd = random.Random(seed)
    ok, errs = 0, collections.Counter()
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        c = None
        try:
            c = raw.connect(HOST, port, USER, PASSWORD, DB, timeout=10)
            r = c.query1("SELECT c FROM sbtest1 WHERE id=%d" % rnd.randint(1, table_size))
            if r.kind != "rs":
                raise raw.ProtocolError("query: %r" % r)
            c.send_command(raw.COM_QUIT)
            ok += 1
        except Exception as e:  # noqa: BLE001
            errs[err_key(e)] += 1
            time.sleep(0.01)
        finally:
            if c is not None:
                c.close()
    q.put((ok, dict(errs), time.monotonic() - t0))


def short_lived(port, workers, seconds, table_size):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_short_worker, args=(port, seconds, table_size, q, i))
             for i in range(workers)]
    for p in procs:
        p.start()
    got = [q.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    ok = sum(g[0] for g in got)
    errs = collections.Counter()
    for g in got:
        errs.update(g[1])
    secs = max(g[2] for g in got)
    return ok, sum(errs.values()), dict(errs), secs


# ------------------------------------------------------------------ main

def parse_args(argv):
    quick_env = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    ap = argparse.ArgumentParser(description="rwproxy benchmark (issue 6): sysbench through "
                                 "rwproxy, HAProxy and directly, plus connection-scaling figures.")
    ap.add_argument("--quick", action="store_true", default=quick_env,
                    help="5 s runs (also BENCH_QUICK=1); extras shortened too")
    ap.add_argument("--threads", type=int, default=16, help="sysbench threads [16]")
    ap.add_argument("--time", type=int, default=None, help="seconds per sysbench run [20; quick 5]")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of alternating runs [2]")
    ap.add_argument("--tables", type=int, default=4)
    ap.add_argument("--table-size", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=None, help="warm-up seconds per target [3; quick 2]")
    ap.add_argument("--benchmarks", default="point_select,read_only,read_write",
                    help="comma list of point_select, read_only, read_write (empty: none)")
    ap.add_argument("--targets", default="direct,haproxy,rwproxy",
                    help="comma list of direct, haproxy, rwproxy, rwproxy_ev (consistency = "
                    "eventual) [direct,haproxy,rwproxy]")
    ap.add_argument("--idle-clients", type=int, default=10000)
    ap.add_argument("--busy-clients", type=int, default=2000)
    ap.add_argument("--busy-time", type=int, default=None, help="seconds of reads in (b) [10; quick 5]")
    ap.add_argument("--short-time", type=int, default=None, help="seconds per run in (c) [10; quick 5]")
    ap.add_argument("--short-workers", type=int, default=4)
    ap.add_argument("--login-concurrency", type=int, default=64,
                    help="logins in flight at once in (a) and (b) [64]")
    ap.add_argument("--skip-extras", action="store_true", help="sysbench only")
    ap.add_argument("--rwproxy", default=os.path.join(REPO, "build", "bin", "rwproxy"))
    ap.add_argument("--rwproxy-threads", type=int, default=2)
    ap.add_argument("--max-client-connections", type=int, default=20000)
    ap.add_argument("--server-max-connections", type=int, default=12000)
    ap.add_argument("--backend-max-connections", type=int, default=63,
                    help="[server.NAME] max_connections in rwproxy's config: backend connections "
                         "per server for sessions, shared by the worker threads; statements beyond "
                         "wait. 63 + the monitor's own connection stays within the target's 64 "
                         "[63; 0 = unlimited]")
    ap.add_argument("--nofile", type=int, default=65536, help="RLIMIT_NOFILE to raise to [65536]")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args(argv)
    a.time = a.time if a.time is not None else (5 if a.quick else 20)
    a.warmup = a.warmup if a.warmup is not None else (2 if a.quick else 3)
    a.busy_time = a.busy_time if a.busy_time is not None else (5 if a.quick else 10)
    a.short_time = a.short_time if a.short_time is not None else (5 if a.quick else 10)
    a.benchmarks = [b for b in a.benchmarks.split(",") if b]
    a.targets = [t for t in a.targets.split(",") if t]
    for b in a.benchmarks:
        if b not in BENCHMARKS:
            ap.error("unknown benchmark %r" % b)
    for t in a.targets:
        if t not in TARGET_LABELS:
            ap.error("unknown target %r" % t)
    a.rwproxy = os.path.abspath(a.rwproxy)
    return a


def main(argv=None):
    a = parse_args(argv)
    for path, what in ((a.rwproxy, "rwproxy (run make)"), (SYSBENCH, "sysbench"),
                       (HAPROXY, "haproxy (apt-get install haproxy)"), (sb.MARIADBD, "mariadbd")):
        if not os.path.exists(path):
            print("bench: %s not found at %s" % (what, path), file=sys.stderr)
            return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Report(os.path.join(a.results_dir, "bench-%s%s.txt" % (stamp, "-quick" if a.quick else "")))

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    b = Bench(a, out)
    failed = True
    try:
        b.run()
        failed = False
    except BaseException as e:  # noqa: BLE001 - report, clean up, exit non-zero
        out("bench FAILED: %r" % e)
        out(traceback.format_exc())
    finally:
        b.cleanup(failed)
        with open(out.path[:-4] + ".json", "w") as f:
            json.dump(b.results, f, indent=1, default=str)
        out("results: %s (raw numbers: %s)" % (out.path, out.path[:-4] + ".json"))
        out.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
