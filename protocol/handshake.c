/*
 * protocol/handshake.c — the connection phase: server greeting (Initial Handshake v10,
 * with MariaDB's extended capabilities), HandshakeResponse41 / SSLRequest, AuthSwitchRequest
 * and COM_CHANGE_USER. Decoders validate every length against the payload.
 */
#include "protocol/handshake.h"

#include <stdio.h>
#include <string.h>

#include "protocol/auth.h"

#include "protocol/mysql_const.h"

#define GREETING_SCRAMBLE1 8u  /* auth-plugin-data part 1 */
#define RESPONSE_FIXED     32u /* caps, max packet, charset, 23-byte filler */

/* Copy at most cap-1 bytes of s into dst and terminate it. */
static void copy_name(char *dst, size_t cap, const uint8_t *s, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* The tail of a greeting after the 10 reserved bytes: scramble part 2 and plugin name. */
static void greeting_decode_tail(proto_reader *r, proto_greeting *out, uint8_t auth_data_len)
{
    if (out->capabilities & CLIENT_SECURE_CONNECTION) {
        size_t part2 = auth_data_len > GREETING_SCRAMBLE1 + 1 ? auth_data_len - GREETING_SCRAMBLE1 : 13;
        if (part2 > proto_rd_left(r))
            part2 = proto_rd_left(r);
        if (part2 < 12) { /* the capabilities promise a 20-byte scramble */
            r->err = 1;
            return;
        }
        const uint8_t *p = proto_rd_bytes(r, part2);
        size_t use = part2 > 12 ? 12 : part2;
        if (p && use > 0 && p[use - 1] == 0)
            use--; /* the NUL that ends part 2 */
        if (p) {
            memcpy(out->scramble + GREETING_SCRAMBLE1, p, use);
            out->scramble_len = GREETING_SCRAMBLE1 + use;
        }
    }
    if ((out->capabilities & CLIENT_PLUGIN_AUTH) && proto_rd_left(r) > 0) {
        size_t n = 0;
        const uint8_t *name = r->p;
        const uint8_t *nul = memchr(r->p, 0, proto_rd_left(r));
        n = nul ? (size_t)(nul - name) : proto_rd_left(r); /* some servers omit the NUL */
        copy_name(out->auth_plugin, sizeof out->auth_plugin, name, n);
    }
}

proto_status proto_greeting_decode(const uint8_t *payload, size_t len, proto_greeting *out)
{
    proto_reader r;
    size_t vlen = 0;
    memset(out, 0, sizeof *out);
    proto_rd_init(&r, payload, len);
    out->protocol_version = proto_rd_u8(&r);
    const uint8_t *ver = proto_rd_cstr(&r, &vlen);
    out->connection_id = proto_rd_u32(&r);
    const uint8_t *s1 = proto_rd_bytes(&r, GREETING_SCRAMBLE1);
    proto_rd_skip(&r, 1);
    uint16_t cap_lo = proto_rd_u16(&r);
    if (r.err || out->protocol_version != 10)
        return PROTO_ERROR;
    copy_name(out->server_version, sizeof out->server_version, ver, vlen);
    memcpy(out->scramble, s1, GREETING_SCRAMBLE1);
    out->scramble_len = GREETING_SCRAMBLE1;
    out->capabilities = cap_lo;
    if (proto_rd_left(&r) == 0)
        return PROTO_OK; /* pre-4.1 servers stop here */
    out->charset = proto_rd_u8(&r);
    out->status = proto_rd_u16(&r);
    out->capabilities |= (uint32_t)proto_rd_u16(&r) << 16;
    uint8_t auth_data_len = proto_rd_u8(&r);
    proto_rd_skip(&r, 6);
    uint32_t ext = proto_rd_u32(&r);
    if (r.err)
        return PROTO_ERROR;
    if (!(out->capabilities & CLIENT_MYSQL))
        out->mariadb_ext_caps = ext;
    greeting_decode_tail(&r, out, auth_data_len);
    return r.err ? PROTO_ERROR : PROTO_OK;
}

int proto_greeting_encode(proto_writer *w, const proto_greeting *g)
{
    uint8_t part2[13] = {0};
    size_t n2 = g->scramble_len > GREETING_SCRAMBLE1 ? g->scramble_len - GREETING_SCRAMBLE1 : 0;
    if (n2 > 12)
        n2 = 12;
    memcpy(part2, g->scramble + GREETING_SCRAMBLE1, n2);
    proto_wr_u8(w, 10);
    proto_wr_cstr(w, g->server_version);
    proto_wr_u32(w, g->connection_id);
    proto_wr_bytes(w, g->scramble, GREETING_SCRAMBLE1);
    proto_wr_u8(w, 0);
    proto_wr_u16(w, (uint16_t)g->capabilities);
    proto_wr_u8(w, g->charset);
    proto_wr_u16(w, g->status);
    proto_wr_u16(w, (uint16_t)(g->capabilities >> 16));
    proto_wr_u8(w, (g->capabilities & CLIENT_PLUGIN_AUTH) ? (uint8_t)(GREETING_SCRAMBLE1 + 13) : 0);
    proto_wr_zeros(w, 6);
    proto_wr_u32(w, (g->capabilities & CLIENT_MYSQL) ? 0 : g->mariadb_ext_caps);
    if (g->capabilities & CLIENT_SECURE_CONNECTION)
        proto_wr_bytes(w, part2, 13); /* 12 bytes + NUL */
    if (g->capabilities & CLIENT_PLUGIN_AUTH)
        proto_wr_cstr(w, g->auth_plugin);
    return proto_wr_finish(w, 0);
}

/* The auth response field, whose encoding depends on the capabilities. */
static const uint8_t *read_auth_field(proto_reader *r, uint32_t caps, size_t *len)
{
    if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
        return proto_rd_lenenc_str(r, len);
    if (caps & CLIENT_SECURE_CONNECTION) {
        size_t n = proto_rd_u8(r);
        *len = n;
        return proto_rd_bytes(r, n);
    }
    return proto_rd_cstr(r, len);
}

/* Optional NUL-terminated name; absent at the end of the payload. Limited in length. */
static int read_opt_name(proto_reader *r, const char **s, size_t *len)
{
    *s = NULL;
    *len = 0;
    if (proto_rd_left(r) == 0)
        return 0;
    const uint8_t *p = proto_rd_cstr(r, len);
    if (!p) {
        /* tolerate a final name without its NUL (some connectors) */
        r->err = 0;
        p = proto_rd_rest(r, len);
    }
    if (*len > PROTO_MAX_NAME)
        return -1;
    *s = (const char *)p;
    return 0;
}

/* Connect attributes: a lenenc-length block. */
static int read_attrs(proto_reader *r, const uint8_t **attrs, size_t *len)
{
    *attrs = NULL;
    *len = 0;
    if (proto_rd_left(r) == 0)
        return 0;
    const uint8_t *p = proto_rd_lenenc_str(r, len);
    if (r->err)
        return -1;
    *attrs = p;
    return 0;
}

proto_status proto_handshake_response_decode(const uint8_t *payload, size_t len,
                                             proto_handshake_response *out)
{
    proto_reader r;
    memset(out, 0, sizeof *out);
    out->user = "";
    proto_rd_init(&r, payload, len);
    out->capabilities = proto_rd_u32(&r);
    out->max_packet = proto_rd_u32(&r);
    out->charset = proto_rd_u8(&r);
    proto_rd_skip(&r, 19);
    uint32_t ext = proto_rd_u32(&r);
    if (r.err || !(out->capabilities & CLIENT_PROTOCOL_41))
        return PROTO_ERROR;
    if (!(out->capabilities & CLIENT_MYSQL))
        out->mariadb_ext_caps = ext;
    if (len == RESPONSE_FIXED) {
        if (!(out->capabilities & CLIENT_SSL))
            return PROTO_ERROR;
        out->is_ssl_request = 1;
        return PROTO_OK;
    }
    const uint8_t *user = proto_rd_cstr(&r, &out->user_len);
    if (r.err || out->user_len > PROTO_MAX_NAME)
        return PROTO_ERROR;
    out->user = (const char *)user;
    out->auth = read_auth_field(&r, out->capabilities, &out->auth_len);
    if (r.err)
        return PROTO_ERROR;
    if ((out->capabilities & CLIENT_CONNECT_WITH_DB) && proto_rd_left(&r) > 0) {
        out->db = (const char *)proto_rd_cstr(&r, &out->db_len);
        if (r.err || out->db_len > PROTO_MAX_NAME)
            return PROTO_ERROR;
    }
    if (out->db && out->db_len == 0)
        out->db = NULL;
    if ((out->capabilities & CLIENT_PLUGIN_AUTH) &&
        read_opt_name(&r, &out->plugin, &out->plugin_len) != 0)
        return PROTO_ERROR;
    if ((out->capabilities & CLIENT_CONNECT_ATTRS) && read_attrs(&r, &out->attrs, &out->attrs_len) != 0)
        return PROTO_ERROR;
    return r.err ? PROTO_ERROR : PROTO_OK;
}

int proto_handshake_response_encode(proto_writer *w, const proto_handshake_params *p, uint8_t seq)
{
    uint32_t caps = p->capabilities;
    int with_db = p->db && p->db[0];
    if (with_db)
        caps |= CLIENT_CONNECT_WITH_DB;
    else
        caps &= ~CLIENT_CONNECT_WITH_DB;
    if (!p->attrs)
        caps &= ~CLIENT_CONNECT_ATTRS;
    proto_wr_u32(w, caps);
    proto_wr_u32(w, p->max_packet);
    proto_wr_u8(w, p->charset);
    proto_wr_zeros(w, 19);
    proto_wr_u32(w, (caps & CLIENT_MYSQL) ? 0 : p->mariadb_ext_caps);
    proto_wr_cstr(w, p->user ? p->user : "");
    if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        proto_wr_lenenc_str(w, p->auth, p->auth_len);
    } else {
        if (p->auth_len > 255)
            w->err = 1;
        proto_wr_u8(w, (uint8_t)p->auth_len);
        proto_wr_bytes(w, p->auth, p->auth_len);
    }
    if (with_db)
        proto_wr_cstr(w, p->db);
    if (caps & CLIENT_PLUGIN_AUTH)
        proto_wr_cstr(w, p->plugin ? p->plugin : "");
    if (caps & CLIENT_CONNECT_ATTRS)
        proto_wr_lenenc_str(w, p->attrs, p->attrs_len);
    return proto_wr_finish(w, seq);
}

