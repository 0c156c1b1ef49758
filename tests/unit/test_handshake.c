/*
 * tests/unit/test_handshake.c — cmocka tests for protocol/handshake.{h,c}: the v10 greeting
 * (encode/decode round trip, MariaDB extended capabilities, a real MariaDB 10.11 greeting),
 * HandshakeResponse41 (round trips with db, plugin, attributes and every auth-length
 * encoding; real replies captured from libmariadb, PyMySQL and Connector/J; truncation at
 * every byte; over-long names), SSLRequest detection, AuthSwitchRequest and COM_CHANGE_USER.
 * The captured bytes were recorded from MariaDB 10.11.19 (Debian 12) and its clients.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/handshake.h"
#include "protocol/auth.h"
#include "protocol/mysql_const.h"

/* Decodes hex text into a fresh heap buffer of exactly the right size. */
static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    *len = n;
    return out;
}

/* A copy of the first n bytes of p in a heap block of exactly n bytes (so ASan sees
 * any read past the end). */
static uint8_t *exact_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

/* Asserts [p, p+n) lies inside [base, base+len); an empty field may point anywhere
 * (e.g. a static "") or be NULL. */
static void assert_inside(const void *p, size_t n, const uint8_t *base, size_t len)
{
    if (n == 0)
        return;
    assert_non_null(p);
    const uint8_t *q = p;
    assert_true(q >= base && q + n <= base + len);
}

/* Collects the cut lengths a truncation loop wrongly accepted, to report them all at once. */
typedef struct {
    char text[2048]; /* "12 13 14 ..." */
    size_t len;      /* bytes used in text */
    int count;       /* cuts recorded */
} cut_list;

static void cut_add(cut_list *l, size_t cut)
{
    if (l->len + 12 < sizeof l->text)
        l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, " %zu", cut);
    l->count++;
}

/* Fails (at the caller's line) when some truncations were wrongly accepted. */
#define CUT_CHECK(l, what, total)                                                             \
    do {                                                                                      \
        if ((l)->count)                                                                       \
            fail_msg("%s of %zu bytes truncated to these lengths decoded as OK:%s", (what),     \
                     (size_t)(total), (l)->text);                                             \
    } while (0)

/* ---- captured wire bytes (whole packets, header included) ---- */

/* MariaDB 10.11.19 greeting to a fresh TCP connection (connection id 3). */
#define REAL_GREETING \
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310003000000" \
    "605051245e30716900fef7080200ff81150000000000001d0000003c2d6c58572a6956537b3227006d79" \
    "73716c5f6e61746976655f70617373776f726400"


/* `mariadb -uapp -papp_pw test` (libmariadb 3.3.20): greeting, then its HandshakeResponse41 */
#define CLI_GREETING \
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310008000000" \
    "735c536c4555594100fef7080200ff81150000000000001d0000007652736d4b6d642c4e256a6a006d79" \
    "73716c5f6e61746976655f70617373776f726400"

#define CLI_RESPONSE \
    "d30000018ca2bf000000100021000000000000000000000000000000000000001d00000061707000141c" \
    "099745e76c200992d38a140ca972273e4b428f74657374006d7973716c5f6e61746976655f7061737377" \
    "6f7264007e035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f70" \
    "696404363931320f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d0678" \
    "38365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e" \
    "302e302e31"


/* PyMySQL 1.0.2 (sets CLIENT_MYSQL/LONG_PASSWORD: no MariaDB extended caps) */
#define PYMYSQL_GREETING \
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310009000000" \
    "4366565c4a40406200fef7080200ff81150000000000001d0000004a2d413d515d5f44784e5e6d006d79" \
    "73716c5f6e61746976655f70617373776f726400"

#define PYMYSQL_RESPONSE \
    "8a0000010da23a00ffffff002d00000000000000000000000000000000000000000000006170700014a1" \
    "2ac099cf919b5ecd61223d47a764dc021f732e74657374006d7973716c5f6e61746976655f7061737377" \
    "6f726400350c5f636c69656e745f6e616d650770796d7973716c045f70696404363932310f5f636c6965" \
    "6e745f76657273696f6e05312e302e32"


/* MariaDB Connector/J 2.7.6 (DEPRECATE_EOF, SESSION_TRACK; pipelined: only the first
 * packet of its first write is kept here) */
#define JDBC_GREETING \
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531000a000000" \
    "215f3d505c5b384300fef7080200ff81150000000000001d0000002a465f2f694457672479582c006d79" \
    "73716c5f6e61746976655f70617373776f726400"

#define JDBC_RESPONSE \
    "eb0000018aa3be0100000040e00000000000000000000000000000000000000000000000617070001437" \
    "83b5e9b1be92dccd89c46108c0fa30dc0d274874657374006d7973716c5f6e61746976655f7061737377" \
    "6f726400960c5f636c69656e745f6e616d65134d61726961444220436f6e6e6563746f722f4a0f5f636c" \
    "69656e745f76657273696f6e05322e372e360c5f7365727665725f686f7374093132372e302e302e3103" \
    "5f6f73054c696e7578045f7069640436393634075f74687265616401310c5f6a6176615f76656e646f72" \
    "0644656269616e0d5f6a6176615f76657273696f6e0731372e302e3135"


#define H2_APP_PW "*95BE1A04B76EE9AB97CEE8436421F2D15539B738"

/* ================= greeting ================= */

