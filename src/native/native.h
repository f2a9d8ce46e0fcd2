/* What the C files of the addon share: errno → JS error, and registering a function. */
#ifndef MANIFOLD_NATIVE_H
#define MANIFOLD_NATIVE_H
#include <node_api.h>

/* Throws an Error whose code is the errno name ("EEXIST") and returns NULL. */
napi_value throw_errno(napi_env env, const char *syscall, int err);
/* The same Error, made but not thrown: what an asynchronous call rejects its promise with. */
napi_value errno_error(napi_env env, const char *syscall, int err);
void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb);
/* packet.c: packetOpen, packetSend, packetRecv, packetWait, packetWaitAsync. */
void packet_register(napi_env env, napi_value exports);

#endif
