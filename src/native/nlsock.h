/* Netlink sockets of the addon (nlsock.c): registers nlOpen, nlRequest, nlClose on exports. */
#ifndef MANIFOLD_NLSOCK_H
#define MANIFOLD_NLSOCK_H
#include <node_api.h>
void nlsock_register(napi_env env, napi_value exports);
#endif
