/*
 * The few system calls Node.js cannot make itself, exposed through Node-API:
 *   setns(fd, nstype)  moves the calling thread into the namespace open at fd.
 *   flock(fd, op)      flock(2), so IPAM stores lock exactly as the reference plugins do;
 *                      returns false instead of throwing when LOCK_NB finds it held.
 *   nlOpen, nlRequest, nlClose: synchronous netlink sockets (nlsock.c).
 * Used only by src/kernel/ (netns.ts), on the main thread, always paired with a return to
 * the host namespace in a finally block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <node_api.h>

#include "nlsock.h"

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char code[32];
  char msg[160];
  const char *name = strerrorname_np(err); /* "EEXIST"; glibc >= 2.32 */
  if (name) snprintf(code, sizeof code, "%s", name);
  else snprintf(code, sizeof code, "E%d", err);
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value ecode, emsg, error, eno;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &ecode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &emsg);
  napi_create_error(env, ecode, emsg, &error);
  napi_create_int32(env, err, &eno);
  napi_set_named_property(env, error, "errno", eno);
  napi_throw(env, error);
  return NULL;
}

static napi_value js_setns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1, nstype = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &nstype) != napi_ok) {
    napi_throw_type_error(env, NULL, "setns(fd: number, nstype: number)");
    return NULL;
  }
  if (setns(fd, nstype) != 0) return throw_errno(env, "setns", errno);
  return NULL;
}

static napi_value js_flock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1, op = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &op) != napi_ok) {
    napi_throw_type_error(env, NULL, "flock(fd: number, op: number)");
    return NULL;
  }
  int rc;
  do {
    rc = flock(fd, op);
  } while (rc != 0 && errno == EINTR);
  napi_value result;
  if (rc != 0) {
    if (errno == EWOULDBLOCK && (op & LOCK_NB)) {
      napi_get_boolean(env, false, &result);
      return result;
    }
    return throw_errno(env, "flock", errno);
  }
  napi_get_boolean(env, true, &result);
  return result;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static napi_value init(napi_env env, napi_value exports) {
  export_fn(env, exports, "setns", js_setns);
  export_fn(env, exports, "flock", js_flock);
  nlsock_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