static void test_real_greeting_decode(void **state)
{
    (void)state;
    size_t n;
    uint8_t *pkt = unhex(REAL_GREETING, &n);
    assert_int_equal(n, 104);
    assert_int_equal(proto_u24(pkt), 100);
    assert_int_equal(pkt[3], 0);
    proto_greeting g;
    memset(&g, 0xa5, sizeof g);
    assert_int_equal(proto_greeting_decode(pkt + 4, n - 4, &g), PROTO_OK);
    assert_int_equal(g.protocol_version, 10);
    assert_string_equal(g.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
    assert_int_equal(g.connection_id, 3);
    assert_int_equal(g.scramble_len, 20);
    assert_memory_equal(g.scramble, "`PQ$^0qi<-lXW*iVS{2'", 20);
    assert_int_equal(g.capabilities, 0x81fff7feu);
    assert_int_equal(g.capabilities & CLIENT_MYSQL, 0);
    assert_true(g.capabilities & CLIENT_PROTOCOL_41);
    assert_true(g.capabilities & CLIENT_PLUGIN_AUTH);
    assert_true(g.capabilities & CLIENT_DEPRECATE_EOF);
    assert_true(g.capabilities & CLIENT_SESSION_TRACK);
    assert_int_equal(g.mariadb_ext_caps, 0x1d);
    assert_true(g.mariadb_ext_caps & MARIADB_CLIENT_STMT_BULK_OPERATIONS);
    assert_int_equal(g.charset, CHARSET_LATIN1_SWEDISH_CI);
    assert_int_equal(g.status, SERVER_STATUS_AUTOCOMMIT);
    assert_string_equal(g.auth_plugin, "mysql_native_password");
    free(pkt);
}

/* decode(real) -> encode -> the same bytes a real MariaDB server sent. */
static void test_real_greeting_reencode(void **state)
{
    (void)state;
    size_t n;
    uint8_t *pkt = unhex(REAL_GREETING, &n);
    proto_greeting g, g2;
    assert_int_equal(proto_greeting_decode(pkt + 4, n - 4, &g), PROTO_OK);
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_greeting_encode(&w, &g), 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(proto_greeting_decode(w.data + 4, w.len - 4, &g2), PROTO_OK);
    assert_memory_equal(&g.scramble, &g2.scramble, 20);
    assert_int_equal(g2.capabilities, g.capabilities);
    assert_int_equal(g2.mariadb_ext_caps, g.mariadb_ext_caps);
    assert_string_equal(g2.server_version, g.server_version);
    assert_string_equal(g2.auth_plugin, g.auth_plugin);
    /* byte for byte what the server sent */
    assert_int_equal(w.len, n);
    assert_memory_equal(w.data, pkt, n);
    proto_wr_free(&w);
    free(pkt);
}

static void test_real_greeting_truncated(void **state)
{
    (void)state;
    size_t n;
    uint8_t *pkt = unhex(REAL_GREETING, &n);
    const uint8_t *pl = pkt + 4;
    size_t plen = n - 4;
    /* payload offsets: version 1..32 + NUL, conn id 34..37, scramble part 1 38..45, filler 46,
     * caps 47..48, charset 49, status 50..51, caps 52..53, auth len 54, reserved 55..60,
     * MariaDB caps 61..64, scramble part 2 65..76, its NUL at 77, plugin name 78..98, NUL 99 */
    cut_list bad = {.len = 0};
    for (size_t cut = 0; cut < plen; cut++) {
        uint8_t *c = exact_copy(pl, cut);
        proto_greeting g;
        proto_status st = proto_greeting_decode(c, cut, &g);
        if (cut == 49) {
            /* pre-4.1 greetings end after the lower capability bytes: lenient either way */
        } else if (cut < 77) {
            if (st == PROTO_OK)
                cut_add(&bad, cut);
        } else if (st == PROTO_OK) {
            /* a lenient decode of a greeting missing (part of) its plugin name */
            assert_int_equal(g.scramble_len, 20);
            assert_memory_equal(g.scramble, "`PQ$^0qi<-lXW*iVS{2'", 20);
            assert_true(strlen(g.auth_plugin) < sizeof g.auth_plugin);
            assert_memory_equal(g.auth_plugin, "mysql_native_password", strlen(g.auth_plugin));
        }
        free(c);
    }
    free(pkt);
    CUT_CHECK(&bad, "greeting", plen);
}

static void fill_greeting(proto_greeting *g, uint32_t caps, uint32_t ext)
{
    memset(g, 0, sizeof *g);
    g->protocol_version = 10;
    snprintf(g->server_version, sizeof g->server_version, "5.5.5-10.11.6-MariaDB-rwproxy");
    g->connection_id = 0x01020304;
    for (int i = 0; i < 20; i++)
        g->scramble[i] = (uint8_t)(0x21 + i * 3);
    g->scramble_len = 20;
    g->capabilities = caps;
    g->mariadb_ext_caps = ext;
    g->charset = CHARSET_UTF8MB4_GENERAL_CI;
    g->status = SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS;
    snprintf(g->auth_plugin, sizeof g->auth_plugin, "%s", PROTO_NATIVE_PLUGIN);
}

#define SERVER_CAPS_BASE                                                                    \
    (CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_LOCAL_FILES | CLIENT_PROTOCOL_41 |   \
     CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS |              \
     CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH |                   \
     CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK |   \
     CLIENT_DEPRECATE_EOF | 0x20000000u)

static void test_greeting_roundtrip_mariadb(void **state)
{
    (void)state;
    proto_greeting g, d;
    fill_greeting(&g, SERVER_CAPS_BASE, MARIADB_CLIENT_STMT_BULK_OPERATIONS | MARIADB_CLIENT_PROGRESS);
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_greeting_encode(&w, &g), 0);
    assert_int_equal(proto_u24(w.data), w.len - 4);
    assert_int_equal(w.data[3], 0); /* seq 0 */
    memset(&d, 0x5a, sizeof d);
    assert_int_equal(proto_greeting_decode(w.data + 4, w.len - 4, &d), PROTO_OK);
    assert_int_equal(d.protocol_version, 10);
    assert_string_equal(d.server_version, g.server_version);
    assert_int_equal(d.connection_id, g.connection_id);
    assert_int_equal(d.scramble_len, 20);
    assert_memory_equal(d.scramble, g.scramble, 20);
    assert_int_equal(d.capabilities, g.capabilities);
    assert_int_equal(d.mariadb_ext_caps, g.mariadb_ext_caps);
    assert_int_equal(d.charset, g.charset);
    assert_int_equal(d.status, g.status);
    assert_string_equal(d.auth_plugin, PROTO_NATIVE_PLUGIN);

    /* layout: after the version string, 4 id + 8 scramble + filler + 2 caps + charset +
     * 2 status + 2 caps + auth len, then 6 zero bytes and the 4 MariaDB cap bytes */
    const uint8_t *p = w.data + 4;
    size_t off = 1 + strlen(g.server_version) + 1;
    assert_int_equal(proto_u32(p + off), 0x01020304);
    assert_memory_equal(p + off + 4, g.scramble, 8);
    assert_int_equal(p[off + 12], 0);
    assert_int_equal(proto_u16(p + off + 13), SERVER_CAPS_BASE & 0xffff);
    assert_int_equal(p[off + 15], CHARSET_UTF8MB4_GENERAL_CI);
    assert_int_equal(proto_u16(p + off + 16), g.status);
    assert_int_equal(proto_u16(p + off + 18), SERVER_CAPS_BASE >> 16);
    assert_int_equal(p[off + 20], 21);
    assert_memory_equal(p + off + 21, "\0\0\0\0\0\0", 6);
    assert_int_equal(proto_u32(p + off + 27), g.mariadb_ext_caps);
    assert_memory_equal(p + off + 31, g.scramble + 8, 12);
    assert_int_equal(p[off + 43], 0);
    assert_string_equal((const char *)p + off + 44, PROTO_NATIVE_PLUGIN);
    assert_int_equal(w.len - 4, off + 44 + strlen(PROTO_NATIVE_PLUGIN) + 1);
    proto_wr_free(&w);
}

