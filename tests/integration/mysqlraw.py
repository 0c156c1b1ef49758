"""
tests/integration/mysqlraw.py — a tiny raw MySQL/MariaDB protocol client (stdlib only).

Owns: packet framing (with 0xFFFFFF continuation packets), the handshake (greeting parse,
HandshakeResponse41 with chosen capabilities, mysql_native_password and caching_sha2_password
scrambles, auth switch), raw COM_* commands, reading complete answers (OK / ERR / EOF /
result sets with or without CLIENT_DEPRECATE_EOF, multi-results, LOCAL INFILE, prepare answers,
cursors), and pipelining (several commands in one write before reading anything).

It exists so the integration tests can send exactly the bytes a driver would (or would not)
send and check every byte rwproxy relays, compared with the same exchange against the server.
"""
import hashlib
import re
import socket
import struct

# ---- capability flags ----
CLIENT_LONG_PASSWORD = 0x00000001
CLIENT_FOUND_ROWS = 0x00000002
CLIENT_LONG_FLAG = 0x00000004
CLIENT_CONNECT_WITH_DB = 0x00000008
CLIENT_LOCAL_FILES = 0x00000080
CLIENT_PROTOCOL_41 = 0x00000200
CLIENT_SSL = 0x00000800
CLIENT_TRANSACTIONS = 0x00002000
CLIENT_SECURE_CONNECTION = 0x00008000
CLIENT_MULTI_STATEMENTS = 0x00010000
CLIENT_MULTI_RESULTS = 0x00020000
CLIENT_PS_MULTI_RESULTS = 0x00040000
CLIENT_PLUGIN_AUTH = 0x00080000
CLIENT_CONNECT_ATTRS = 0x00100000
CLIENT_PLUGIN_AUTH_LENENC = 0x00200000
CLIENT_SESSION_TRACK = 0x00800000
CLIENT_DEPRECATE_EOF = 0x01000000

BASE_CAPS = (CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_LOCAL_FILES
             | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION
             | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS
             | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC | CLIENT_CONNECT_ATTRS)

# ---- server status flags ----
SERVER_STATUS_IN_TRANS = 0x0001
SERVER_STATUS_AUTOCOMMIT = 0x0002
SERVER_MORE_RESULTS_EXISTS = 0x0008
SERVER_STATUS_CURSOR_EXISTS = 0x0040
SERVER_STATUS_LAST_ROW_SENT = 0x0080
SERVER_SESSION_STATE_CHANGED = 0x4000

# ---- commands ----
COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_FIELD_LIST = 0x04
COM_STATISTICS = 0x09
COM_PING = 0x0e
COM_CHANGE_USER = 0x11
COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
COM_STMT_SEND_LONG_DATA = 0x18
COM_STMT_CLOSE = 0x19
COM_STMT_RESET = 0x1a
COM_SET_OPTION = 0x1b
COM_STMT_FETCH = 0x1c
COM_RESET_CONNECTION = 0x1f

MYSQL_OPTION_MULTI_STATEMENTS_ON = 0
MYSQL_OPTION_MULTI_STATEMENTS_OFF = 1

CURSOR_TYPE_READ_ONLY = 0x01
STMT_ID_LAST_PREPARED = 0xffffffff

# ---- column types (binary protocol) ----
T_DECIMAL, T_TINY, T_SHORT, T_LONG, T_FLOAT, T_DOUBLE, T_NULL, T_TIMESTAMP = 0, 1, 2, 3, 4, 5, 6, 7
T_LONGLONG, T_INT24, T_DATE, T_TIME, T_DATETIME, T_YEAR = 8, 9, 10, 11, 12, 13
T_BLOB, T_VAR_STRING = 252, 253
UNSIGNED_FLAG = 32

MAX_PAYLOAD = 0xffffff
CHARSET_UTF8MB4 = 45


class ProtocolError(Exception):
    """The peer sent bytes this client does not accept (or closed too early)."""


class ConnectionClosed(ProtocolError):
    """The peer closed the connection."""


class LongData:
    """A statement parameter whose value was sent with COM_STMT_SEND_LONG_DATA."""


# ---------------------------------------------------------------- encoding helpers

def lenenc_int(n):
    """Length-encoded integer."""
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(b):
    """Length-encoded string."""
    return lenenc_int(len(b)) + b


