/*
 * tests/fuzz/fuzz_handshake_response.c — proto_handshake_response_decode (HandshakeResponse41
 * and the 32-byte SSLRequest) over an arbitrary client payload (header stripped).
 * Checks: every pointer/length it returns lies inside the payload; user/db are NUL-terminated
 * there; names respect PROTO_MAX_NAME; and a decoded response re-encoded with
 * proto_handshake_response_encode decodes to the same fields (round trip).
 * Input: the payload bytes.
 */
#include "fuzz_common.h"

#include "protocol/handshake.h"
#include "protocol/mysql_const.h"

static void check_round_trip(const proto_handshake_response *r)
{
    /* the encoder writes the auth field as lenenc or a 1-byte length; a cstr-encoded auth
     * (neither capability) has no encoding counterpart */
    uint32_t caps = r->capabilities;
    if (!(caps & (CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SECURE_CONNECTION)))
        return;
    if (!(caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) && r->auth_len > 255)
        return;
    char *user = fuzz_strndup((const uint8_t *)r->user, r->user_len);
    char *db = r->db ? fuzz_strndup((const uint8_t *)r->db, r->db_len) : NULL;
    /* the decoder tolerates a final plugin name without NUL: copy it */
    char *plugin = r->plugin ? fuzz_strndup((const uint8_t *)r->plugin, r->plugin_len) : NULL;
    /* names with an embedded NUL cannot round-trip (the encoder writes C strings) */
    int clean = strlen(user) == r->user_len && (!db || strlen(db) == r->db_len) &&
                (!plugin || strlen(plugin) == r->plugin_len);
    proto_handshake_params p = {
        .capabilities = caps,
        .max_packet = r->max_packet,
        .charset = r->charset,
        .mariadb_ext_caps = r->mariadb_ext_caps,
        .user = user,
        .auth = r->auth,
        .auth_len = r->auth_len,
        .db = db,
        .plugin = plugin,
        .attrs = r->attrs,
        .attrs_len = r->attrs_len,
    };
    proto_writer w;
    proto_wr_init(&w);
    if (clean && proto_handshake_response_encode(&w, &p, 1) == 0) {
        FUZZ_CHECK(w.len >= PROTO_HDR_LEN);
        FUZZ_CHECK(proto_u24(w.data) == w.len - PROTO_HDR_LEN && w.data[3] == 1);
        /* decode from an exact-size heap copy so ASan sees any over-read */
        size_t n = w.len - PROTO_HDR_LEN;
        uint8_t *pl = malloc(n);
        memcpy(pl, w.data + PROTO_HDR_LEN, n);
        proto_handshake_response r2;
        proto_status st = proto_handshake_response_decode(pl, n, &r2);
        FUZZ_CHECK(st == PROTO_OK);
        FUZZ_CHECK(!r2.is_ssl_request);
        FUZZ_CHECK(r2.max_packet == r->max_packet && r2.charset == r->charset);
        FUZZ_CHECK(r2.mariadb_ext_caps == r->mariadb_ext_caps);
        FUZZ_CHECK(r2.user_len == r->user_len && memcmp(r2.user, r->user, r->user_len) == 0);
        FUZZ_CHECK(r2.auth_len == r->auth_len &&
                   (r->auth_len == 0 || memcmp(r2.auth, r->auth, r->auth_len) == 0));
        FUZZ_CHECK((r2.db == NULL) == (r->db == NULL));
        if (r->db)
            FUZZ_CHECK(r2.db_len == r->db_len && memcmp(r2.db, r->db, r->db_len) == 0);
        if (caps & CLIENT_PLUGIN_AUTH) {
            FUZZ_CHECK(r2.plugin != NULL);
            FUZZ_CHECK(r2.plugin_len == r->plugin_len &&
                       (r->plugin_len == 0 || memcmp(r2.plugin, r->plugin, r->plugin_len) == 0));
        }
        FUZZ_CHECK((r2.attrs == NULL) == (r->attrs == NULL));
        if (r->attrs)
            FUZZ_CHECK(r2.attrs_len == r->attrs_len &&
                       (r->attrs_len == 0 || memcmp(r2.attrs, r->attrs, r->attrs_len) == 0));
        free(pl);
    }
    proto_wr_free(&w);
    free(user);
    free(db);
    free(plugin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_handshake_response r;
    proto_status st = proto_handshake_response_decode(data, size, &r);
    FUZZ_CHECK(st == PROTO_OK || st == PROTO_ERROR);
    if (st != PROTO_OK)
        return 0;
    FUZZ_CHECK(r.capabilities & CLIENT_PROTOCOL_41);
    if (r.is_ssl_request) {
        FUZZ_CHECK(size == 32 && (r.capabilities & CLIENT_SSL));
        return 0;
    }
    FUZZ_CHECK(r.user != NULL);
    FUZZ_CHECK(fuzz_within(r.user, r.user_len + 1, data, size) && r.user[r.user_len] == '\0');
    FUZZ_CHECK(r.user_len <= PROTO_MAX_NAME);
    FUZZ_CHECK(fuzz_within(r.auth, r.auth_len, data, size));
    if (r.db) {
        FUZZ_CHECK(r.db_len > 0 && r.db_len <= PROTO_MAX_NAME);
        FUZZ_CHECK(fuzz_within(r.db, r.db_len + 1, data, size) && r.db[r.db_len] == '\0');
    }
    if (r.plugin) {
        FUZZ_CHECK(r.capabilities & CLIENT_PLUGIN_AUTH);
        FUZZ_CHECK(r.plugin_len <= PROTO_MAX_NAME && fuzz_within(r.plugin, r.plugin_len, data, size));
    }
    if (r.attrs) {
        FUZZ_CHECK(r.capabilities & CLIENT_CONNECT_ATTRS);
        FUZZ_CHECK(fuzz_within(r.attrs, r.attrs_len, data, size));
    }
    check_round_trip(&r);
    return 0;
}
