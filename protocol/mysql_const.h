/*
 * protocol/mysql_const.h — constants of the MySQL/MariaDB client/server protocol:
 * capability flags (including MariaDB's extended ones), server status flags,
 * command bytes, packet markers and the error codes rwproxy itself sends.
 * Pure definitions; no code, no I/O.
 */
#ifndef RWP_MYSQL_CONST_H
#define RWP_MYSQL_CONST_H

#include <stdint.h>

/* ---- capability flags (32-bit, handshake v10 / HandshakeResponse41) ---- */
#define CLIENT_LONG_PASSWORD                  0x00000001u /* also CLIENT_MYSQL: clear on MariaDB */
#define CLIENT_MYSQL                          0x00000001u
#define CLIENT_FOUND_ROWS                     0x00000002u
#define CLIENT_LONG_FLAG                      0x00000004u
#define CLIENT_CONNECT_WITH_DB                0x00000008u
#define CLIENT_NO_SCHEMA                      0x00000010u
#define CLIENT_COMPRESS                       0x00000020u
#define CLIENT_ODBC                           0x00000040u
#define CLIENT_LOCAL_FILES                    0x00000080u
#define CLIENT_IGNORE_SPACE                   0x00000100u
#define CLIENT_PROTOCOL_41                    0x00000200u
#define CLIENT_INTERACTIVE                    0x00000400u
#define CLIENT_SSL                            0x00000800u
#define CLIENT_IGNORE_SIGPIPE                 0x00001000u
#define CLIENT_TRANSACTIONS                   0x00002000u
#define CLIENT_RESERVED                       0x00004000u
#define CLIENT_SECURE_CONNECTION              0x00008000u
#define CLIENT_MULTI_STATEMENTS               0x00010000u
#define CLIENT_MULTI_RESULTS                  0x00020000u
#define CLIENT_PS_MULTI_RESULTS               0x00040000u
#define CLIENT_PLUGIN_AUTH                    0x00080000u
#define CLIENT_CONNECT_ATTRS                  0x00100000u
#define CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA 0x00200000u
#define CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS   0x00400000u
#define CLIENT_SESSION_TRACK                  0x00800000u
#define CLIENT_DEPRECATE_EOF                  0x01000000u
#define CLIENT_SSL_VERIFY_SERVER_CERT         0x40000000u
#define CLIENT_REMEMBER_OPTIONS               0x80000000u

/* ---- MariaDB extended capabilities (the 4 bytes in the handshake's reserved area,
 *      and in the HandshakeResponse41 filler, used when CLIENT_MYSQL is clear) ---- */
#define MARIADB_CLIENT_PROGRESS               0x00000001u
#define MARIADB_CLIENT_COM_MULTI              0x00000002u
#define MARIADB_CLIENT_STMT_BULK_OPERATIONS   0x00000004u
#define MARIADB_CLIENT_EXTENDED_TYPE_INFO     0x00000008u
#define MARIADB_CLIENT_CACHE_METADATA         0x00000010u

/* ---- server status flags (OK / EOF packets) ---- */
#define SERVER_STATUS_IN_TRANS                0x0001u
#define SERVER_STATUS_AUTOCOMMIT              0x0002u
#define SERVER_MORE_RESULTS_EXISTS            0x0008u
#define SERVER_QUERY_NO_GOOD_INDEX_USED       0x0010u
#define SERVER_QUERY_NO_INDEX_USED            0x0020u
#define SERVER_STATUS_CURSOR_EXISTS           0x0040u
#define SERVER_STATUS_LAST_ROW_SENT           0x0080u
#define SERVER_STATUS_DB_DROPPED              0x0100u
#define SERVER_STATUS_NO_BACKSLASH_ESCAPES    0x0200u
#define SERVER_STATUS_METADATA_CHANGED        0x0400u
#define SERVER_QUERY_WAS_SLOW                 0x0800u
#define SERVER_PS_OUT_PARAMS                  0x1000u
#define SERVER_STATUS_IN_TRANS_READONLY       0x2000u
#define SERVER_SESSION_STATE_CHANGED          0x4000u

