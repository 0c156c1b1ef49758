/*
 * tests/fuzz/fuzz_greeting.c — the server-side packets of the connection phase, as a backend
 * (or something pretending to be one) sends them to rwproxy: proto_greeting_decode (Initial
 * Handshake v10, MariaDB extended capabilities) and proto_auth_switch_decode
 * (AuthSwitchRequest), both run on every input.
 * Checks: the greeting's strings are terminated inside their arrays, scramble_len <= 20; a
 * decoded greeting re-encoded with proto_greeting_encode decodes to the same fields; the
 * auth switch's pointers lie inside the payload.
 * Input: the payload bytes (header stripped).
 */
#include "fuzz_common.h"

#include "protocol/handshake.h"
#include "protocol/mysql_const.h"

static void check_greeting(const uint8_t *data, size_t size)
{
    proto_greeting g;
    proto_status st = proto_greeting_decode(data, size, &g);
    FUZZ_CHECK(st == PROTO_OK || st == PROTO_ERROR);
    if (st != PROTO_OK)
        return;
    FUZZ_CHECK(g.protocol_version == 10);
    FUZZ_CHECK(memchr(g.server_version, 0, sizeof g.server_version) != NULL);
    FUZZ_CHECK(memchr(g.auth_plugin, 0, sizeof g.auth_plugin) != NULL);
    FUZZ_CHECK(g.scramble_len >= 8 && g.scramble_len <= PROTO_SCRAMBLE_LEN);

    /* round trip: only greetings our encoder can express (4.1 servers with a full scramble,
     * names without embedded NULs) */
    if (!(g.capabilities & CLIENT_SECURE_CONNECTION) || g.scramble_len != PROTO_SCRAMBLE_LEN)
        return;
    proto_writer w;
    proto_wr_init(&w);
    FUZZ_CHECK(proto_greeting_encode(&w, &g) == 0);
    size_t n = w.len - PROTO_HDR_LEN;
    uint8_t *pl = malloc(n);
    memcpy(pl, w.data + PROTO_HDR_LEN, n);
    proto_greeting g2;
    FUZZ_CHECK(proto_greeting_decode(pl, n, &g2) == PROTO_OK);
    FUZZ_CHECK(strcmp(g2.server_version, g.server_version) == 0);
    FUZZ_CHECK(g2.connection_id == g.connection_id && g2.capabilities == g.capabilities);
    FUZZ_CHECK(g2.charset == g.charset && g2.status == g.status);
    FUZZ_CHECK(g2.mariadb_ext_caps == g.mariadb_ext_caps);
    FUZZ_CHECK(g2.scramble_len == g.scramble_len && memcmp(g2.scramble, g.scramble, g.scramble_len) == 0);
    if (g.capabilities & CLIENT_PLUGIN_AUTH)
        FUZZ_CHECK(strcmp(g2.auth_plugin, g.auth_plugin) == 0);
    free(pl);
    proto_wr_free(&w);
}

static void check_auth_switch(const uint8_t *data, size_t size)
{
    proto_auth_switch sw;
    proto_status st = proto_auth_switch_decode(data, size, &sw);
    FUZZ_CHECK(st == PROTO_OK || st == PROTO_ERROR);
    if (st != PROTO_OK)
        return;
    FUZZ_CHECK(size >= 1 && data[0] == PKT_AUTH_SWITCH);
    FUZZ_CHECK(sw.plugin_len > 0 && sw.plugin_len <= PROTO_MAX_NAME);
    FUZZ_CHECK(fuzz_within(sw.plugin, sw.plugin_len + 1, data, size) && sw.plugin[sw.plugin_len] == '\0');
    FUZZ_CHECK(fuzz_within(sw.data, sw.data_len, data, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_greeting(data, size);
    check_auth_switch(data, size);
    return 0;
}
