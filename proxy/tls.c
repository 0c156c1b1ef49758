/*
 * proxy/tls.c — OpenSSL contexts and the memory-BIO TLS engine (see tls.h). The socket stays
 * libuv's: the read BIO holds ciphertext received and not yet decrypted, the write BIO the
 * ciphertext the engine produced and not yet handed to netio.
 */
#include "proxy/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/client.h"

#define TLS_READ_STEP 16384u /* plaintext room reserved per SSL_read into an input buffer */

/* One connection's TLS engine. */
struct rwp_tls {
    SSL *ssl;        /* the session (owns both BIOs) */
    BIO *rbio;       /* ciphertext from the peer, not yet consumed by ssl */
    BIO *wbio;       /* ciphertext from ssl, not yet written to the socket */
    int established; /* the handshake finished */
    int failed;      /* a fatal error happened: nothing more goes in or out */
    char err[200];   /* why the last call failed */
};

/* ---- errors ---- */

/* The reason of the newest OpenSSL error (or what), plus a certificate verdict if any. */
static void set_error(rwp_tls *t, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char ossl[160] = "";
    if (e)
        ERR_error_string_n(e, ossl, sizeof ossl);
    long vr = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(t->err, sizeof t->err, "%s: certificate verify failed: %s", what,
                 X509_verify_cert_error_string(vr));
    else
        snprintf(t->err, sizeof t->err, "%s%s%s", what, ossl[0] ? ": " : "", ossl);
    ERR_clear_error();
}

/* The newest OpenSSL error queued, for context building messages. */
static void ctx_error(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s '%.300s': %s", what, path, reason ? reason : "failed");
    ERR_clear_error();
}

/* A key file with a passphrase would make OpenSSL prompt on the terminal: refuse instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

/* ---- contexts ---- */

static int min_proto(int min_version) { return min_version == RWP_TLS_MIN_13 ? TLS1_3_VERSION : TLS1_2_VERSION; }

static void common_ctx_setup(SSL_CTX *ctx, int min_version)
{
    SSL_CTX_set_min_proto_version(ctx, min_proto(min_version));
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
}

static int load_client_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        ctx_error(err, errlen, "cannot load CA file", ca);
        return -1;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names)
        SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

/* Load the private key; a key of another certificate gets its own message. */
static int load_key(SSL_CTX *ctx, const char *key, char *err, size_t errlen)
{
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 && SSL_CTX_check_private_key(ctx) == 1)
        return 0;
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
        ctx_error(err, errlen, "the private key does not match the certificate:", key);
    else
        ctx_error(err, errlen, "cannot load private key (PEM, without passphrase)", key);
    return -1;
}

struct ssl_ctx_st *rwp_tls_server_ctx(const char *cert, const char *key, const char *ca,
                                      const char *ciphers, int min_version, const char **bad_key,
                                      char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context (out of memory?)");
        return NULL;
    }
    common_ctx_setup(ctx, min_version);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (ciphers && ciphers[0] && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        ctx_error(err, errlen, "no usable cipher in", ciphers);
        *bad_key = "ciphers";
    } else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ctx_error(err, errlen, "cannot load certificate (PEM)", cert);
        *bad_key = "cert";
    } else if (load_key(ctx, key, err, errlen) != 0) {
        *bad_key = "key";
    } else if (ca && ca[0] && load_client_ca(ctx, ca, err, errlen) != 0) {
        *bad_key = "ca";
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

struct ssl_ctx_st *rwp_tls_backend_ctx(const char *ca, int verify, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context (out of memory?)");
        return NULL;
    }
    common_ctx_setup(ctx, RWP_TLS_MIN_12);
    int ok = 1;
    if (ca && ca[0]) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            ctx_error(err, errlen, "cannot load CA file", ca);
            ok = 0;
        }
    } else if (verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        ctx_error(err, errlen, "cannot load the system's CA certificates", "(default paths)");
        ok = 0;
    }
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    return ctx;
}

void rwp_tls_ctx_free(struct ssl_ctx_st *ctx) { SSL_CTX_free(ctx); }

/* ---- connections ---- */

static rwp_tls *tls_new(SSL_CTX *ctx)
{
    rwp_tls *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty means "more to come", not end of stream */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    return t;
}

rwp_tls *rwp_tls_new_server(struct ssl_ctx_st *ctx)
{
    rwp_tls *t = tls_new(ctx);
    if (t)
        SSL_set_accept_state(t->ssl);
    return t;
}