static void test_greeting_roundtrip_mysql(void **state)
{
    (void)state;
    proto_greeting g, d;
    /* CLIENT_MYSQL set: the reserved area is 10 zero bytes, ext caps not sent */
    fill_greeting(&g, SERVER_CAPS_BASE | CLIENT_MYSQL, 0x1d);
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_greeting_encode(&w, &g), 0);
    assert_int_equal(proto_greeting_decode(w.data + 4, w.len - 4, &d), PROTO_OK);
    assert_int_equal(d.capabilities, g.capabilities);
    assert_int_equal(d.mariadb_ext_caps, 0);
    size_t off = 1 + strlen(g.server_version) + 1;
    assert_memory_equal(w.data + 4 + off + 21, "\0\0\0\0\0\0\0\0\0\0", 10);
    assert_memory_equal(d.scramble, g.scramble, 20);
    proto_wr_free(&w);
}

static void test_greeting_bad(void **state)
{
    (void)state;
    proto_greeting g, d;
    fill_greeting(&g, SERVER_CAPS_BASE, 0);
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_greeting_encode(&w, &g), 0);
    uint8_t *c = exact_copy(w.data + 4, w.len - 4);
    size_t len = w.len - 4;
    /* protocol version 9 */
    c[0] = 9;
    assert_int_equal(proto_greeting_decode(c, len, &d), PROTO_ERROR);
    c[0] = 10;
    assert_int_equal(proto_greeting_decode(c, len, &d), PROTO_OK);
    /* an ERR packet instead of a greeting (e.g. "Too many connections") */
    const uint8_t err[] = {0xff, 0x10, 0x04, 'T', 'o', 'o', ' ', 'm', 'a', 'n', 'y'};
    assert_int_equal(proto_greeting_decode(err, sizeof err, &d), PROTO_ERROR);
    assert_int_not_equal(proto_greeting_decode(c, 0, &d), PROTO_OK);
    free(c);
    proto_wr_free(&w);

    /* server version without NUL */
    uint8_t nv[40];
    nv[0] = 10;
    memset(nv + 1, 'v', sizeof nv - 1);
    uint8_t *cc = exact_copy(nv, sizeof nv);
    assert_int_not_equal(proto_greeting_decode(cc, sizeof nv, &d), PROTO_OK);
    free(cc);

    /* over-long server version: refused or truncated, never overflowing */
    proto_wr_init(&w);
    proto_wr_u8(&w, 10);
    char ver[201];
    memset(ver, 'x', 200);
    ver[200] = 0;
    proto_wr_cstr(&w, ver);
    proto_wr_u32(&w, 7);
    proto_wr_bytes(&w, "abcdefgh", 8);
    proto_wr_u8(&w, 0);
    proto_wr_u16(&w, (uint16_t)SERVER_CAPS_BASE);
    proto_wr_u8(&w, 33);
    proto_wr_u16(&w, 2);
    proto_wr_u16(&w, (uint16_t)(SERVER_CAPS_BASE >> 16));
    proto_wr_u8(&w, 21);
    proto_wr_zeros(&w, 10);
    proto_wr_bytes(&w, "ijklmnopqrst", 12);
    proto_wr_u8(&w, 0);
    proto_wr_cstr(&w, PROTO_NATIVE_PLUGIN);
    assert_int_equal(proto_wr_finish(&w, 0), 0);
    memset(&d, 0, sizeof d);
    proto_status st = proto_greeting_decode(w.data + 4, w.len - 4, &d);
    if (st == PROTO_OK) {
        assert_true(memchr(d.server_version, 0, sizeof d.server_version) != NULL);
        assert_memory_equal(d.scramble, "abcdefghijklmnopqrst", 20);
        assert_int_equal(d.connection_id, 7);
    }
    proto_wr_free(&w);
}

/* ================= HandshakeResponse41 ================= */

static const uint8_t ATTRS[] = "\x0c_client_name\x07rwproxy\x04_pid\x03" "123";
#define ATTRS_LEN (sizeof ATTRS - 1)

#define CLIENT_CAPS_BASE                                                                      \
    (CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | \
     CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |               \
     CLIENT_DEPRECATE_EOF | CLIENT_SESSION_TRACK)

static void fill_params(proto_handshake_params *p, uint32_t caps, const uint8_t *auth,
                        size_t auth_len)
{
    memset(p, 0, sizeof *p);
    p->capabilities = caps;
    p->max_packet = 0x40000000;
    p->charset = CHARSET_UTF8MB4_GENERAL_CI;
    p->mariadb_ext_caps = MARIADB_CLIENT_STMT_BULK_OPERATIONS | MARIADB_CLIENT_PROGRESS;
    p->user = "app";
    p->auth = auth;
    p->auth_len = auth_len;
    p->db = (caps & CLIENT_CONNECT_WITH_DB) ? "test" : NULL;
    p->plugin = (caps & CLIENT_PLUGIN_AUTH) ? PROTO_NATIVE_PLUGIN : NULL;
    p->attrs = (caps & CLIENT_CONNECT_ATTRS) ? ATTRS : NULL;
    p->attrs_len = (caps & CLIENT_CONNECT_ATTRS) ? ATTRS_LEN : 0;
}

