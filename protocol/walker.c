/*
 * protocol/walker.c — the resumable response walker: follows the packets a server sends in
 * answer to one command, from arbitrarily sliced input, and reports where the answer ends.
 * Only a bounded prefix of packets that can be OK/EOF/ERR/markers is copied; everything
 * else is counted and skipped, so the caller can forward bytes from its own buffers.
 */
#include "protocol/walker.h"

#include <string.h>

#include "protocol/mysql_const.h"
#include "protocol/response.h"

#define EOF_MAX_PAYLOAD 9u

proto_resp_kind proto_command_response_kind(uint8_t cmd)
{
    switch (cmd) {
    case COM_QUIT:
    case COM_STMT_CLOSE:
    case COM_STMT_SEND_LONG_DATA:
        return RESP_NONE;
    case COM_QUERY:
    case COM_PROCESS_INFO:
        return RESP_QUERY;
    case COM_FIELD_LIST:
        return RESP_FIELD_LIST;
    case COM_STATISTICS:
        return RESP_STRING;
    case COM_STMT_PREPARE:
        return RESP_PREPARE;
    case COM_STMT_EXECUTE:
    case COM_STMT_BULK_EXECUTE:
        return RESP_EXECUTE;
    case COM_STMT_FETCH:
        return RESP_FETCH;
    default:
        return RESP_SINGLE;
    }
}

const char *proto_command_name(uint8_t cmd)
{
    static const char *const names[] = {
        "COM_SLEEP", "COM_QUIT", "COM_INIT_DB", "COM_QUERY", "COM_FIELD_LIST",
        "COM_CREATE_DB", "COM_DROP_DB", "COM_REFRESH", "COM_SHUTDOWN", "COM_STATISTICS",
        "COM_PROCESS_INFO", "COM_CONNECT", "COM_PROCESS_KILL", "COM_DEBUG", "COM_PING",
        "COM_TIME", "COM_DELAYED_INSERT", "COM_CHANGE_USER", "COM_BINLOG_DUMP", "COM_TABLE_DUMP",
        "COM_CONNECT_OUT", "COM_REGISTER_SLAVE", "COM_STMT_PREPARE", "COM_STMT_EXECUTE",
        "COM_STMT_SEND_LONG_DATA", "COM_STMT_CLOSE", "COM_STMT_RESET", "COM_SET_OPTION",
        "COM_STMT_FETCH", "COM_DAEMON", "COM_BINLOG_DUMP_GTID", "COM_RESET_CONNECTION",
    };
    if (cmd < sizeof names / sizeof names[0])
        return names[cmd];
    if (cmd == COM_STMT_BULK_EXECUTE)
        return "COM_STMT_BULK_EXECUTE";
    return "COM_UNKNOWN";
}

void proto_walker_start(proto_walker *w, proto_resp_kind kind, uint32_t caps, int cursor,
                        proto_walk_cb cb, void *cb_ctx)
{
    memset(w, 0, offsetof(proto_walker, cap));
    w->last_status = 0;
    w->got_err = 0;
    w->packets = 0;
    w->bytes = 0;
    w->rows = 0;
    w->kind = kind;
    w->caps = caps;
    w->cursor = cursor;
    w->cb = cb;
    w->cb_ctx = cb_ctx;
    switch (kind) {
    case RESP_NONE:
        w->state = WALK_DONE;
        break;
    case RESP_FIELD_LIST:
        w->state = WALK_FIELDS;
        break;
    case RESP_FETCH:
        w->state = WALK_ROWS;
        break;
    default:
        w->state = WALK_FIRST;
        break;
    }
}

void proto_walker_infile_sent(proto_walker *w)
{
    if (w->state == WALK_INFILE)
        w->state = WALK_FIRST;
}

/* Is the finished logical packet a result-set terminator (EOF or OK with 0xfe)? */
static int packet_is_terminator(const proto_walker *w)
{
    if (w->first_byte != PKT_EOF || w->logical_len == 0 || w->logical_len >= PROTO_MAX_PAYLOAD)
        return 0;
    return (w->caps & CLIENT_DEPRECATE_EOF) || w->logical_len < EOF_MAX_PAYLOAD;
}

/* Status flags of the finished OK/EOF packet from its captured prefix (0 if unreadable). */
static uint16_t packet_status(const proto_walker *w)
{
    int st = proto_status_flags(w->cap, w->cap_len, w->caps);
    return st < 0 ? 0 : (uint16_t)st;
}

