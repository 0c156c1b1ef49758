/*
 * proxy/tls.h — TLS with OpenSSL for client and backend connections. Owns the SSL_CTX
 * objects built from the configuration (the [tls] section for clients, [server.NAME] tls,
 * tls_ca, tls_verify for backends; the configuration holds them and frees them with itself)
 * and the per-connection TLS engine: one SSL object over a pair of memory BIOs, so libuv
 * keeps the socket. Ciphertext read from the socket is fed in (rwp_tls_feed) and plaintext
 * comes out (rwp_tls_read / rwp_tls_read_all); plaintext to send is encrypted and the
 * ciphertext handed to the netio write functions (rwp_tls_write, rwp_tls_flush).
 *
 * TLS 1.2 and 1.3 only, no renegotiation, no session tickets. A failure of any kind is
 * reported once as an error status; rwp_tls_error() says why. The connection owner then
 * closes (one failure path), after flushing what rwp_tls_flush still has (an alert).
 */
#ifndef RWP_TLS_H
#define RWP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/netio.h"

struct ssl_ctx_st;
typedef struct rwp_tls rwp_tls;
typedef struct rwp_client rwp_client;

/* [tls] min_version choices (index of the word in the key table's "TLSv1.2|TLSv1.3"). */
enum { RWP_TLS_MIN_12 = 0, RWP_TLS_MIN_13 = 1 };

/* Results of rwp_tls_read / rwp_tls_read_all / rwp_tls_handshake below 0. */
enum {
    RWP_TLS_EOF = -1,  /* the peer sent close_notify */
    RWP_TLS_ERR = -2   /* protocol, certificate or memory failure (rwp_tls_error says which) */
};

/* ---- contexts (built while the configuration is validated) ---- */

/* The context rwproxy accepts clients with: certificate chain and key (PEM), optionally a CA
 * file whose certificates TLS clients must present one signed by, a TLS 1.2 cipher list
 * ("" = OpenSSL's default) and the lowest version (RWP_TLS_MIN_*). NULL + err on failure,
 * with *bad_key set to the [tls] key at fault ("cert", "key", "ca" or "ciphers"). */
struct ssl_ctx_st *rwp_tls_server_ctx(const char *cert, const char *key, const char *ca,
                                      const char *ciphers, int min_version, const char **bad_key,
                                      char *err, size_t errlen);
/* The context rwproxy connects to a server with: ca ("" = none: the system's CAs when verify
 * is set), verify = check the server's certificate chain (the host name or IP address is
 * checked per connection). NULL + err on failure. */
struct ssl_ctx_st *rwp_tls_backend_ctx(const char *ca, int verify, char *err, size_t errlen);
/* Drop the configuration's reference (connections keep their own). NULL is fine. */
void rwp_tls_ctx_free(struct ssl_ctx_st *ctx);

/* ---- connections ---- */

/* Server side of a client connection (the client sent the SSL request). NULL if no memory. */
rwp_tls *rwp_tls_new_server(struct ssl_ctx_st *ctx);
/* Client side of a backend connection; host is the server's name or address, checked against
 * its certificate when verify_host is set (and sent as SNI when it is a name). */
rwp_tls *rwp_tls_new_client(struct ssl_ctx_st *ctx, const char *host, int verify_host);
void rwp_tls_free(rwp_tls *t);

/* Ciphertext received from the peer. 0, or RWP_TLS_ERR (no memory). */
int rwp_tls_feed(rwp_tls *t, const void *p, size_t n);
/* Advance the handshake with what was fed: 1 established, 0 needs more input (flush first:
 * the next handshake message may be waiting), RWP_TLS_ERR or RWP_TLS_EOF. */
int rwp_tls_handshake(rwp_tls *t);
/* Decrypt up to cap bytes: > 0 bytes, 0 needs more input, RWP_TLS_EOF or RWP_TLS_ERR.
 * Runs the handshake first if it is not finished. */
long rwp_tls_read(rwp_tls *t, uint8_t *dst, size_t cap);
/* Decrypt everything fed so far into in. 0, RWP_TLS_EOF or RWP_TLS_ERR. */
int rwp_tls_read_all(rwp_tls *t, rwp_inbuf *in);
/* Encrypt len bytes and write them to s (copied only if the kernel does not take them at once).
 * 0, or a negative libuv error (UV_EPROTO: TLS failed, UV_ENOTCONN: handshake not finished). */
int rwp_tls_write(rwp_tls *t, uv_stream_t *s, const void *p, size_t len, rwp_write_done_fn done);
/* Write the ciphertext the engine produced on its own (handshake messages, alerts). 0 or a
 * negative libuv error. */
int rwp_tls_flush(rwp_tls *t, uv_stream_t *s, rwp_write_done_fn done);
/* Send close_notify (if the handshake finished); the caller closes the socket after. */
void rwp_tls_close_notify(rwp_tls *t, uv_stream_t *s);

int rwp_tls_established(const rwp_tls *t);
/* Why the last call failed (static-size text inside t). */
const char *rwp_tls_error(const rwp_tls *t);
/* Negotiated protocol and cipher ("TLSv1.3", "TLS_AES_256_GCM_SHA384") for logs. */
const char *rwp_tls_version(const rwp_tls *t);
const char *rwp_tls_cipher(const rwp_tls *t);

/* Is the client connection encrypted (it upgraded with the SSL request and finished the TLS
 * handshake)? caching_sha2_password's full authentication needs it. */
int rwp_client_is_tls(const rwp_client *c);

#endif