/* Encodes p, decodes the result and checks every field. */
static void roundtrip_response(const proto_handshake_params *p, uint8_t seq)
{
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_handshake_response_encode(&w, p, seq), 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(proto_u24(w.data), w.len - 4);
    assert_int_equal(w.data[3], seq);
    size_t len = w.len - 4;
    uint8_t *pl = exact_copy(w.data + 4, len);
    /* fixed part; the encoder drops CONNECT_WITH_DB / CONNECT_ATTRS when there is no db /
     * no attributes to send */
    uint32_t caps = p->capabilities;
    if (!(p->db && p->db[0]))
        caps &= ~CLIENT_CONNECT_WITH_DB;
    if (!p->attrs)
        caps &= ~CLIENT_CONNECT_ATTRS;
    assert_int_equal(proto_u32(pl), caps);
    assert_int_equal(proto_u32(pl + 4), p->max_packet);
    assert_int_equal(pl[8], p->charset);
    for (int i = 9; i < 28; i++)
        assert_int_equal(pl[i], 0);
    if (p->capabilities & CLIENT_MYSQL)
        assert_int_equal(proto_u32(pl + 28), 0);
    else
        assert_int_equal(proto_u32(pl + 28), p->mariadb_ext_caps);

    proto_handshake_response r;
    memset(&r, 0x5a, sizeof r);
    assert_int_equal(proto_handshake_response_decode(pl, len, &r), PROTO_OK);
    assert_int_equal(r.capabilities, caps);
    assert_int_equal(r.max_packet, p->max_packet);
    assert_int_equal(r.charset, p->charset);
    assert_int_equal(r.mariadb_ext_caps, (p->capabilities & CLIENT_MYSQL) ? 0 : p->mariadb_ext_caps);
    assert_int_equal(r.is_ssl_request, 0);
    assert_int_equal(r.user_len, strlen(p->user));
    assert_memory_equal(r.user, p->user, r.user_len);
    assert_int_equal(r.user[r.user_len], 0);
    assert_int_equal(r.auth_len, p->auth_len);
    if (p->auth_len)
        assert_memory_equal(r.auth, p->auth, p->auth_len);
    if (p->db && p->db[0]) {
        assert_non_null(r.db);
        assert_int_equal(r.db_len, strlen(p->db));
        assert_memory_equal(r.db, p->db, r.db_len);
    } else {
        assert_null(r.db);
    }
    if (p->capabilities & CLIENT_PLUGIN_AUTH) {
        assert_non_null(r.plugin);
        assert_int_equal(r.plugin_len, strlen(p->plugin));
        assert_memory_equal(r.plugin, p->plugin, r.plugin_len);
    } else {
        assert_null(r.plugin);
    }
    if (p->attrs) {
        assert_non_null(r.attrs);
        assert_int_equal(r.attrs_len, p->attrs_len);
        assert_memory_equal(r.attrs, p->attrs, p->attrs_len);
    } else {
        assert_null(r.attrs);
    }
    assert_inside(r.user, r.user_len, pl, len);
    assert_inside(r.auth, r.auth_len, pl, len);
    assert_inside(r.db, r.db_len, pl, len);
    assert_inside(r.plugin, r.plugin_len, pl, len);
    assert_inside(r.attrs, r.attrs_len, pl, len);
    free(pl);
    proto_wr_free(&w);
}

static const uint8_t AUTH20[20] = {0x1c, 0x09, 0x97, 0x45, 0xe7, 0x6c, 0x20, 0x09, 0x92, 0xd3,
                                   0x8a, 0x14, 0x0c, 0xa9, 0x72, 0x27, 0x3e, 0x4b, 0x42, 0x8f};

static void test_response_roundtrip_full(void **state)
{
    (void)state;
    proto_handshake_params p;
    uint32_t caps = CLIENT_CAPS_BASE | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH |
                    CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
    fill_params(&p, caps, AUTH20, 20);
    roundtrip_response(&p, 1);
    roundtrip_response(&p, 2); /* after an SSLRequest */
    /* MySQL-style client: CLIENT_MYSQL set, no extended caps in the filler */
    fill_params(&p, caps | CLIENT_MYSQL, AUTH20, 20);
    roundtrip_response(&p, 1);
}

static void test_response_roundtrip_variants(void **state)
{
    (void)state;
    proto_handshake_params p;
    /* 1-byte auth length (SECURE_CONNECTION without LENENC) */
    uint32_t caps = CLIENT_CAPS_BASE | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH;
    fill_params(&p, caps, AUTH20, 20);
    roundtrip_response(&p, 1);
    {
        proto_writer w;
        proto_wr_init(&w);
        assert_int_equal(proto_handshake_response_encode(&w, &p, 1), 0);
        assert_memory_equal(w.data + 4 + 32, "app\0\x14", 5);
        proto_wr_free(&w);
    }
    /* no db, no plugin, no attrs */
    fill_params(&p, CLIENT_CAPS_BASE, AUTH20, 20);
    roundtrip_response(&p, 1);
    /* empty auth (no password) */
    fill_params(&p, CLIENT_CAPS_BASE | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
                NULL, 0);
    roundtrip_response(&p, 1);
    /* CONNECT_WITH_DB with db "": decoded as no db */
    fill_params(&p, CLIENT_CAPS_BASE | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH, AUTH20, 20);
    p.db = "";
    roundtrip_response(&p, 1);
    /* long auth data needs a multi-byte lenenc */
    uint8_t big[300];
    for (int i = 0; i < 300; i++)
        big[i] = (uint8_t)(i * 31);
    fill_params(&p, CLIENT_CAPS_BASE | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
                        CLIENT_CONNECT_ATTRS, big, sizeof big);
    p.plugin = "client_ed25519";
    roundtrip_response(&p, 1);
    /* the extended caps that matter for bulk execution */
    fill_params(&p, CLIENT_CAPS_BASE | CLIENT_PLUGIN_AUTH, AUTH20, 20);
    p.mariadb_ext_caps = 0xdeadbeef;
    roundtrip_response(&p, 1);
}

/* Real replies: decode and check against independently parsed values; then check the
 * password with the greeting's scramble. */
typedef struct {
    const char *greeting;   /* hex */
    const char *response;   /* hex */
    uint32_t caps;          /* expected capabilities */
    uint32_t max_packet;    /* expected max packet */
    uint8_t charset;        /* expected collation */
    uint32_t ext;           /* expected MariaDB ext caps */
    size_t attrs_len;       /* expected attrs block length */
    const char *attr_key;   /* first attribute key */
} real_case;

static const real_case REAL[] = {
    {CLI_GREETING, CLI_RESPONSE, 0x00bfa28c, 0x00100000, 33, 0x1d, 126, "_os"},
    {PYMYSQL_GREETING, PYMYSQL_RESPONSE, 0x003aa20d, 0x00ffffff, 45, 0, 53, "_client_name"},
    {JDBC_GREETING, JDBC_RESPONSE, 0x01bea38a, 0x40000000, 224, 0, 150, "_client_name"},
};