/* Report an event about the finished packet. */
static void emit(proto_walker *w, proto_walk_event_type type, size_t end_off, uint16_t status)
{
    if (type == WALK_EV_OK || type == WALK_EV_EOF)
        w->last_status = status;
    if (type == WALK_EV_ERR)
        w->got_err = 1;
    if (!w->cb)
        return;
    proto_walk_event ev = {
        .type = type,
        .payload = w->cap,
        .captured = w->cap_len,
        .payload_len = w->logical_len > 0xffffffffu ? 0xffffffffu : (uint32_t)w->logical_len,
        .seq = w->pkt_seq,
        .end_off = end_off,
        .status = status,
        .last = w->state == WALK_DONE,
    };
    w->cb(w->cb_ctx, &ev);
}

/* Set the next state, then report (so the event's last flag is right). */
static void finish_with(proto_walker *w, proto_walk_state next, proto_walk_event_type type,
                        size_t end_off, uint16_t status)
{
    w->state = next;
    emit(w, type, end_off, status);
}

/* An OK/terminator that ends one result: the response goes on only with MORE_RESULTS. */
static proto_walk_state after_result(const proto_walker *w, uint16_t status)
{
    if ((w->kind == RESP_QUERY || w->kind == RESP_EXECUTE) && (status & SERVER_MORE_RESULTS_EXISTS))
        return WALK_FIRST;
    return WALK_DONE;
}

/* The first packet of a result set is its column count. */
static void start_columns(proto_walker *w)
{
    proto_reader r;
    proto_rd_init(&r, w->cap, w->cap_len);
    uint64_t n = proto_rd_lenenc(&r, NULL);
    if (r.err || n == 0) {
        w->state = WALK_ERROR;
        return;
    }
    w->cols_left = n;
    w->state = WALK_COLUMNS;
}

/* After parameter definitions of a prepare answer. */
static proto_walk_state prepare_after_params(const proto_walker *w)
{
    return w->prep_columns ? WALK_PREP_COLUMNS : WALK_DONE;
}

static void first_prepare(proto_walker *w, size_t end_off)
{
    if (w->first_byte != PKT_OK || w->cap_len < 9) {
        w->state = WALK_ERROR;
        return;
    }
    w->prep_columns = proto_u16(w->cap + 5);
    w->params_left = proto_u16(w->cap + 7);
    proto_walk_state next = w->params_left ? WALK_PREP_PARAMS : prepare_after_params(w);
    finish_with(w, next, WALK_EV_PREPARE_OK, end_off, 0);
}

/* The first packet of an answer (or of the next result of a multi-result answer). */
static void end_first(proto_walker *w, size_t end_off)
{
    if (w->logical_len == 0) {
        w->state = WALK_ERROR;
        return;
    }
    if (w->first_byte == PKT_ERR) {
        finish_with(w, WALK_DONE, WALK_EV_ERR, end_off, 0);
        return;
    }
    switch (w->kind) {
    case RESP_SINGLE:
        if (w->first_byte == PKT_OK)
            finish_with(w, WALK_DONE, WALK_EV_OK, end_off, packet_status(w));
        else
            finish_with(w, WALK_DONE, WALK_EV_EOF, end_off, packet_status(w));
        return;
    case RESP_STRING:
        finish_with(w, WALK_DONE, WALK_EV_STRING, end_off, 0);
        return;
    case RESP_PREPARE:
        first_prepare(w, end_off);
        return;
    default:
        break;
    }
    if (w->first_byte == PKT_OK) {
        uint16_t st = packet_status(w);
        finish_with(w, after_result(w, st), WALK_EV_OK, end_off, st);
    } else if (w->first_byte == PKT_LOCAL_INFILE && w->kind == RESP_QUERY) {
        finish_with(w, WALK_INFILE, WALK_EV_INFILE, end_off, 0);
    } else {
        start_columns(w);
    }
}

/* A row, or the terminator/ERR that ends the rows. */
static void end_row(proto_walker *w, size_t end_off)
{
    if (w->first_byte == PKT_ERR && w->logical_len > 0) {
        finish_with(w, WALK_DONE, WALK_EV_ERR, end_off, 0);
    } else if (packet_is_terminator(w)) {
        uint16_t st = packet_status(w);
        finish_with(w, after_result(w, st), WALK_EV_EOF, end_off, st);
    } else {
        w->rows++;
    }
}

/* The EOF after column definitions (classic protocol). */
static void end_columns_eof(proto_walker *w, size_t end_off)
{
    if (!packet_is_terminator(w)) {
        w->state = WALK_ERROR;
        return;
    }
    uint16_t st = packet_status(w);
    proto_walk_state next = WALK_ROWS;
    if (w->kind == RESP_EXECUTE && (st & SERVER_STATUS_CURSOR_EXISTS))
        next = WALK_DONE; /* rows come with COM_STMT_FETCH */
    finish_with(w, next, WALK_EV_EOF, end_off, st);
}