proto_status proto_auth_switch_decode(const uint8_t *payload, size_t len, proto_auth_switch *out)
{
    proto_reader r;
    memset(out, 0, sizeof *out);
    proto_rd_init(&r, payload, len);
    if (proto_rd_u8(&r) != PKT_AUTH_SWITCH || r.err)
        return PROTO_ERROR;
    const uint8_t *name = proto_rd_cstr(&r, &out->plugin_len);
    if (r.err || out->plugin_len == 0 || out->plugin_len > PROTO_MAX_NAME)
        return PROTO_ERROR;
    out->plugin = (const char *)name;
    out->data = proto_rd_rest(&r, &out->data_len);
    return PROTO_OK;
}

int proto_auth_switch_encode(proto_writer *w, const char *plugin, const uint8_t *data,
                             size_t data_len, uint8_t seq)
{
    proto_wr_u8(w, PKT_AUTH_SWITCH);
    proto_wr_cstr(w, plugin);
    proto_wr_bytes(w, data, data_len);
    proto_wr_u8(w, 0);
    return proto_wr_finish(w, seq);
}

proto_status proto_change_user_decode(const uint8_t *payload, size_t len, uint32_t client_caps,
                                      proto_change_user *out)
{
    proto_reader r;
    memset(out, 0, sizeof *out);
    out->db = "";
    proto_rd_init(&r, payload, len);
    if (proto_rd_u8(&r) != COM_CHANGE_USER || r.err)
        return PROTO_ERROR;
    const uint8_t *user = proto_rd_cstr(&r, &out->user_len);
    if (r.err || out->user_len > PROTO_MAX_NAME)
        return PROTO_ERROR;
    out->user = (const char *)user;
    if (client_caps & CLIENT_SECURE_CONNECTION) {
        size_t n = proto_rd_u8(&r);
        out->auth_len = n;
        out->auth = proto_rd_bytes(&r, n);
    } else {
        out->auth = proto_rd_cstr(&r, &out->auth_len);
    }
    if (r.err)
        return PROTO_ERROR;
    const char *db = (const char *)proto_rd_cstr(&r, &out->db_len);
    if (r.err || out->db_len > PROTO_MAX_NAME)
        return PROTO_ERROR;
    if (db)
        out->db = db;
    if (proto_rd_left(&r) >= 2)
        out->charset = proto_rd_u16(&r);
    if ((client_caps & CLIENT_PLUGIN_AUTH) &&
        read_opt_name(&r, &out->plugin, &out->plugin_len) != 0)
        return PROTO_ERROR;
    if ((client_caps & CLIENT_CONNECT_ATTRS) && read_attrs(&r, &out->attrs, &out->attrs_len) != 0)
        return PROTO_ERROR;
    return r.err ? PROTO_ERROR : PROTO_OK;
}