static void test_real_responses(void **state)
{
    (void)state;
    uint8_t h2[20], h1[20], want_h1[20], dummy[20];
    assert_int_equal(proto_native_parse_hash(H2_APP_PW, h2), 0);
    proto_native_hash_password("app_pw", 6, want_h1, dummy);
    for (size_t i = 0; i < sizeof REAL / sizeof REAL[0]; i++) {
        size_t gn, rn;
        uint8_t *gp = unhex(REAL[i].greeting, &gn);
        uint8_t *rp = unhex(REAL[i].response, &rn);
        proto_greeting g;
        assert_int_equal(proto_greeting_decode(gp + 4, gn - 4, &g), PROTO_OK);
        assert_int_equal(proto_u24(rp), rn - 4);
        assert_int_equal(rp[3], 1);
        uint8_t *pl = exact_copy(rp + 4, rn - 4);
        proto_handshake_response r;
        assert_int_equal(proto_handshake_response_decode(pl, rn - 4, &r), PROTO_OK);
        assert_int_equal(r.capabilities, REAL[i].caps);
        assert_int_equal(r.max_packet, REAL[i].max_packet);
        assert_int_equal(r.charset, REAL[i].charset);
        assert_int_equal(r.mariadb_ext_caps, REAL[i].ext);
        assert_int_equal(r.is_ssl_request, 0);
        assert_int_equal(r.user_len, 3);
        assert_memory_equal(r.user, "app", 3);
        assert_non_null(r.db);
        assert_int_equal(r.db_len, 4);
        assert_memory_equal(r.db, "test", 4);
        assert_non_null(r.plugin);
        assert_int_equal(r.plugin_len, strlen(PROTO_NATIVE_PLUGIN));
        assert_memory_equal(r.plugin, PROTO_NATIVE_PLUGIN, r.plugin_len);
        assert_int_equal(r.attrs_len, REAL[i].attrs_len);
        assert_int_equal(r.attrs[0], strlen(REAL[i].attr_key));
        assert_memory_equal(r.attrs + 1, REAL[i].attr_key, strlen(REAL[i].attr_key));
        assert_true(r.attrs + r.attrs_len == pl + rn - 4); /* attrs run to the end */
        /* the password checks out against the greeting's scramble, and H1 is recovered */
        assert_int_equal(r.auth_len, 20);
        assert_int_equal(proto_native_check(g.scramble, r.auth, r.auth_len, h2, 1, h1), 0);
        assert_memory_equal(h1, want_h1, 20);
        free(pl);
        free(rp);
        free(gp);
    }
}

/* Truncation at every byte: never a crash or over-read; a cut inside a field is not OK.
 * must_fail[i] says whether cut length i has to be rejected. */
static void check_response_truncations(const uint8_t *payload, size_t len, const uint8_t *must_fail,
                                       const char *user)
{
    cut_list bad = {.len = 0};
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = exact_copy(payload, cut);
        proto_handshake_response r;
        memset(&r, 0, sizeof r);
        proto_status st = proto_handshake_response_decode(c, cut, &r);
        if (must_fail[cut]) {
            if (st == PROTO_OK)
                cut_add(&bad, cut);
        } else if (st == PROTO_OK && !r.is_ssl_request) {
            assert_inside(r.user, r.user_len, c, cut);
            assert_inside(r.auth, r.auth_len, c, cut);
            assert_inside(r.db, r.db_len, c, cut);
            assert_inside(r.plugin, r.plugin_len, c, cut);
            assert_inside(r.attrs, r.attrs_len, c, cut);
            if (r.user_len)
                assert_memory_equal(r.user, user, strlen(user));
        }
        free(c);
    }
    CUT_CHECK(&bad, "HandshakeResponse41", len);
}

/* Marks [a, b) as must-fail. */
static void mark(uint8_t *mf, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        mf[i] = 1;
}

static void test_response_truncated_real(void **state)
{
    (void)state;
    size_t rn;
    uint8_t *rp = unhex(CLI_RESPONSE, &rn);
    size_t len = rn - 4;
    assert_int_equal(len, 211);
    uint8_t mf[211] = {0};
    /* fields: fixed 0..31, user "app\0" 32..35, lenenc auth 36..56, db "test\0" 57..61,
     * plugin 62..83, lenenc attrs 84..210. Cuts at a field boundary may be accepted
     * leniently (as servers do); cuts inside the fixed part, the user, the auth, the db
     * or the attributes must not. The plugin name region is left lenient too. */
    mark(mf, 0, 32);
    mark(mf, 33, 36);
    mark(mf, 37, 57);
    mark(mf, 58, 62);
    mark(mf, 85, 211);
    check_response_truncations(rp + 4, len, mf, "app");
    free(rp);
}

static void test_response_truncated_encoded(void **state)
{
    (void)state;
    proto_handshake_params p;
    uint8_t big[300];
    memset(big, 0xab, sizeof big);
    uint32_t caps = CLIENT_CAPS_BASE | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH |
                    CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
    fill_params(&p, caps, big, sizeof big);
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_handshake_response_encode(&w, &p, 1), 0);
    size_t len = w.len - 4;
    uint8_t *mf = calloc(len, 1);
    /* 32 fixed, "app\0" to 36, auth fc 2c 01 + 300 to 339, "test\0" to 344,
     * plugin to 366, attrs (1 + ATTRS_LEN) to the end */
    assert_int_equal(len, 366 + 1 + ATTRS_LEN);
    mark(mf, 0, 32);
    mark(mf, 33, 36);
    mark(mf, 37, 339);
    mark(mf, 340, 344);
    mark(mf, 367, len);
    check_response_truncations(w.data + 4, len, mf, "app");
    free(mf);
    proto_wr_free(&w);
}

/* Builds a response payload by hand with the given names. */
static void build_response(proto_writer *w, uint32_t caps, const char *user, const char *db,
                           const char *plugin)
{
    proto_wr_init(w);
    proto_wr_u32(w, caps);
    proto_wr_u32(w, 1u << 24);
    proto_wr_u8(w, 45);
    proto_wr_zeros(w, 23);
    proto_wr_cstr(w, user);
    proto_wr_u8(w, 20);
    proto_wr_bytes(w, AUTH20, 20);
    if (caps & CLIENT_CONNECT_WITH_DB)
        proto_wr_cstr(w, db);
    if (caps & CLIENT_PLUGIN_AUTH)
        proto_wr_cstr(w, plugin);
    assert_int_equal(proto_wr_finish(w, 1), 0);
}