/* An EOF that closes a block of definitions in a prepare answer. */
static void end_definitions_eof(proto_walker *w, proto_walk_state next, size_t end_off)
{
    if (!packet_is_terminator(w)) {
        w->state = WALK_ERROR;
        return;
    }
    finish_with(w, next, WALK_EV_EOF, end_off, packet_status(w));
}

/* Count down a definition block; returns 1 when it is complete. */
static int count_definition(uint64_t *left)
{
    if (*left > 0)
        (*left)--;
    return *left == 0;
}

static void end_packet(proto_walker *w, size_t end_off)
{
    int eof_mode = !(w->caps & CLIENT_DEPRECATE_EOF);
    w->packets++;
    switch (w->state) {
    case WALK_FIRST:
        end_first(w, end_off);
        break;
    case WALK_COLUMNS:
        if (count_definition(&w->cols_left))
            w->state = eof_mode ? WALK_COLUMNS_EOF : WALK_ROWS;
        break;
    case WALK_COLUMNS_EOF:
        end_columns_eof(w, end_off);
        break;
    case WALK_ROWS:
        end_row(w, end_off);
        break;
    case WALK_PREP_PARAMS:
        if (count_definition(&w->params_left))
            w->state = eof_mode ? WALK_PREP_PARAMS_EOF : prepare_after_params(w);
        break;
    case WALK_PREP_PARAMS_EOF:
        end_definitions_eof(w, prepare_after_params(w), end_off);
        break;
    case WALK_PREP_COLUMNS:
        if (count_definition(&w->prep_columns))
            w->state = eof_mode ? WALK_PREP_COLUMNS_EOF : WALK_DONE;
        break;
    case WALK_PREP_COLUMNS_EOF:
        end_definitions_eof(w, WALK_DONE, end_off);
        break;
    case WALK_FIELDS:
        if (w->first_byte == PKT_ERR || packet_is_terminator(w))
            end_row(w, end_off);
        break;
    default:
        w->state = WALK_ERROR;
        break;
    }
}

/* Should the payload of the packet that starts with first be copied? */
static int wants_capture(const proto_walker *w, uint8_t first)
{
    switch (w->state) {
    case WALK_COLUMNS:
    case WALK_PREP_PARAMS:
    case WALK_PREP_COLUMNS:
        return 0;
    case WALK_ROWS:
    case WALK_FIELDS:
        return first == PKT_EOF || first == PKT_ERR;
    default:
        return 1;
    }
}

/* Gather header bytes; returns bytes used. */
static size_t feed_header(proto_walker *w, const uint8_t *buf, size_t len)
{
    size_t n = PROTO_HDR_LEN - w->hdr_have;
    if (n > len)
        n = len;
    memcpy(w->hdr + w->hdr_have, buf, n);
    w->hdr_have += n;
    if (w->hdr_have < PROTO_HDR_LEN)
        return n;
    w->pkt_len = proto_u24(w->hdr);
    w->pkt_have = 0;
    w->pkt_seq = w->hdr[3];
    if (!w->in_continuation) {
        w->logical_len = 0;
        w->cap_len = 0;
        w->first_byte = 0;
        w->capturing = 0;
    }
    return n;
}

/* Take payload bytes of the current physical packet; returns bytes used. */
static size_t feed_payload(proto_walker *w, const uint8_t *buf, size_t len)
{
    size_t n = w->pkt_len - w->pkt_have;
    if (n > len)
        n = len;
    if (n > 0 && w->logical_len == 0) {
        w->first_byte = buf[0];
        w->capturing = wants_capture(w, buf[0]);
    }
    if (w->capturing && w->cap_len < PROTO_WALK_CAPTURE) {
        size_t c = PROTO_WALK_CAPTURE - w->cap_len;
        if (c > n)
            c = n;
        memcpy(w->cap + w->cap_len, buf, c);
        w->cap_len += c;
    }
    w->pkt_have += (uint32_t)n;
    w->logical_len += n;
    return n;
}

size_t proto_walker_feed(proto_walker *w, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (w->state != WALK_DONE && w->state != WALK_INFILE && w->state != WALK_ERROR) {
        if (w->hdr_have < PROTO_HDR_LEN) {
            if (off == len)
                break;
            off += feed_header(w, buf + off, len - off);
            if (w->hdr_have < PROTO_HDR_LEN)
                break;
        }
        off += feed_payload(w, buf + off, len - off);
        if (w->pkt_have < w->pkt_len)
            break;
        w->hdr_have = 0;
        if (w->pkt_len == PROTO_MAX_PAYLOAD) {
            w->in_continuation = 1;
            continue;
        }
        w->in_continuation = 0;
        end_packet(w, off);
    }
    w->bytes += off;
    return off;
}
