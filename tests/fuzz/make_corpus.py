#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py — (re)writes the seed corpora in tests/fuzz/corpus/<target>/.

Sources: the real wire bytes captured from MariaDB 10.11.19 and its clients (libmariadb's
`mariadb` client, PyMySQL 1.0.2, Connector/J 2.7.6) that the unit tests already carry as hex
(tests/unit/test_handshake.c, test_walker.c, test_response.c); SQL from the tables of
tests/unit/test_classify.c and test_digest.c; a few packets built here by hand following the
protocol (SSLRequest prefixes of the captured logins, COM_CHANGE_USER, AuthSwitchRequest,
GTID lists, rule inputs, a continuation packet). Run from anywhere:
    python3 tests/fuzz/make_corpus.py
"""
import hashlib
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UNIT = os.path.join(ROOT, "tests", "unit")
OUT = os.path.join(HERE, "corpus")

# capability bits (protocol/mysql_const.h)
LONG_FLAG, CONNECT_WITH_DB, LOCAL_FILES = 0x4, 0x8, 0x80
PROTOCOL_41, SSL, TRANSACTIONS, SECURE = 0x200, 0x800, 0x2000, 0x8000
MULTI_STMTS, MULTI_RESULTS, PS_MULTI = 0x10000, 0x20000, 0x40000
PLUGIN_AUTH, CONNECT_ATTRS, LENENC_DATA = 0x80000, 0x100000, 0x200000
SESSION_TRACK, DEPRECATE_EOF = 0x800000, 0x1000000
CAPS_EOF = (LONG_FLAG | PROTOCOL_41 | TRANSACTIONS | SECURE | MULTI_STMTS | MULTI_RESULTS |
            PS_MULTI | PLUGIN_AUTH | LOCAL_FILES)
CAPS_DEOF = CAPS_EOF | DEPRECATE_EOF | SESSION_TRACK
CAPS_OLD = PROTOCOL_41 | TRANSACTIONS | MULTI_RESULTS
CAPS_TRACK = CAPS_OLD | SESSION_TRACK | DEPRECATE_EOF

# response kinds (protocol/walker.h)
K_SINGLE, K_STRING, K_QUERY, K_FIELD_LIST, K_PREPARE, K_EXECUTE, K_FETCH = 1, 2, 3, 4, 5, 6, 7


def c_unescape(body):
    """The bytes of a C string literal body (between the quotes)."""
    out = bytearray()
    i = 0
    simple = {"n": 10, "t": 9, "r": 13, "\\": 92, '"': 34, "'": 39, "a": 7, "b": 8, "f": 12, "v": 11,
              "?": 63}
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            out.append(int(m.group(0), 16) & 0xff)
            i += 2 + len(m.group(0))
        elif nxt in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            out.append(int(m.group(0), 8) & 0xff)
            i += 1 + len(m.group(0))
        else:
            out += nxt.encode()
            i += 2
    return bytes(out)


def hex_consts(path):
    """NAME -> bytes for `#define NAME "hex" "hex"` and `static const char NAME[] = "hex";`."""
    text = open(path, encoding="utf-8").read()
    found = {}
    pat = re.compile(r'(?:#define\s+(\w+)\s*\\?\s*|static const char (\w+)\[\]\s*=\s*)'
                     r'((?:"[0-9a-fA-F]*"\s*\\?\s*)+)')
    for m in pat.finditer(text):
        name = m.group(1) or m.group(2)
        hexs = "".join(re.findall(r'"([0-9a-fA-F]*)"', m.group(3)))
        if hexs and len(hexs) % 2 == 0:
            found[name] = bytes.fromhex(hexs)
    return found


def packets(stream):
    """Split a byte stream into (seq, payload)."""
    out, off = [], 0
    while off + 4 <= len(stream):
        n = stream[off] | stream[off + 1] << 8 | stream[off + 2] << 16
        out.append((stream[off + 3], stream[off + 4:off + 4 + n]))
        off += 4 + n
    return out


def payload(pkt):
    return packets(pkt)[0][1]


def pkt(seq, body):
    return struct.pack("<I", len(body))[:3] + bytes([seq]) + body


def lenenc(n):
    if n < 251:
        return bytes([n])
    if n <= 0xffff:
        return b"\xfc" + struct.pack("<H", n)
    if n <= 0xffffff:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(b):
    return lenenc(len(b)) + b


class Corpus:
    def __init__(self):
        if os.path.isdir(OUT):
            shutil.rmtree(OUT)
        self.counts = {}

    def add(self, target, name, data):
        d = os.path.join(OUT, target)
        os.makedirs(d, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:48]
        h = hashlib.sha1(data).hexdigest()[:8]
        with open(os.path.join(d, f"{safe}-{h}"), "wb") as f:
            f.write(data)
        self.counts[target] = self.counts.get(target, 0) + 1


def main():
    c = Corpus()
    hs = hex_consts(os.path.join(UNIT, "test_handshake.c"))
    wk = hex_consts(os.path.join(UNIT, "test_walker.c"))
    rsp = hex_consts(os.path.join(UNIT, "test_response.c"))

    # ---- handshake_response: real logins, and the SSLRequest each client would send first
    for name in ("CLI_RESPONSE", "PYMYSQL_RESPONSE", "JDBC_RESPONSE"):
        p = payload(hs[name])
        c.add("handshake_response", name.lower(), p)
        caps = struct.unpack("<I", p[:4])[0] | SSL
        c.add("handshake_response", name.lower() + "_sslrequest", struct.pack("<I", caps) + p[4:32])
    # a lenenc auth (caching_sha2 style, 32 bytes) with db, plugin and attributes
    caps = (PROTOCOL_41 | SECURE | PLUGIN_AUTH | LENENC_DATA | CONNECT_WITH_DB | CONNECT_ATTRS |
            DEPRECATE_EOF | SESSION_TRACK)
    attrs = lenenc_str(b"_client_name") + lenenc_str(b"libmysql") + lenenc_str(b"_pid") + lenenc_str(b"42")
    body = (struct.pack("<IIB", caps, 0x1000000, 45) + b"\0" * 23 + b"app\0" + lenenc_str(bytes(range(1, 33))) +
            b"test\0" + b"caching_sha2_password\0" + lenenc_str(attrs))
    c.add("handshake_response", "lenenc_auth_caching_sha2", body)

    # ---- change_user: 4 bytes of client caps, then the COM_CHANGE_USER payload
    cli_caps = struct.unpack("<I", payload(hs["CLI_RESPONSE"])[:4])[0]
    auth20 = bytes.fromhex("1c099745e76c200992d38a140ca972273e4b428f")
    cu = (b"\x11" + b"bob\0" + bytes([20]) + auth20 + b"db1\0" + struct.pack("<H", 45) +
          b"mysql_native_password\0" + lenenc_str(attrs))
    c.add("change_user", "libmariadb_full", struct.pack("<I", cli_caps | CONNECT_ATTRS) + cu)
    c.add("change_user", "minimal", struct.pack("<I", CAPS_EOF) + b"\x11bob\0\0\0")
    c.add("change_user", "no_secure_conn", struct.pack("<I", PROTOCOL_41) + b"\x11app\0secret\0test\0")

    # ---- greeting (and AuthSwitchRequest): payloads
    for name in ("REAL_GREETING", "CLI_GREETING", "PYMYSQL_GREETING", "JDBC_GREETING"):
        c.add("greeting", name.lower(), payload(hs[name]))
    c.add("greeting", "auth_switch_native", b"\xfemysql_native_password\0" + auth20 + b"\0")
    c.add("greeting", "auth_switch_sha2", b"\xfecaching_sha2_password\0" + auth20 + b"\0")

    # ---- response: 4 bytes of caps, then an OK/ERR/EOF payload
    for name, data in sorted(rsp.items()):
        if not re.match(r"(OK|ERR|EOF|TERM)_", name):
            continue
        p = payload(data)
        caps = CAPS_TRACK if ("TRACK" in name or "JDBC" in name or "LOGIN" in name or
                              name.startswith("TERM")) else CAPS_OLD
        c.add("response", name.lower(), struct.pack("<I", caps) + p)
    # a GTID tracked by session_track_gtids / last_gtid
    track = bytes([0]) + lenenc_str(lenenc_str(b"last_gtid") + lenenc_str(b"0-1-42"))
    track += bytes([3]) + lenenc_str(b"\0" + lenenc_str(b"0-1-42,1-2-7"))
    ok = b"\x00\x01\x00" + struct.pack("<HH", 0x4002, 0) + b"\x00" + lenenc_str(track)
    c.add("response", "ok_track_gtid", struct.pack("<I", CAPS_TRACK) + ok)

    # ---- walker: kind, caps, flags (bit 0 cursor, bit 1 expand), seed, stream
    kinds = {"Q_": K_QUERY, "FIELD_LIST": K_FIELD_LIST, "STATISTICS": K_STRING, "PREP": K_PREPARE,
             "EXEC": K_EXECUTE, "FETCH": K_FETCH, "PING": K_SINGLE}
    for name, data in sorted(wk.items()):
        m = re.match(r"R([ED])_(.*)", name)
        if not m or name.endswith("INFILE_OK"):
            continue
        rest = m.group(2)
        caps = CAPS_DEOF if m.group(1) == "D" else CAPS_EOF
        if rest.startswith("INFILE"):
            kind, stream = K_QUERY, data + wk[name.replace("REQ", "OK")]
        else:
            kind = next(v for k, v in kinds.items() if rest.startswith(k))
            stream = data
        flags = 1 if "CURSOR" in rest else 0
        c.add("walker", name.lower(), bytes([kind]) + struct.pack("<I", caps) + bytes([flags, 0x5a, 0xa5]) + stream)
    # a row split over a 0xffffff packet and its continuation (expand mode pads the zeros)
    coldef = (lenenc_str(b"def") + b"\0\0\0" + lenenc_str(b"c") + lenenc_str(b"c") + b"\x0c" +
              struct.pack("<HIBHBH", 45, 0xffffff, 0xfc, 0, 0, 0))
    stream = (pkt(1, b"\x01") + pkt(2, coldef) + pkt(3, b"\xfe\0\0\x02\0") +
              b"\xff\xff\xff\x04" + b"\xfd\xfb\xff\xff" + b"x" * 12 + pkt(5, b"tail!") +
              pkt(6, b"\xfe\0\0\x02\0"))
    c.add("walker", "continuation_row", bytes([K_QUERY]) + struct.pack("<I", CAPS_EOF) + bytes([2, 1, 2]) + stream)

    # ---- frame: max selector, flags (bit 0: 16 MiB continuation prefix), packets
    c.add("frame", "select_stream", bytes([9, 0]) + wk["RE_Q_SELECT"])
    c.add("frame", "greeting_limit", bytes([4, 0]) + hs["REAL_GREETING"])
    c.add("frame", "login_stream", bytes([6, 0]) + hs["CLI_GREETING"] + hs["CLI_RESPONSE"])
    c.add("frame", "continuation", bytes([9, 1]) + pkt(1, b"end of a 16 MiB packet") + pkt(2, b"\x03SELECT 1"))
    c.add("frame", "continuation_over_limit", bytes([6, 1]) + pkt(1, b"x"))

    # ---- resultset: flags, status, seq, ncols, NUL-separated names then cells (\x01 = NULL)
    def rs(flags, status, seq, cols, rows):
        strs = list(cols) + [v for r in rows for v in r]
        return bytes([flags]) + struct.pack("<H", status) + bytes([seq, len(cols) - 1]) + b"\0".join(
            b"\x01" if v is None else v for v in strs)
    c.add("resultset", "servers", rs(0, 2, 1, [b"name", b"host", b"port", b"state"],
                                     [[b"master", b"127.0.0.1", b"3307", b"up"],
                                      [b"replica1", b"127.0.0.1", b"3308", None]]))
    c.add("resultset", "deprecate_eof", rs(1, 0x4002, 1, [b"Variable_name", b"Value"],
                                           [[b"max_connections", b"151"], [b"version", b"10.11.19-MariaDB"]]))
    c.add("resultset", "empty", rs(0, 0x0a, 5, [b"x"], []))
    c.add("resultset", "small_limit", rs(2, 2, 1, [b"digest", b"count"], [[b"SELECT ?" * 20, b"17"]] * 4))

    # ---- auth: flags, 20-byte scramble, then hash text or reply
    scramble = bytes.fromhex("605051245e30716900fef70802")[:8] + b"<-lXW*iVS{2'"
    c.add("auth", "hash_text", b"\x01" + scramble + b"*95BE1A04B76EE9AB97CEE8436421F2D15539B738")
    c.add("auth", "reply20", b"\x01" + scramble + auth20)
    c.add("auth", "empty_reply", b"\x00" + scramble)
    c.add("auth", "password", b"\x01" + scramble + b"app_pw")

    # ---- classify: every 8th statement of the classifier's table, plus hints and junk
    text = open(os.path.join(UNIT, "test_classify.c"), encoding="utf-8").read()
    sqls = [c_unescape(m.group(1)) for m in
            re.finditer(r'^\s*RN?\("((?:[^"\\]|\\.)*)"', text, re.M)]
    for i, s in enumerate(sqls):
        if i % 8 == 0:
            c.add("classify", f"row{i:03d}", s)
    extra = [b"/* rwproxy:server=replica2 */ SELECT 1", b"-- rwproxy:master\nSELECT @x",
             b"CREATE TEMPORARY TABLE tmp1 (a INT)\nINSERT INTO tmp1 VALUES (1)\nSELECT * FROM tmp1\nDROP TEMPORARY TABLE tmp1",
             b"START TRANSACTION READ ONLY\nSELECT 1\nCOMMIT", b"SET autocommit=0\nSELECT 1\nCOMMIT\nSET autocommit=1",
             b"SELECT 'a\\'b'; DELETE FROM t", b"KILL QUERY 42", b"USE `my db`"]
    for i, s in enumerate(extra):
        c.add("classify", f"extra{i}", s)

    # ---- digest: small-cap selector byte + the statements of test_digest.c
    text = open(os.path.join(UNIT, "test_digest.c"), encoding="utf-8").read()
    dsql = [c_unescape(m.group(1)) for m in re.finditer(r'^\s*\{"((?:[^"\\]|\\.)*)",', text, re.M)]
    for i, s in enumerate(dsql):
        c.add("digest", f"digest{i:02d}", bytes([i * 7 % 64]) + s)

    # ---- gtid
    for i, s in enumerate([b"0-1-100", b"0-1-100,1-2-5", b" 0-1-1 , 2-3-4 ", b"0-1-5|1-2-3,0-1-9",
                           b",".join(b"%d-1-%d" % (d, d * 10) for d in range(16)),
                           b"4294967295-4294967295-18446744073709551615", b"0-1-100|"]):
        c.add("gtid", f"gtid{i}", s)

    # ---- rules: user selector, then SQL (bit 2: a pattern line first)
    for i, s in enumerate([b"\x01SELECT * FROM orders WHERE id = 1", b"\x00SELECT a FROM reports WHERE x",
                           b"\x02/* analytics */ SELECT sum(x) FROM t", b"\x00DROP DATABASE prod",
                           b"\x00aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", b"\x03SELECT * FROM t FOR UPDATE",
                           b"\x04^\\s*select\\b.*\\bfrom\\s+(\\w+)\nselect * from users",
                           b"\xb4(?i)insert\\s+into\nINSERT INTO t VALUES (1)"]):
        c.add("rules", f"rules{i}", s)

    for t in sorted(c.counts):
        print(f"{t}: {c.counts[t]} seeds")


if __name__ == "__main__":
    main()