static void test_response_long_names(void **state)
{
    (void)state;
    char n256[257], n257[258];
    memset(n256, 'n', 256);
    n256[256] = 0;
    memset(n257, 'n', 257);
    n257[257] = 0;
    uint32_t caps = CLIENT_CAPS_BASE | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH;
    proto_writer w;
    proto_handshake_response r;

    build_response(&w, caps, n256, n256, n256);
    assert_int_equal(proto_handshake_response_decode(w.data + 4, w.len - 4, &r), PROTO_OK);
    assert_int_equal(r.user_len, 256);
    assert_int_equal(r.db_len, 256);
    assert_int_equal(r.plugin_len, 256);
    proto_wr_free(&w);

    build_response(&w, caps, n257, "test", PROTO_NATIVE_PLUGIN);
    assert_int_equal(proto_handshake_response_decode(w.data + 4, w.len - 4, &r), PROTO_ERROR);
    proto_wr_free(&w);
    build_response(&w, caps, "app", n257, PROTO_NATIVE_PLUGIN);
    assert_int_equal(proto_handshake_response_decode(w.data + 4, w.len - 4, &r), PROTO_ERROR);
    proto_wr_free(&w);
    build_response(&w, caps, "app", "test", n257);
    assert_int_equal(proto_handshake_response_decode(w.data + 4, w.len - 4, &r), PROTO_ERROR);
    proto_wr_free(&w);

    /* a 64 KiB user name */
    char *huge = malloc(65537);
    memset(huge, 'u', 65536);
    huge[65536] = 0;
    build_response(&w, caps, huge, "test", PROTO_NATIVE_PLUGIN);
    assert_int_equal(proto_handshake_response_decode(w.data + 4, w.len - 4, &r), PROTO_ERROR);
    proto_wr_free(&w);
    free(huge);
}

static void test_response_old_protocol(void **state)
{
    (void)state;
    proto_writer w;
    proto_handshake_response r;
    build_response(&w, (CLIENT_CAPS_BASE | CLIENT_CONNECT_WITH_DB) & ~CLIENT_PROTOCOL_41, "app",
                   "test", NULL);
    assert_int_equal(proto_handshake_response_decode(w.data + 4, w.len - 4, &r), PROTO_ERROR);
    proto_wr_free(&w);
    /* the pre-4.1 (protocol 320) shape: 2 caps bytes, 3 max packet bytes, user, scramble */
    const uint8_t old[] = {0x85, 0xa6, 0x00, 0x00, 0x00, 'a', 'p', 'p', 0, 'x', 'y', 'z'};
    uint8_t *c = exact_copy(old, sizeof old);
    assert_int_not_equal(proto_handshake_response_decode(c, sizeof old, &r), PROTO_OK);
    free(c);
}

static void test_ssl_request(void **state)
{
    (void)state;
    /* an SSLRequest as libmariadb sends it: 32 bytes, ext caps in the filler */
    uint8_t s[32];
    memset(s, 0, sizeof s);
    uint32_t caps = 0x00bfaa8c; /* the CLI's caps plus CLIENT_SSL */
    assert_true(caps & CLIENT_SSL);
    proto_put_u32(s, caps);
    proto_put_u32(s + 4, 0x01000000);
    s[8] = 33;
    proto_put_u32(s + 28, 0x1d);
    uint8_t *c = exact_copy(s, 32);
    proto_handshake_response r;
    memset(&r, 0x5a, sizeof r);
    assert_int_equal(proto_handshake_response_decode(c, 32, &r), PROTO_OK);
    assert_int_equal(r.is_ssl_request, 1);
    assert_int_equal(r.capabilities, caps);
    assert_int_equal(r.max_packet, 0x01000000);
    assert_int_equal(r.charset, 33);
    assert_int_equal(r.mariadb_ext_caps, 0x1d);
    free(c);
    /* shorter than 32 bytes: not an SSLRequest */
    for (size_t cut = 0; cut < 32; cut++) {
        c = exact_copy(s, cut);
        assert_int_not_equal(proto_handshake_response_decode(c, cut, &r), PROTO_OK);
        free(c);
    }
    /* the full response after TLS still carries CLIENT_SSL but is not an SSLRequest */
    proto_handshake_params p;
    fill_params(&p, CLIENT_CAPS_BASE | CLIENT_SSL | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB,
                AUTH20, 20);
    roundtrip_response(&p, 2);
}

/* ================= AuthSwitchRequest ================= */

static void test_auth_switch_encode_decode(void **state)
{
    (void)state;
    const uint8_t scr[20] = "ABCDEFGHIJKLMNOPQRST";
    proto_writer w;
    proto_wr_init(&w);
    assert_int_equal(proto_auth_switch_encode(&w, PROTO_NATIVE_PLUGIN, scr, 20, 2), 0);
    /* fe, plugin NUL, 20 bytes, NUL */
    size_t want_len = 1 + strlen(PROTO_NATIVE_PLUGIN) + 1 + 20 + 1;
    assert_int_equal(w.len, 4 + want_len);
    assert_int_equal(proto_u24(w.data), want_len);
    assert_int_equal(w.data[3], 2);
    assert_int_equal(w.data[4], 0xfe);
    assert_string_equal((const char *)w.data + 5, PROTO_NATIVE_PLUGIN);
    assert_memory_equal(w.data + 5 + strlen(PROTO_NATIVE_PLUGIN) + 1, scr, 20);
    assert_int_equal(w.data[w.len - 1], 0);

    uint8_t *c = exact_copy(w.data + 4, want_len);
    proto_auth_switch a;
    assert_int_equal(proto_auth_switch_decode(c, want_len, &a), PROTO_OK);
    assert_int_equal(a.plugin_len, strlen(PROTO_NATIVE_PLUGIN));
    assert_memory_equal(a.plugin, PROTO_NATIVE_PLUGIN, a.plugin_len);
    assert_true(a.data_len == 20 || a.data_len == 21);
    assert_memory_equal(a.data, scr, 20);
    assert_inside(a.data, a.data_len, c, want_len);
    free(c);
    proto_wr_free(&w);
}