/* ---- commands (first payload byte of a client command packet) ---- */
#define COM_SLEEP                0x00
#define COM_QUIT                 0x01
#define COM_INIT_DB              0x02
#define COM_QUERY                0x03
#define COM_FIELD_LIST           0x04
#define COM_CREATE_DB            0x05
#define COM_DROP_DB              0x06
#define COM_REFRESH              0x07
#define COM_SHUTDOWN             0x08
#define COM_STATISTICS           0x09
#define COM_PROCESS_INFO         0x0a
#define COM_CONNECT              0x0b
#define COM_PROCESS_KILL         0x0c
#define COM_DEBUG                0x0d
#define COM_PING                 0x0e
#define COM_TIME                 0x0f
#define COM_DELAYED_INSERT       0x10
#define COM_CHANGE_USER          0x11
#define COM_BINLOG_DUMP          0x12
#define COM_TABLE_DUMP           0x13
#define COM_CONNECT_OUT          0x14
#define COM_REGISTER_SLAVE       0x15
#define COM_STMT_PREPARE         0x16
#define COM_STMT_EXECUTE         0x17
#define COM_STMT_SEND_LONG_DATA  0x18
#define COM_STMT_CLOSE           0x19
#define COM_STMT_RESET           0x1a
#define COM_SET_OPTION           0x1b
#define COM_STMT_FETCH           0x1c
#define COM_DAEMON               0x1d
#define COM_BINLOG_DUMP_GTID     0x1e
#define COM_RESET_CONNECTION     0x1f
#define COM_STMT_BULK_EXECUTE    0xfa /* MariaDB */

/* COM_STMT_EXECUTE statement id meaning "the one prepared just before" (MariaDB) */
#define STMT_ID_LAST_PREPARED    0xffffffffu

/* COM_STMT_EXECUTE flags */
#define CURSOR_TYPE_NO_CURSOR    0x00
#define CURSOR_TYPE_READ_ONLY    0x01

/* ---- packet markers (first payload byte) ---- */
#define PKT_OK                   0x00
#define PKT_EOF                  0xfe
#define PKT_ERR                  0xff
#define PKT_LOCAL_INFILE         0xfb
#define PKT_AUTH_SWITCH          0xfe /* in the authentication phase */
#define PKT_AUTH_MORE_DATA       0x01 /* in the authentication phase */

/* ---- session-track types (OK packet, CLIENT_SESSION_TRACK) ---- */
#define SESSION_TRACK_SYSTEM_VARIABLES             0x00
#define SESSION_TRACK_SCHEMA                       0x01
#define SESSION_TRACK_STATE_CHANGE                 0x02
#define SESSION_TRACK_GTIDS                        0x03
#define SESSION_TRACK_TRANSACTION_CHARACTERISTICS  0x04
#define SESSION_TRACK_TRANSACTION_STATE            0x05

/* ---- error codes rwproxy sends itself (with their SQLSTATE) ---- */
#define ER_CON_COUNT_ERROR          1040 /* 08004 too many connections */
#define ER_OUT_OF_RESOURCES         1041 /* HY000 out of memory */
#define ER_HANDSHAKE_ERROR          1043 /* 08S01 bad handshake */
#define ER_ACCESS_DENIED_ERROR      1045 /* 28000 */
#define ER_UNKNOWN_COM_ERROR        1047 /* 08S01 unknown command */
#define ER_BAD_DB_ERROR             1049 /* 42000 */
#define ER_NET_PACKET_TOO_LARGE     1153 /* 08S01 */
#define ER_NET_READ_ERROR           1158 /* 08S01 */
#define ER_NET_READ_INTERRUPTED     1159 /* 08S01 timeout */
#define ER_UNKNOWN_ERROR            1105 /* HY000 */
#define ER_OPTION_PREVENTS_STATEMENT 1290 /* HY000 read-only */
#define ER_QUERY_INTERRUPTED        1317 /* 70100 */
#define ER_NOT_SUPPORTED_AUTH_MODE  1251 /* 08004 */
#define ER_UNKNOWN_STMT_HANDLER     1243 /* HY000 */
#define ER_LOCK_DEADLOCK            1213 /* 40001 */
#define ER_BLOCKED_BY_RULE          1148 /* 42000 ER_NOT_ALLOWED_COMMAND */
#define ER_CONNECTION_KILLED        1927 /* 70100 */
#define ER_TOO_MANY_USER_CONNECTIONS 1203 /* 42000 */
#define ER_CLIENT_INTERACTION_TIMEOUT 4031 /* HY000 (MySQL 8: disconnected for inactivity) */
/* Never send client-side codes (2000..2999, e.g. 2013) from the server side: libmariadb
 * turns such an ERR packet into 2027 "Received malformed packet". */

/* charset ids */
#define CHARSET_UTF8MB4_GENERAL_CI  45
#define CHARSET_UTF8_GENERAL_CI     33
#define CHARSET_LATIN1_SWEDISH_CI   8
#define CHARSET_BINARY              63

#endif
