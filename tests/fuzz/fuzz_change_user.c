/*
 * tests/fuzz/fuzz_change_user.c — proto_change_user_decode (COM_CHANGE_USER payload, which
 * starts with the 0x11 command byte) under arbitrary client capabilities.
 * Checks: every pointer/length it returns lies inside the payload, user/db are NUL-terminated
 * there, names respect PROTO_MAX_NAME, and the fields the capabilities exclude stay empty.
 * Also: a decoded packet re-encoded with proto_change_user_encode decodes to the same user,
 * auth response and schema.
 * Input: 4 bytes of client capabilities (little-endian), then the payload.
 */
#include "fuzz_common.h"

#include "protocol/auth.h"
#include "protocol/handshake.h"
#include "protocol/mysql_const.h"
#include "protocol/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t caps;
    size_t len;
    uint8_t *pl = fuzz_caps_and_payload(data, size, &caps, &len);
    if (!pl)
        return 0;
    proto_change_user cu;
    proto_status st = proto_change_user_decode(pl, len, caps, &cu);
    FUZZ_CHECK(st == PROTO_OK || st == PROTO_ERROR);
    if (st == PROTO_OK) {
        FUZZ_CHECK(len >= 1 && pl[0] == COM_CHANGE_USER);
        FUZZ_CHECK(cu.user && fuzz_within(cu.user, cu.user_len + 1, pl, len));
        FUZZ_CHECK(cu.user[cu.user_len] == '\0' && cu.user_len <= PROTO_MAX_NAME);
        FUZZ_CHECK(fuzz_within(cu.auth, cu.auth_len, pl, len));
        FUZZ_CHECK(cu.db != NULL && cu.db_len <= PROTO_MAX_NAME);
        FUZZ_CHECK(cu.db[cu.db_len] == '\0');
        if (cu.db_len)
            FUZZ_CHECK(fuzz_within(cu.db, cu.db_len + 1, pl, len));
        if (cu.plugin) {
            FUZZ_CHECK(caps & CLIENT_PLUGIN_AUTH);
            FUZZ_CHECK(cu.plugin_len <= PROTO_MAX_NAME && fuzz_within(cu.plugin, cu.plugin_len, pl, len));
        }
        if (cu.attrs) {
            FUZZ_CHECK(caps & CLIENT_CONNECT_ATTRS);
            FUZZ_CHECK(fuzz_within(cu.attrs, cu.attrs_len, pl, len));
        }
        /* our encoder (rwproxy resetting a pooled connection) writes what was decoded back
         * into a packet that decodes to the same fields */
        char user[PROTO_MAX_NAME + 1], db[PROTO_MAX_NAME + 1];
        memcpy(user, cu.user, cu.user_len + 1);
        memcpy(db, cu.db, cu.db_len + 1);
        proto_writer w;
        proto_wr_init(&w);
        if (cu.auth_len <= 255 && strlen(user) == cu.user_len && strlen(db) == cu.db_len &&
            (caps & CLIENT_SECURE_CONNECTION) &&
            proto_change_user_encode(&w, caps, user, cu.auth, cu.auth_len, db, cu.charset,
                                     PROTO_NATIVE_PLUGIN, cu.attrs, cu.attrs_len) == 0) {
            proto_change_user back;
            FUZZ_CHECK(proto_change_user_decode(w.data + PROTO_HDR_LEN, w.len - PROTO_HDR_LEN, caps,
                                                &back) == PROTO_OK);
            FUZZ_CHECK(back.user_len == cu.user_len && memcmp(back.user, user, cu.user_len) == 0);
            FUZZ_CHECK(back.db_len == cu.db_len && back.auth_len == cu.auth_len);
            FUZZ_CHECK(cu.auth_len == 0 || memcmp(back.auth, cu.auth, cu.auth_len) == 0);
        }
        proto_wr_free(&w);
        /* what proxy/client.c does with them: bounded copies */
        char name[PROTO_MAX_NAME + 1];
        memcpy(name, cu.user, cu.user_len);
        name[cu.user_len] = '\0';
        if (cu.plugin) {
            memcpy(name, cu.plugin, cu.plugin_len);
            name[cu.plugin_len] = '\0';
        }
    }
    free(pl);
    return 0;
}