static void test_auth_switch_decode_variants(void **state)
{
    (void)state;
    proto_auth_switch a;
    /* what MySQL 8 sends to switch to caching_sha2_password */
    const char *p = "caching_sha2_password";
    uint8_t buf[64];
    size_t n = 0;
    buf[n++] = 0xfe;
    memcpy(buf + n, p, strlen(p) + 1);
    n += strlen(p) + 1;
    memcpy(buf + n, "0123456789abcdefghij", 20);
    n += 20;
    buf[n++] = 0;
    uint8_t *c = exact_copy(buf, n);
    assert_int_equal(proto_auth_switch_decode(c, n, &a), PROTO_OK);
    assert_int_equal(a.plugin_len, strlen(p));
    assert_memory_equal(a.plugin, p, a.plugin_len);
    assert_memory_equal(a.data, "0123456789abcdefghij", 20);
    free(c);
    /* without the trailing NUL */
    c = exact_copy(buf, n - 1);
    assert_int_equal(proto_auth_switch_decode(c, n - 1, &a), PROTO_OK);
    assert_int_equal(a.data_len, 20);
    assert_memory_equal(a.data, "0123456789abcdefghij", 20);
    free(c);
    /* no plugin data at all */
    const uint8_t nodata[] = "\xfe" "dialog";
    c = exact_copy(nodata, sizeof nodata); /* includes the NUL */
    assert_int_equal(proto_auth_switch_decode(c, sizeof nodata, &a), PROTO_OK);
    assert_int_equal(a.plugin_len, 6);
    assert_int_equal(a.data_len, 0);
    free(c);
    /* malformed */
    assert_int_not_equal(proto_auth_switch_decode(buf, 0, &a), PROTO_OK);
    buf[0] = 0x00;
    assert_int_not_equal(proto_auth_switch_decode(buf, n, &a), PROTO_OK);
    buf[0] = 0xff;
    assert_int_not_equal(proto_auth_switch_decode(buf, n, &a), PROTO_OK);
    buf[0] = 0x01;
    assert_int_not_equal(proto_auth_switch_decode(buf, n, &a), PROTO_OK);
    /* plugin name without its NUL */
    const uint8_t nonul[] = {0xfe, 'm', 'y', 's', 'q', 'l'};
    c = exact_copy(nonul, sizeof nonul);
    assert_int_not_equal(proto_auth_switch_decode(c, sizeof nonul, &a), PROTO_OK);
    free(c);
    /* plugin name too long */
    uint8_t longp[300];
    longp[0] = 0xfe;
    memset(longp + 1, 'p', 260);
    longp[261] = 0;
    c = exact_copy(longp, 262);
    assert_int_not_equal(proto_auth_switch_decode(c, 262, &a), PROTO_OK);
    free(c);
}

/* ================= COM_CHANGE_USER ================= */

#define CU_CAPS (CLIENT_CAPS_BASE | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS)

/* 0x11 user NUL, 1-byte auth length + auth, db NUL, charset (2), plugin NUL, lenenc attrs. */
static void build_change_user(proto_writer *w, const char *user, const char *db, int with_tail)
{
    proto_wr_init(w);
    proto_wr_u8(w, COM_CHANGE_USER);
    proto_wr_cstr(w, user);
    proto_wr_u8(w, 20);
    proto_wr_bytes(w, AUTH20, 20);
    proto_wr_cstr(w, db);
    if (with_tail) {
        proto_wr_u16(w, CHARSET_UTF8MB4_GENERAL_CI);
        proto_wr_cstr(w, PROTO_NATIVE_PLUGIN);
        proto_wr_lenenc(w, ATTRS_LEN);
        proto_wr_bytes(w, ATTRS, ATTRS_LEN);
    }
    assert_int_equal(proto_wr_finish(w, 0), 0);
}

static void test_change_user_full(void **state)
{
    (void)state;
    proto_writer w;
    build_change_user(&w, "bob", "db1", 1);
    size_t len = w.len - 4;
    uint8_t *c = exact_copy(w.data + 4, len);
    proto_change_user cu;
    memset(&cu, 0x5a, sizeof cu);
    assert_int_equal(proto_change_user_decode(c, len, CU_CAPS, &cu), PROTO_OK);
    assert_int_equal(cu.user_len, 3);
    assert_memory_equal(cu.user, "bob", 3);
    assert_int_equal(cu.auth_len, 20);
    assert_memory_equal(cu.auth, AUTH20, 20);
    assert_int_equal(cu.db_len, 3);
    assert_memory_equal(cu.db, "db1", 3);
    assert_int_equal(cu.charset, CHARSET_UTF8MB4_GENERAL_CI);
    assert_non_null(cu.plugin);
    assert_int_equal(cu.plugin_len, strlen(PROTO_NATIVE_PLUGIN));
    assert_memory_equal(cu.plugin, PROTO_NATIVE_PLUGIN, cu.plugin_len);
    assert_non_null(cu.attrs);
    assert_int_equal(cu.attrs_len, ATTRS_LEN);
    assert_memory_equal(cu.attrs, ATTRS, ATTRS_LEN);
    free(c);
    proto_wr_free(&w);
}

/* Our encoder (rwproxy resetting a pooled connection) writes exactly the bytes a client
 * would, and reads back through the decoder. */
static void test_change_user_encode(void **state)
{
    (void)state;
    proto_writer want, got;
    build_change_user(&want, "bob", "db1", 1);
    proto_wr_init(&got);
    assert_int_equal(proto_change_user_encode(&got, CU_CAPS, "bob", AUTH20, 20, "db1",
                                              CHARSET_UTF8MB4_GENERAL_CI, PROTO_NATIVE_PLUGIN,
                                              ATTRS, ATTRS_LEN), 0);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    assert_int_equal(got.data[3], 0); /* sequence id 0: a command */
    proto_change_user cu;
    assert_int_equal(proto_change_user_decode(got.data + 4, got.len - 4, CU_CAPS, &cu), PROTO_OK);
    assert_int_equal(cu.db_len, 3);
    proto_wr_free(&got);
    proto_wr_free(&want);

    /* no password, no schema, no attributes */
    proto_wr_init(&got);
    assert_int_equal(proto_change_user_encode(&got, CU_CAPS, "app", NULL, 0, "", 33,
                                              PROTO_NATIVE_PLUGIN, NULL, 0), 0);
    assert_int_equal(proto_change_user_decode(got.data + 4, got.len - 4, CU_CAPS, &cu), PROTO_OK);
    assert_int_equal(cu.user_len, 3);
    assert_int_equal(cu.auth_len, 0);
    assert_int_equal(cu.db_len, 0);
    assert_int_equal(cu.charset, 33);
    assert_int_equal(cu.attrs_len, 0);
    proto_wr_free(&got);

    /* an auth response over 255 bytes cannot be sent */
    uint8_t big[300] = {0};
    proto_wr_init(&got);
    assert_int_equal(proto_change_user_encode(&got, CU_CAPS, "app", big, sizeof big, "", 33,
                                              PROTO_NATIVE_PLUGIN, NULL, 0), -1);
    proto_wr_free(&got);
}

