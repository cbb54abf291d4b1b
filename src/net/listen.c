/* TCP listening sockets (see listen.h). */
#include "net/listen.h"

#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *addr, struct sockaddr_storage *sa)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) return SYNQ_EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) return SYNQ_EINVAL;
    int rc = uv_ip4_addr(host[0] ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)sa);
    if (rc < 0) {
        char h6[64];
        snprintf(h6, sizeof h6, "%s", host);
        if (h6[0] == '[') { /* [::1]:7700 */
            memmove(h6, h6 + 1, strlen(h6));
            char *rb = strchr(h6, ']');
            if (rb) *rb = '\0';
        }
        rc = uv_ip6_addr(h6, (int)port, (struct sockaddr_in6 *)sa);
    }
    return rc;
}

int synq_listen(uv_loop_t *loop, uv_tcp_t *tcp, const char *addr, uv_connection_cb on_connection,
                char *bound, size_t boundlen)
{
    uv_tcp_init(loop, tcp);
    struct sockaddr_storage sa;
    int rc = parse(addr, &sa);
    if (rc == 0) rc = uv_tcp_bind(tcp, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)tcp, 1024, on_connection);
    if (rc < 0) return rc;
    struct sockaddr_storage b;
    int blen = sizeof b;
    uv_tcp_getsockname(tcp, (struct sockaddr *)&b, &blen);
    char ip[48] = "";
    if (b.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&b, ip, sizeof ip);
        snprintf(bound, boundlen, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&b)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&b, ip, sizeof ip);
        snprintf(bound, boundlen, "%s:%d", ip, ntohs(((struct sockaddr_in *)&b)->sin_port));
    }
    return 0;
}