def to_bytes(s):
    """str -> utf-8 bytes; bytes unchanged."""
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


class Reader:
    """Cursor over one payload."""

    def __init__(self, data, pos=0):
        self.data = data  # the payload
        self.pos = pos    # next byte to read

    def left(self):
        return len(self.data) - self.pos

    def u8(self):
        v = self.data[self.pos]
        self.pos += 1
        return v

    def uint(self, n):
        v = int.from_bytes(self.data[self.pos:self.pos + n], "little")
        self.pos += n
        return v

    def take(self, n):
        v = self.data[self.pos:self.pos + n]
        if len(v) != n:
            raise ProtocolError("payload too short")
        self.pos += n
        return v

    def rest(self):
        v = self.data[self.pos:]
        self.pos = len(self.data)
        return v

    def nul_str(self):
        end = self.data.index(b"\x00", self.pos)
        v = self.data[self.pos:end]
        self.pos = end + 1
        return v

    def lenenc(self):
        """Length-encoded integer; None for 0xFB (NULL)."""
        b = self.u8()
        if b < 251:
            return b
        if b == 0xfb:
            return None
        if b == 0xfc:
            return self.uint(2)
        if b == 0xfd:
            return self.uint(3)
        if b == 0xfe:
            return self.uint(8)
        raise ProtocolError("bad length-encoded integer 0x%02x" % b)

    def lenenc_bytes(self):
        n = self.lenenc()
        return None if n is None else self.take(n)


# ---------------------------------------------------------------- scrambles