static void test_change_user_minimal(void **state)
{
    (void)state;
    /* old-style: user, empty auth, empty db; nothing after */
    const uint8_t m[] = {COM_CHANGE_USER, 'b', 'o', 'b', 0, 0, 0};
    uint8_t *c = exact_copy(m, sizeof m);
    proto_change_user cu;
    memset(&cu, 0x5a, sizeof cu);
    assert_int_equal(proto_change_user_decode(c, sizeof m, CU_CAPS, &cu), PROTO_OK);
    assert_int_equal(cu.user_len, 3);
    assert_memory_equal(cu.user, "bob", 3);
    assert_int_equal(cu.auth_len, 0);
    assert_int_equal(cu.db_len, 0);
    assert_non_null(cu.db);
    assert_int_equal(cu.charset, 0);
    assert_null(cu.plugin);
    assert_null(cu.attrs);
    free(c);

    /* client without PLUGIN_AUTH / CONNECT_ATTRS: the tail is only the charset */
    proto_writer w;
    proto_wr_init(&w);
    proto_wr_u8(&w, COM_CHANGE_USER);
    proto_wr_cstr(&w, "bob");
    proto_wr_u8(&w, 20);
    proto_wr_bytes(&w, AUTH20, 20);
    proto_wr_cstr(&w, "");
    proto_wr_u16(&w, CHARSET_UTF8_GENERAL_CI);
    proto_wr_finish(&w, 0);
    assert_int_equal(proto_change_user_decode(w.data + 4, w.len - 4, CLIENT_CAPS_BASE, &cu),
                     PROTO_OK);
    assert_int_equal(cu.charset, CHARSET_UTF8_GENERAL_CI);
    assert_int_equal(cu.auth_len, 20);
    assert_null(cu.plugin);
    assert_null(cu.attrs);
    proto_wr_free(&w);
}

static void test_change_user_bad(void **state)
{
    (void)state;
    proto_writer w;
    proto_change_user cu;
    char n257[258];
    memset(n257, 'x', 257);
    n257[257] = 0;
    char n256[257];
    memset(n256, 'x', 256);
    n256[256] = 0;
    build_change_user(&w, n256, "db1", 1);
    assert_int_equal(proto_change_user_decode(w.data + 4, w.len - 4, CU_CAPS, &cu), PROTO_OK);
    assert_int_equal(cu.user_len, 256);
    proto_wr_free(&w);
    build_change_user(&w, n257, "db1", 1);
    assert_int_equal(proto_change_user_decode(w.data + 4, w.len - 4, CU_CAPS, &cu), PROTO_ERROR);
    proto_wr_free(&w);
    build_change_user(&w, "bob", n257, 1);
    assert_int_equal(proto_change_user_decode(w.data + 4, w.len - 4, CU_CAPS, &cu), PROTO_ERROR);
    proto_wr_free(&w);
    /* wrong command byte */
    build_change_user(&w, "bob", "db1", 1);
    w.data[4] = COM_QUERY;
    assert_int_equal(proto_change_user_decode(w.data + 4, w.len - 4, CU_CAPS, &cu), PROTO_ERROR);
    proto_wr_free(&w);
    /* auth length byte larger than what follows */
    const uint8_t bad[] = {COM_CHANGE_USER, 'b', 0, 200, 1, 2, 3, 0};
    uint8_t *c = exact_copy(bad, sizeof bad);
    assert_int_not_equal(proto_change_user_decode(c, sizeof bad, CU_CAPS, &cu), PROTO_OK);
    free(c);
}

static void test_change_user_truncated(void **state)
{
    (void)state;
    proto_writer w;
    build_change_user(&w, "bob", "db1", 1);
    size_t len = w.len - 4;
    /* 0x11 at 0, "bob\0" 1..4, auth len at 5, auth 6..25, "db1\0" 26..29, charset 30..31,
     * plugin 32..53, attrs length at 54, attrs 55.. */
    assert_int_equal(len, 55 + ATTRS_LEN);
    cut_list bad = {.len = 0};
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = exact_copy(w.data + 4, cut);
        proto_change_user cu;
        memset(&cu, 0, sizeof cu);
        proto_status st = proto_change_user_decode(c, cut, CU_CAPS, &cu);
        int must_fail = cut < 30 || cut >= 55;
        if (must_fail && st == PROTO_OK)
            cut_add(&bad, cut);
        if (st == PROTO_OK) {
            assert_int_equal(cu.user_len, 3);
            assert_inside(cu.user, cu.user_len, c, cut);
            assert_inside(cu.auth, cu.auth_len, c, cut);
            assert_inside(cu.db, cu.db_len, c, cut);
            assert_inside(cu.plugin, cu.plugin_len, c, cut);
            assert_inside(cu.attrs, cu.attrs_len, c, cut);
        }
        free(c);
    }
    proto_wr_free(&w);
    CUT_CHECK(&bad, "COM_CHANGE_USER", len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_greeting_decode),
        cmocka_unit_test(test_real_greeting_reencode),
        cmocka_unit_test(test_real_greeting_truncated),
        cmocka_unit_test(test_greeting_roundtrip_mariadb),
        cmocka_unit_test(test_greeting_roundtrip_mysql),
        cmocka_unit_test(test_greeting_bad),
        cmocka_unit_test(test_response_roundtrip_full),
        cmocka_unit_test(test_response_roundtrip_variants),
        cmocka_unit_test(test_real_responses),
        cmocka_unit_test(test_response_truncated_real),
        cmocka_unit_test(test_response_truncated_encoded),
        cmocka_unit_test(test_response_long_names),
        cmocka_unit_test(test_response_old_protocol),
        cmocka_unit_test(test_ssl_request),
        cmocka_unit_test(test_auth_switch_encode_decode),
        cmocka_unit_test(test_auth_switch_decode_variants),
        cmocka_unit_test(test_change_user_full),
        cmocka_unit_test(test_change_user_minimal),
        cmocka_unit_test(test_change_user_encode),
        cmocka_unit_test(test_change_user_bad),
        cmocka_unit_test(test_change_user_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