int proto_change_user_encode(proto_writer *w, uint32_t caps, const char *user, const uint8_t *auth,
                             size_t auth_len, const char *db, uint16_t charset, const char *plugin,
                             const uint8_t *attrs, size_t attrs_len)
{
    if (auth_len > 255 || strlen(user) > PROTO_MAX_NAME || strlen(db) > PROTO_MAX_NAME)
        return -1;
    proto_wr_u8(w, COM_CHANGE_USER);
    proto_wr_cstr(w, user);
    if (caps & CLIENT_SECURE_CONNECTION) {
        proto_wr_u8(w, (uint8_t)auth_len);
        proto_wr_bytes(w, auth, auth_len);
    } else {
        proto_wr_bytes(w, auth, auth_len);
        proto_wr_u8(w, 0);
    }
    proto_wr_cstr(w, db);
    proto_wr_u16(w, charset);
    if (caps & CLIENT_PLUGIN_AUTH)
        proto_wr_cstr(w, plugin ? plugin : "");
    if (caps & CLIENT_CONNECT_ATTRS)
        proto_wr_lenenc_str(w, attrs, attrs ? attrs_len : 0);
    return proto_wr_finish(w, 0) != 0 || w->err ? -1 : 0;
}

void proto_greeting_init(proto_greeting *g, const char *version, uint32_t conn_id,
                         const uint8_t *scramble20, uint32_t caps, uint16_t status)
{
    memset(g, 0, sizeof *g);
    g->protocol_version = 10;
    snprintf(g->server_version, sizeof g->server_version, "%.63s", version);
    g->connection_id = conn_id;
    memcpy(g->scramble, scramble20, 20);
    g->scramble_len = 20;
    g->capabilities = caps;
    g->charset = CHARSET_UTF8MB4_GENERAL_CI;
    g->status = status;
    snprintf(g->auth_plugin, sizeof g->auth_plugin, "%s", PROTO_NATIVE_PLUGIN);
}