def native_scramble(password, salt):
    """mysql_native_password: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw)))."""
    if not password:
        return b""
    pw = to_bytes(password)
    h1 = hashlib.sha1(pw).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(salt[:20] + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


def sha2_scramble(password, salt):
    """caching_sha2_password: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + salt)."""
    if not password:
        return b""
    pw = to_bytes(password)
    h1 = hashlib.sha256(pw).digest()
    h2 = hashlib.sha256(h1).digest()
    h3 = hashlib.sha256(h2 + salt[:20]).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


def scramble_for(plugin, password, salt):
    if plugin == "mysql_native_password":
        return native_scramble(password, salt)
    if plugin == "caching_sha2_password":
        return sha2_scramble(password, salt)
    if plugin == "mysql_clear_password":
        return to_bytes(password) + b"\x00"
    raise ProtocolError("unsupported auth plugin %r" % plugin)


# ---------------------------------------------------------------- answers

class Column:
    """One column definition (Protocol::ColumnDefinition41)."""

    def __init__(self, payload):
        self.raw = payload  # the whole packet payload
        r = Reader(payload)
        self.catalog = r.lenenc_bytes()    # "def"
        self.schema = r.lenenc_bytes()     # database
        self.table = r.lenenc_bytes()      # table alias
        self.org_table = r.lenenc_bytes()  # physical table
        self.name = r.lenenc_bytes()       # column alias
        self.org_name = r.lenenc_bytes()   # physical column
        r.lenenc()                         # length of fixed fields (0x0c)
        self.charset = r.uint(2)           # collation id
        self.length = r.uint(4)            # display length
        self.type = r.u8()                 # MYSQL_TYPE_*
        self.flags = r.uint(2)             # column flags
        self.decimals = r.u8()             # decimals

    def describe(self):
        """What a driver sees of the column (for comparisons)."""
        return (self.schema, self.table, self.org_table, self.name, self.org_name,
                self.charset, self.length, self.type, self.flags, self.decimals)


class Result:
    """One answer (or one result of a multi-result answer)."""

    def __init__(self, kind):
        self.kind = kind        # 'ok', 'err', 'eof', 'rs', 'prepare', 'stats', 'fields'
        self.status = 0         # server status flags (ok/eof/end of rs)
        self.warnings = 0       # warning count
        self.affected = None    # ok: affected rows
        self.insert_id = None   # ok: last insert id
        self.info = b""         # ok: human-readable info (plus session-track bytes, raw)
        self.code = None        # err: error code
        self.state = None       # err: SQLSTATE
        self.message = None     # err: message (str)
        self.columns = []       # rs / fields: Column list; prepare: column definitions
        self.params = []        # prepare: parameter definitions
        self.rows = []          # rs: raw row payloads
        self.stmt_id = None     # prepare: statement id
        self.text = None        # stats: the COM_STATISTICS string
        self.binary = False     # rs: rows are in the binary protocol
        self.infile = None      # the file name the server asked for (LOCAL INFILE), if any

    def __repr__(self):
        if self.kind == "err":
            return "<ERR %s %s %s>" % (self.code, self.state, self.message)
        if self.kind == "ok":
            return "<OK affected=%s id=%s status=0x%x warn=%s>" % (
                self.affected, self.insert_id, self.status, self.warnings)
        if self.kind == "rs":
            return "<RS %d cols %d rows status=0x%x>" % (len(self.columns), len(self.rows),
                                                          self.status)
        return "<%s>" % self.kind

    def values(self):
        """Rows decoded: tuples of bytes/None (text) or Python values (binary)."""
        if self.binary:
            return [decode_binary_row(r, self.columns) for r in self.rows]
        return [decode_text_row(r, len(self.columns)) for r in self.rows]

    def summary(self, status_mask=SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT
                | SERVER_MORE_RESULTS_EXISTS):
        """What a client observes, as a comparable value (no connection-specific bytes)."""
        st = self.status & status_mask
        if self.kind == "err":
            # statement ids in messages are connection-specific: "handler (8)" -> "handler (N)"
            msg = re.sub(r"\(\d+\)", "(N)", self.message)
            if self.rows:  # the error ended a result set that had sent rows
                return ("err", self.code, self.state, msg, len(self.rows))
            return ("err", self.code, self.state, msg)
        if self.kind == "ok":
            return ("ok", self.affected, self.insert_id, st, self.warnings, self.infile)
        if self.kind == "eof":
            return ("eof", st, self.warnings)
        if self.kind == "rs":
            return ("rs", [c.describe() for c in self.columns], list(self.rows), st,
                    self.warnings, self.binary)
        if self.kind == "prepare":
            return ("prepare", [c.describe() for c in self.params],
                    [c.describe() for c in self.columns], self.warnings)
        if self.kind == "fields":
            return ("fields", [c.raw for c in self.columns])
        if self.kind == "stats":
            return ("stats",)
        return (self.kind,)


def parse_ok(payload, caps):
    """OK packet (header 0x00, or 0xFE as the end of a result set with DEPRECATE_EOF)."""
    res = Result("ok")
    r = Reader(payload, 1)
    res.affected = r.lenenc()
    res.insert_id = r.lenenc()
    if caps & CLIENT_PROTOCOL_41:
        res.status = r.uint(2)
        res.warnings = r.uint(2)
    res.info = r.rest()
    return res


def parse_err(payload):
    res = Result("err")
    r = Reader(payload, 1)
    res.code = r.uint(2)
    if r.left() and r.data[r.pos:r.pos + 1] == b"#":
        r.take(1)
        res.state = r.take(5).decode("ascii", "replace")
    res.message = r.rest().decode("utf-8", "replace")
    return res


def parse_eof(payload):
    res = Result("eof")
    if len(payload) >= 5:
        res.warnings = int.from_bytes(payload[1:3], "little")
        res.status = int.from_bytes(payload[3:5], "little")
    return res


def is_eof(payload):
    """The classic EOF packet (0xFE, shorter than 9 bytes)."""
    return len(payload) < 9 and payload[:1] == b"\xfe"


def decode_text_row(payload, ncols):
    r = Reader(payload)
    return tuple(r.lenenc_bytes() for _ in range(ncols))


def decode_binary_row(payload, columns):
    r = Reader(payload)
    if r.u8() != 0:
        raise ProtocolError("binary row does not start with 0x00")
    n = len(columns)
    bitmap = r.take((n + 7 + 2) // 8)
    out = []
    for i, col in enumerate(columns):
        bit = i + 2
        if bitmap[bit // 8] & (1 << (bit % 8)):
            out.append(None)
            continue
        out.append(decode_binary_value(r, col.type, bool(col.flags & UNSIGNED_FLAG)))
    return tuple(out)


def decode_binary_value(r, typ, unsigned):
    fixed = {T_TINY: (1, "B", "b"), T_SHORT: (2, "H", "h"), T_YEAR: (2, "H", "h"),
             T_LONG: (4, "I", "i"), T_INT24: (4, "I", "i"), T_LONGLONG: (8, "Q", "q")}
    if typ in fixed:
        size, uf, sf = fixed[typ]
        return struct.unpack("<" + (uf if unsigned else sf), r.take(size))[0]
    if typ == T_FLOAT:
        return struct.unpack("<f", r.take(4))[0]
    if typ == T_DOUBLE:
        return struct.unpack("<d", r.take(8))[0]
    if typ == T_NULL:
        return None
    if typ in (T_DATE, T_DATETIME, T_TIMESTAMP, T_TIME):
        return ("temporal", r.take(r.u8()))
    return r.lenenc_bytes()


def encode_param(v):
    """(type, unsigned-flag byte, value bytes) of one COM_STMT_EXECUTE parameter."""
    if isinstance(v, LongData):
        return T_BLOB, 0, b""
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return T_LONGLONG, 0, struct.pack("<q", v)
    if isinstance(v, float):
        return T_DOUBLE, 0, struct.pack("<d", v)
    return T_VAR_STRING, 0, lenenc_str(to_bytes(v))


def execute_payload(stmt_id, params, flags=0):
    """COM_STMT_EXECUTE payload (without the command byte)."""
    out = struct.pack("<IBI", stmt_id, flags, 1)
    if params:
        bitmap = bytearray((len(params) + 7) // 8)
        types = b""
        values = b""
        for i, p in enumerate(params):
            if p is None:
                bitmap[i // 8] |= 1 << (i % 8)
                types += bytes([T_NULL, 0])
                continue
            t, u, val = encode_param(p)
            types += bytes([t, u])
            values += val
        out += bytes(bitmap) + b"\x01" + types + values
    return out


# ---------------------------------------------------------------- the connection

class Greeting:
    """The server's handshake v10."""

    def __init__(self, payload):
        r = Reader(payload)
        self.protocol = r.u8()                 # 10
        if self.protocol == 0xff:
            err = parse_err(payload)
            raise ProtocolError("server refused: %r" % err)
        self.server_version = r.nul_str()      # e.g. 5.5.5-10.11.x-MariaDB
        self.conn_id = r.uint(4)               # connection id
        salt1 = r.take(8)
        r.u8()                                 # filler
        caps = r.uint(2)
        self.charset = r.u8() if r.left() else 0
        self.status = r.uint(2) if r.left() else 0
        caps |= (r.uint(2) << 16) if r.left() else 0
        self.caps = caps                       # server capabilities (32 bits)
        auth_len = r.u8() if r.left() else 0
        r.take(6)
        self.mariadb_caps = r.uint(4)          # MariaDB extended capabilities
        salt2 = b""
        if caps & CLIENT_SECURE_CONNECTION:
            salt2 = r.take(max(13, auth_len - 8))
        self.salt = (salt1 + salt2).rstrip(b"\x00")[:20]  # the 20-byte scramble
        self.plugin = r.nul_str().decode() if (caps & CLIENT_PLUGIN_AUTH) and r.left() else \
            "mysql_native_password"


class RawConn:
    """One client connection speaking raw protocol packets."""

    def __init__(self, host, port, timeout=30.0, strict_seq=True, rcvbuf=None):
        if rcvbuf:  # set before connecting, so that the TCP window follows it
            self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                      socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()      # bytes received but not yet consumed
        self.seq = 0                # sequence id the next packet read must have
        self.strict_seq = strict_seq  # raise on a sequence id mismatch
        self.caps = 0               # capabilities in effect after login
        self.greeting = None        # Greeting
        self.infile_data = {}       # file name (bytes) -> content for LOCAL INFILE requests
        self.closed = False         # the peer closed the connection

    # -- context manager
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def deprecate_eof(self):
        return bool(self.caps & CLIENT_DEPRECATE_EOF)

    # -- bytes
    def _fill(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                raise ConnectionClosed("connection closed by peer (%d bytes pending)" % len(self.buf))
            self.buf += chunk

    def read_physical(self):
        """One physical packet: (seq, payload)."""
        self._fill(4)
        n = int.from_bytes(self.buf[0:3], "little")
        seq = self.buf[3]
        self._fill(4 + n)
        payload = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return seq, payload

    def read_packet(self):
        """One logical packet (joins 0xFFFFFF continuations), checks sequence ids."""
        parts = []
        while True:
            seq, payload = self.read_physical()
            if self.strict_seq and seq != self.seq:
                raise ProtocolError("sequence id %d, expected %d" % (seq, self.seq))
            self.seq = (seq + 1) & 0xff
            parts.append(payload)
            if len(payload) < MAX_PAYLOAD:
                return b"".join(parts)

    def wait_closed(self):
        """Read until the peer closes; returns the bytes received meanwhile."""
        got = bytes(self.buf)
        self.buf.clear()
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.closed = True
                return got
            got += chunk

    @staticmethod
    def frame(payload, seq=0):
        """Payload -> physical packets (split at 0xFFFFFF, empty trailer if needed)."""
        out = bytearray()
        pos = 0
        while True:
            chunk = payload[pos:pos + MAX_PAYLOAD]
            out += len(chunk).to_bytes(3, "little") + bytes([seq & 0xff]) + chunk
            seq += 1
            pos += len(chunk)
            if len(chunk) < MAX_PAYLOAD:
                return bytes(out), seq & 0xff

    def write_packet(self, payload, seq):
        data, nxt = self.frame(payload, seq)
        self.sock.sendall(data)
        self.seq = nxt
        return nxt

    # -- handshake
    def read_greeting(self):
        self.seq = 0
        self.greeting = Greeting(self.read_packet())
        return self.greeting

    def handshake_response(self, user, password, db=None, caps=BASE_CAPS, deprecate_eof=True,
                           plugin="mysql_native_password", charset=CHARSET_UTF8MB4,
                           attrs=None, auth_data=None, intersect=True):
        """HandshakeResponse41 bytes (framed, seq 1); sets self.caps."""
        g = self.greeting
        if deprecate_eof:
            caps |= CLIENT_DEPRECATE_EOF
        else:
            caps &= ~CLIENT_DEPRECATE_EOF
        if db is None:
            caps &= ~CLIENT_CONNECT_WITH_DB
        if intersect:
            caps &= g.caps | CLIENT_LONG_PASSWORD
        self.caps = caps
        self.plugin = plugin
        self.password = password
        if auth_data is None:
            auth_data = scramble_for(plugin, password, g.salt)
        p = struct.pack("<IIB", caps, 1 << 30, charset) + b"\x00" * 23
        p += to_bytes(user) + b"\x00"
        if caps & CLIENT_PLUGIN_AUTH_LENENC:
            p += lenenc_str(auth_data)
        elif caps & CLIENT_SECURE_CONNECTION:
            p += bytes([len(auth_data)]) + auth_data
        else:
            p += auth_data + b"\x00"
        if caps & CLIENT_CONNECT_WITH_DB:
            p += to_bytes(db) + b"\x00"
        if caps & CLIENT_PLUGIN_AUTH:
            p += plugin.encode() + b"\x00"
        if caps & CLIENT_CONNECT_ATTRS:
            attrs = attrs if attrs is not None else {"_client_name": "mysqlraw", "program_name": "pytest"}
            kv = b"".join(lenenc_str(to_bytes(k)) + lenenc_str(to_bytes(v)) for k, v in attrs.items())
            p += lenenc_str(kv)
        data, self.seq = self.frame(p, 1)
        return data

    def read_auth_result(self):
        """Follows auth switches until OK or ERR; returns that Result."""
        for _ in range(10):
            pkt = self.read_packet()
            head = pkt[:1]
            if head == b"\x00":
                return parse_ok(pkt, self.caps)
            if head == b"\xff":
                return parse_err(pkt)
            if head == b"\xfe":
                r = Reader(pkt, 1)
                plugin = r.nul_str().decode()
                salt = r.rest().rstrip(b"\x00")
                self.switched_to = plugin
                self.write_packet(scramble_for(plugin, self.password, salt), self.seq)
                continue
            if head == b"\x01":
                if pkt[1:2] == b"\x03":  # caching_sha2 fast auth success; OK follows
                    continue
                raise ProtocolError("auth needs more data than this client can give: %r" % pkt)
            raise ProtocolError("unexpected packet during auth: %r" % pkt[:32])
        raise ProtocolError("too many auth round trips")

    def login(self, user="app", password="app_pw", db="test", **kw):
        """Greeting, response, auth. Returns the final OK/ERR Result."""
        self.switched_to = None
        self.read_greeting()
        self.sock.sendall(self.handshake_response(user, password, db, **kw))
        return self.read_auth_result()

    # -- commands
    def command_bytes(self, cmd, payload=b""):
        """A command packet (seq 0), framed, not sent."""
        return self.frame(bytes([cmd]) + to_bytes(payload), 0)[0]

    def send_command(self, cmd, payload=b""):
        self.write_packet(bytes([cmd]) + to_bytes(payload), 0)

    def expect_next_answer(self, nsent_packets=1):
        """After a pipelined write: the next answer starts right after its command."""
        self.seq = nsent_packets & 0xff

    def read_response(self, binary=False):
        """A complete COM_QUERY / COM_STMT_EXECUTE answer: list of Results (multi-results)."""
        out = []
        while True:
            res = self.read_one_result(binary)
            out.append(res)
            if res.kind == "err" or not (res.status & SERVER_MORE_RESULTS_EXISTS):
                return out

    def read_one_result(self, binary=False):
        pkt = self.read_packet()
        head = pkt[:1]
        if head == b"\x00":
            return parse_ok(pkt, self.caps)
        if head == b"\xff":
            return parse_err(pkt)
        if head == b"\xfe" and len(pkt) < 9:
            # EOF; with DEPRECATE_EOF a server may send an OK packet with the 0xFE header
            return parse_ok(pkt, self.caps) if self.deprecate_eof and len(pkt) >= 7 else parse_eof(pkt)
        if head == b"\xfb":
            return self._send_infile(pkt[1:])
        ncols = Reader(pkt).lenenc()
        return self._read_result_set(ncols, binary)

    def _send_infile(self, name):
        data = self.infile_data.get(name, b"")
        pos = 0
        while pos < len(data):
            self.write_packet(data[pos:pos + 65536], self.seq)
            pos += 65536
        self.write_packet(b"", self.seq)
        res = self.read_one_result()
        res.infile = name
        return res

    def _read_columns(self, n):
        return [Column(self.read_packet()) for _ in range(n)]

    def _read_result_set(self, ncols, binary):
        rs = Result("rs")
        rs.binary = binary
        rs.columns = self._read_columns(ncols)
        # Without DEPRECATE_EOF an EOF follows the columns (and ends the answer when it says a
        # cursor was opened). With it, rows follow at once (a cursor: the terminator at once).
        if not self.deprecate_eof:
            eof = self.read_packet()
            if not is_eof(eof):
                raise ProtocolError("no EOF after column definitions: %r" % eof[:16])
            st = parse_eof(eof)
            if st.status & SERVER_STATUS_CURSOR_EXISTS:
                rs.status, rs.warnings = st.status, st.warnings
                return rs
        return self._read_rows(rs)

    def _read_rows(self, rs):
        for _ in range(100_000_000):
            pkt = self.read_packet()
            head = pkt[:1]
            if head == b"\xff":  # an error after some rows: keep what came before it
                err = parse_err(pkt)
                err.columns, err.rows = rs.columns, rs.rows
                return err
            if head == b"\xfe" and (is_eof(pkt) if not self.deprecate_eof else len(pkt) < MAX_PAYLOAD):
                end = parse_eof(pkt) if not self.deprecate_eof else parse_ok(pkt, self.caps)
                rs.status, rs.warnings = end.status, end.warnings
                return rs
            rs.rows.append(pkt)
        raise ProtocolError("too many rows")

    def query(self, sql):
        """COM_QUERY; all results."""
        self.send_command(COM_QUERY, sql)
        return self.read_response()

    def query_result_values(self):
        """Read one single-result answer and return its decoded rows."""
        res = self.read_response()
        assert len(res) == 1 and res[0].kind == "rs", res
        return res[0].values()

    def query1(self, sql):
        """COM_QUERY expecting one result; returns it."""
        res = self.query(sql)
        assert len(res) == 1, res
        return res[0]

    def simple(self, cmd, payload=b""):
        """A command answered by a single OK/ERR/EOF."""
        self.send_command(cmd, payload)
        return self.read_one_result()

    def ping(self):
        return self.simple(COM_PING)

    def init_db(self, db):
        return self.simple(COM_INIT_DB, db)

    def set_option(self, opt):
        return self.simple(COM_SET_OPTION, struct.pack("<H", opt))

    def reset_connection(self):
        return self.simple(COM_RESET_CONNECTION)

    def statistics(self):
        self.send_command(COM_STATISTICS)
        res = Result("stats")
        res.text = self.read_packet().decode("utf-8", "replace")
        return res

    def field_list(self, table, wildcard=b""):
        self.send_command(COM_FIELD_LIST, to_bytes(table) + b"\x00" + to_bytes(wildcard))
        res = Result("fields")
        for _ in range(100000):
            pkt = self.read_packet()
            if pkt[:1] == b"\xff":
                return parse_err(pkt)
            if pkt[:1] == b"\xfe" and len(pkt) < MAX_PAYLOAD:
                return res
            res.columns.append(Column(pkt))
        raise ProtocolError("field list too long")

    def quit(self):
        self.send_command(COM_QUIT)
        return self.wait_closed()

    def change_user(self, user, password, db="test", charset=CHARSET_UTF8MB4,
                    plugin="mysql_native_password"):
        """COM_CHANGE_USER with a scramble of the greeting's salt; follows auth switches."""
        self.password = password
        auth = scramble_for(plugin, password, self.greeting.salt)
        p = bytes([COM_CHANGE_USER]) + to_bytes(user) + b"\x00"
        p += bytes([len(auth)]) + auth
        p += to_bytes(db or "") + b"\x00"
        p += struct.pack("<H", charset)
        if self.caps & CLIENT_PLUGIN_AUTH:
            p += plugin.encode() + b"\x00"
        if self.caps & CLIENT_CONNECT_ATTRS:
            kv = lenenc_str(b"_client_name") + lenenc_str(b"mysqlraw")
            p += lenenc_str(kv)
        self.write_packet(p, 0)
        return self.read_auth_result()

    # -- prepared statements
    def read_prepare(self):
        pkt = self.read_packet()
        if pkt[:1] == b"\xff":
            return parse_err(pkt)
        if pkt[:1] != b"\x00":
            raise ProtocolError("bad prepare answer %r" % pkt[:16])
        res = Result("prepare")
        r = Reader(pkt, 1)
        res.stmt_id = r.uint(4)
        ncols = r.uint(2)
        nparams = r.uint(2)
        r.u8()
        res.warnings = r.uint(2) if r.left() >= 2 else 0
        if nparams:
            res.params = self._read_columns(nparams)
            if not self.deprecate_eof:
                self._expect_eof()
        if ncols:
            res.columns = self._read_columns(ncols)
            if not self.deprecate_eof:
                self._expect_eof()
        return res

    def _expect_eof(self):
        pkt = self.read_packet()
        if not is_eof(pkt):
            raise ProtocolError("expected EOF, got %r" % pkt[:16])

    def prepare(self, sql):
        self.send_command(COM_STMT_PREPARE, sql)
        return self.read_prepare()

    def execute(self, stmt_id, params=(), flags=0):
        self.send_command(COM_STMT_EXECUTE, execute_payload(stmt_id, list(params), flags))
        return self.read_response(binary=True)

    def fetch(self, stmt_id, nrows, columns):
        """COM_STMT_FETCH: rows of an open cursor."""
        self.send_command(COM_STMT_FETCH, struct.pack("<II", stmt_id, nrows))
        rs = Result("rs")
        rs.binary = True
        rs.columns = columns
        return self._read_rows(rs)

    def send_long_data(self, stmt_id, param, data):
        self.send_command(COM_STMT_SEND_LONG_DATA, struct.pack("<IH", stmt_id, param) + to_bytes(data))

    def stmt_reset(self, stmt_id):
        return self.simple(COM_STMT_RESET, struct.pack("<I", stmt_id))

    def stmt_close(self, stmt_id):
        self.send_command(COM_STMT_CLOSE, struct.pack("<I", stmt_id))


def connect(host, port, user="app", password="app_pw", db="test", timeout=30.0, rcvbuf=None,
            **kw):
    """A logged-in RawConn (raises ProtocolError if the login fails); rcvbuf: SO_RCVBUF."""
    c = RawConn(host, port, timeout=timeout, rcvbuf=rcvbuf)
    try:
        res = c.login(user, password, db, **kw)
    except Exception:
        c.close()
        raise
    if res.kind != "ok":
        c.close()
        raise ProtocolError("login failed: %r" % res)
    return c
