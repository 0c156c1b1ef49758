/*
 * protocol/handshake.h — the connection phase: Initial Handshake v10 (server greeting),
 * SSLRequest and HandshakeResponse41 (client reply), AuthSwitchRequest, AuthMoreData,
 * and COM_CHANGE_USER. Encoders build complete packets (header included) in a
 * proto_writer; decoders read one payload (header stripped) and point into it.
 */
#ifndef RWP_HANDSHAKE_H
#define RWP_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include "packet.h"

#define PROTO_SCRAMBLE_LEN 20
#define PROTO_MAX_NAME     256  /* user, schema, plugin names are truncated/refused beyond */

/* A server greeting (Initial Handshake Packet, protocol version 10). */
typedef struct {
    uint8_t protocol_version;         /* always 10 */
    char server_version[64];          /* NUL-terminated, e.g. "5.5.5-10.11.6-MariaDB" */
    uint32_t connection_id;           /* thread id on that server */
    uint8_t scramble[PROTO_SCRAMBLE_LEN]; /* auth-plugin-data parts 1+2 (20 bytes used) */
    size_t scramble_len;              /* bytes of scramble present (20 for native) */
    uint32_t capabilities;            /* lower and upper 16 bits joined */
    uint32_t mariadb_ext_caps;        /* MariaDB extended caps (only if CLIENT_MYSQL clear) */
    uint8_t charset;                  /* server default collation id */
    uint16_t status;                  /* server status flags */
    char auth_plugin[64];             /* e.g. "mysql_native_password"; "" if absent */
} proto_greeting;

/* Decode a greeting payload. PROTO_ERROR if malformed or protocol != 10. */
proto_status proto_greeting_decode(const uint8_t *payload, size_t len, proto_greeting *out);
/* Encode a greeting as packet seq 0 into w. */
int proto_greeting_encode(proto_writer *w, const proto_greeting *g);
/* A greeting as rwproxy sends it: protocol 10, utf8mb4_general_ci, mysql_native_password,
 * the given version, connection id, 20-byte scramble, capabilities and status. */
void proto_greeting_init(proto_greeting *g, const char *version, uint32_t conn_id,
                         const uint8_t *scramble20, uint32_t caps, uint16_t status);

/* A client's HandshakeResponse41 (or an SSLRequest, which is its first 32 bytes). */
typedef struct {
    uint32_t capabilities;      /* client capability flags */
    uint32_t max_packet;        /* client max packet size */
    uint8_t charset;            /* collation id */
    uint32_t mariadb_ext_caps;  /* from the filler, when CLIENT_MYSQL is clear */
    int is_ssl_request;         /* 1 if the payload is only an SSLRequest (32 bytes) */
    const char *user;           /* points into payload, NUL-terminated there; "" if absent */
    size_t user_len;
    const uint8_t *auth;        /* auth response bytes (points into payload) */
    size_t auth_len;
    const char *db;             /* NULL if no CLIENT_CONNECT_WITH_DB or empty */
    size_t db_len;
    const char *plugin;         /* NULL if no CLIENT_PLUGIN_AUTH */
    size_t plugin_len;
    const uint8_t *attrs;       /* connect attributes block (without its lenenc length) or NULL */
    size_t attrs_len;
} proto_handshake_response;

/* Decode a HandshakeResponse41 payload (or SSLRequest). Rejects the old 320 protocol,
 * names longer than PROTO_MAX_NAME, and any length that runs past the payload. */
proto_status proto_handshake_response_decode(const uint8_t *payload, size_t len,
                                             proto_handshake_response *out);

/* Parameters for building our own HandshakeResponse41 to a backend. */
typedef struct {
    uint32_t capabilities;      /* what we ask for (already intersected with the server's) */
    uint32_t max_packet;        /* e.g. 0x40000000 */
    uint8_t charset;            /* collation id */
    uint32_t mariadb_ext_caps;  /* written in the filler only if CLIENT_MYSQL is clear */
    const char *user;
    const uint8_t *auth;        /* auth response bytes */
    size_t auth_len;
    const char *db;             /* NULL or "" for none */
    const char *plugin;         /* e.g. "mysql_native_password" */
    const uint8_t *attrs;       /* raw connect attributes block (without lenenc length), or NULL */
    size_t attrs_len;
} proto_handshake_params;

/* Encode a HandshakeResponse41 with the given sequence id (1 normally, 2 after SSL). */
int proto_handshake_response_encode(proto_writer *w, const proto_handshake_params *p, uint8_t seq);

/* AuthSwitchRequest (0xfe, plugin name NUL, plugin data). */
typedef struct {
    const char *plugin;     /* points into payload */
    size_t plugin_len;
    const uint8_t *data;    /* plugin data (for native: 20-byte scramble, maybe + NUL) */
    size_t data_len;
} proto_auth_switch;

proto_status proto_auth_switch_decode(const uint8_t *payload, size_t len, proto_auth_switch *out);
/* Encode an AuthSwitchRequest for plugin with data (we append the trailing NUL servers send). */
int proto_auth_switch_encode(proto_writer *w, const char *plugin, const uint8_t *data,
                             size_t data_len, uint8_t seq);

/* COM_CHANGE_USER payload (after the 0x11 command byte is included in payload). */
typedef struct {
    const char *user;           /* points into payload */
    size_t user_len;
    const uint8_t *auth;        /* auth response (computed with the connection's scramble) */
    size_t auth_len;
    const char *db;             /* "" if none */
    size_t db_len;
    uint16_t charset;           /* 0 if absent */
    const char *plugin;         /* NULL if absent */
    size_t plugin_len;
    const uint8_t *attrs;       /* NULL if absent */
    size_t attrs_len;
} proto_change_user;

/* Decode a COM_CHANGE_USER payload (first byte 0x11); client_caps decides which fields exist. */
proto_status proto_change_user_decode(const uint8_t *payload, size_t len, uint32_t client_caps,
                                      proto_change_user *out);
/* Encode a complete COM_CHANGE_USER packet (header, sequence id 0) for a connection that
 * negotiated caps: user, auth response (at most 255 bytes), db ("" for none), charset, plugin
 * (with CLIENT_PLUGIN_AUTH) and the attributes block (the attributes without their length prefix, with CLIENT_CONNECT_ATTRS;
 * may be NULL). Returns 0, or -1 if a field is too long or memory ran out. */
int proto_change_user_encode(proto_writer *w, uint32_t caps, const char *user, const uint8_t *auth,
                             size_t auth_len, const char *db, uint16_t charset, const char *plugin,
                             const uint8_t *attrs, size_t attrs_len);

#endif