/* Check the server's certificate against host (a name, or an IPv4/IPv6 address). */
static int expect_host(SSL *ssl, const char *host)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
    SSL_set_tlsext_host_name(ssl, host);
    return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

rwp_tls *rwp_tls_new_client(struct ssl_ctx_st *ctx, const char *host, int verify_host)
{
    rwp_tls *t = tls_new(ctx);
    if (!t)
        return NULL;
    SSL_set_connect_state(t->ssl);
    if (verify_host && host && expect_host(t->ssl, host) != 0) {
        rwp_tls_free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

void rwp_tls_free(rwp_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

int rwp_tls_feed(rwp_tls *t, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > INT32_MAX || BIO_write(t->rbio, p, (int)n) != (int)n) {
        t->failed = 1;
        set_error(t, "TLS: out of memory");
        return RWP_TLS_ERR;
    }
    return 0;
}

/* Map the result of an SSL call that returned rc <= 0: 0 (wants input), EOF or ERR. */
static int ssl_outcome(rwp_tls *t, int rc, const char *what)
{
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(t->err, sizeof t->err, "TLS: the peer closed the session");
        return RWP_TLS_EOF;
    }
    t->failed = 1;
    set_error(t, what);
    return RWP_TLS_ERR;
}

int rwp_tls_handshake(rwp_tls *t)
{
    if (t->failed)
        return RWP_TLS_ERR;
    if (t->established)
        return 1;
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->established = 1;
        return 1;
    }
    return ssl_outcome(t, rc, "TLS handshake failed");
}

long rwp_tls_read(rwp_tls *t, uint8_t *dst, size_t cap)
{
    if (!t->established) {
        int h = rwp_tls_handshake(t);
        if (h <= 0)
            return h;
    }
    if (t->failed)
        return RWP_TLS_ERR;
    ERR_clear_error();
    int rc = SSL_read(t->ssl, dst, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (rc > 0)
        return rc;
    return ssl_outcome(t, rc, "TLS read failed");
}

int rwp_tls_read_all(rwp_tls *t, rwp_inbuf *in)
{
    for (;;) {
        size_t avail = 0;
        uint8_t *dst = rwp_inbuf_reserve(in, TLS_READ_STEP, &avail);
        if (!dst) {
            t->failed = 1;
            snprintf(t->err, sizeof t->err, "TLS: out of memory");
            return RWP_TLS_ERR;
        }
        long n = rwp_tls_read(t, dst, avail);
        if (n <= 0)
            return (int)n;
        rwp_inbuf_commit(in, (size_t)n);
    }
}

int rwp_tls_flush(rwp_tls *t, uv_stream_t *s, rwp_write_done_fn done)
{
    char *p = NULL;
    long n = BIO_get_mem_data(t->wbio, &p);
    if (n <= 0)
        return 0;
    int rc = rwp_write_copy(s, p, (size_t)n, done);
    (void)BIO_reset(t->wbio);
    return rc;
}

int rwp_tls_write(rwp_tls *t, uv_stream_t *s, const void *p, size_t len, rwp_write_done_fn done)
{
    if (t->failed)
        return UV_EPROTO;
    if (!t->established)
        return UV_ENOTCONN;
    const uint8_t *b = p;
    while (len > 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        ERR_clear_error();
        int rc = SSL_write(t->ssl, b, n);
        if (rc <= 0) {
            t->failed = 1;
            set_error(t, "TLS write failed");
            return UV_EPROTO;
        }
        b += rc;
        len -= (size_t)rc;
    }
    return rwp_tls_flush(t, s, done);
}

void rwp_tls_close_notify(rwp_tls *t, uv_stream_t *s)
{
    if (!t || !t->established || t->failed)
        return;
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
    (void)rwp_tls_flush(t, s, NULL);
}

int rwp_tls_established(const rwp_tls *t) { return t && t->established; }

const char *rwp_tls_error(const rwp_tls *t) { return t->err[0] ? t->err : "TLS failure"; }

const char *rwp_tls_version(const rwp_tls *t) { return SSL_get_version(t->ssl); }

const char *rwp_tls_cipher(const rwp_tls *t) { return SSL_get_cipher_name(t->ssl); }

int rwp_client_is_tls(const rwp_client *c) { return rwp_tls_established(c->tls); }
