/* TCP listening sockets from "host:port" text, shared by the HTTP and
 * Faktory listeners. */
#ifndef SYNQ_NET_LISTEN_H
#define SYNQ_NET_LISTEN_H

#include <uv.h>

#include <stddef.h>

/* Initialises tcp on loop, binds it to addr ("127.0.0.1:7700", ":7700" for
 * every IPv4 address, "[::1]:7700"; port 0 picks a free one) and listens
 * with on_connection. Writes the bound address ("127.0.0.1:41233") into
 * bound (size boundlen). Returns 0, or SYNQ_EINVAL for a malformed address
 * or a libuv error; on error tcp is initialised and must be uv_close()d. */
int synq_listen(uv_loop_t *loop, uv_tcp_t *tcp, const char *addr, uv_connection_cb on_connection,
                char *bound, size_t boundlen);

#endif
