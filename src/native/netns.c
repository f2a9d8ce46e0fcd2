/*
 * The few system calls Node.js cannot make itself, exposed through Node-API:
 *   setns(fd, nstype)  moves the calling thread into the namespace open at fd.
 *   flock(fd, op)      flock(2), so IPAM stores lock exactly as the reference plugins do;
 *                      returns false instead of throwing when LOCK_NB finds it held.
 *   flockWait(fd, op, ms) a blocking flock that gives up after ms (false): no polling.
 *   flockWaitAsync(fd, op, ms) the same wait on a libuv worker thread: a Promise.
 *   exitNow(code)      _exit(2): the process ends without Node's teardown.
 *   nlOpen, nlRequest, nlRequestAsync, nlClose: netlink sockets (nlsock.c).
 * Used only by src/kernel/ (netns.ts), on the main thread, always paired with a return to
 * the host namespace in a finally block. Packet sockets (ARP/NDP) are in packet.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <node_api.h>
#include "native.h"

#include "nlsock.h"

napi_value errno_error(napi_env env, const char *syscall, int err) {
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
  return error;
}

napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_value error = errno_error(env, syscall, err);
  if (error) napi_throw(env, error);
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

/* SIGALRM interrupts a blocking flock; nothing else in the process uses it. Installed once and
 * left in place (restoring it could race with another thread's wait). */
static void on_alarm(int sig) { (void)sig; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The SIGALRM handler, installed once from the main thread (a JS call) before any wait. */
static int install_alarm(void) {
  static int installed = 0;
  if (installed) return 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: flock must return EINTR */
  if (sigaction(SIGALRM, &sa, NULL) != 0) return -1;
  installed = 1;
  return 0;
}

/* A blocking flock (op: LOCK_EX or LOCK_SH) on the calling thread that gives up after
 * timeoutMs: 1 when taken, 0 at the deadline, -1 on an error (*err, *what). A timer aimed at
 * this thread sends SIGALRM at the deadline and then every 10 ms, so the wait cannot miss it;
 * other signals (EINTR) before the deadline just retry. Runs on the main thread (flockWait)
 * or on a libuv worker thread (flockWaitAsync): the timer targets whichever it is. */
static int flock_wait(int fd, int op, double timeout, int *err, const char **what) {
  sigset_t alrm, old;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  pthread_sigmask(SIG_UNBLOCK, &alrm, &old);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGALRM;
  sev._sigev_un._tid = gettid();
  timer_t timer;
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
    *err = errno, *what = "timer_create";
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -1;
  }
  double deadline = now_ms() + timeout;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(timeout / 1000);
  its.it_value.tv_nsec = (long)((timeout - its.it_value.tv_sec * 1000.0) * 1e6);
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
  its.it_interval.tv_nsec = 10 * 1000 * 1000;
  /* without the timer the flock below could block for ever */
  if (timer_settime(timer, 0, &its, NULL) != 0) {
    *err = errno, *what = "timer_settime";
    timer_delete(timer);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -1;
  }
  int rc, e = 0;
  for (;;) {
    rc = flock(fd, op & ~LOCK_NB);
    if (rc == 0) break;
    e = errno;
    if (e != EINTR || now_ms() >= deadline) break;
  }
  timer_delete(timer);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc == 0) return 1;
  if (e == EINTR) return 0;
  *err = e, *what = "flock";
  return -1;
}

static int flock_wait_args(napi_env env, napi_callback_info info, int32_t *fd, int32_t *op, double *timeout,
                           const char *usage) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], fd) != napi_ok || napi_get_value_int32(env, argv[1], op) != napi_ok ||
      napi_get_value_double(env, argv[2], timeout) != napi_ok || !(*timeout >= 0)) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  if (install_alarm() != 0) {
    throw_errno(env, "sigaction", errno);
    return -1;
  }
  return 0;
}

/* flockWait(fd, op, timeoutMs): flock_wait on the main thread (blocks the event loop). */
static napi_value js_flock_wait(napi_env env, napi_callback_info info) {
  int32_t fd = -1, op = 0;
  double timeout = 0;
  if (flock_wait_args(env, info, &fd, &op, &timeout, "flockWait(fd: number, op: number, timeoutMs: number)") != 0)
    return NULL;
  int err = 0;
  const char *what = "flock";
  int rc = flock_wait(fd, op, timeout, &err, &what);
  if (rc < 0) return throw_errno(env, what, err);
  napi_value result;
  napi_get_boolean(env, rc == 1, &result);
  return result;
}

/* flockWaitAsync(fd, op, timeoutMs) -> Promise<boolean>: the same wait on a libuv worker
 * thread, so the event loop runs meanwhile. The wait holds that worker (one of the pool's 4 by
 * default) until the lock is released or the deadline; callers take turns per lock file first
 * (src/kernel/flock.ts), so one process has at most one such wait per lock file. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd, op;
  double timeout;
  int rc, err;
  const char *what;
} flock_job;

static void flock_execute(napi_env env, void *data) {
  (void)env;
  flock_job *j = data;
  j->rc = flock_wait(j->fd, j->op, j->timeout, &j->err, &j->what);
}

static void flock_complete(napi_env env, napi_status status, void *data) {
  flock_job *j = data;
  napi_value v;
  if (status != napi_ok) {
    napi_reject_deferred(env, j->deferred, errno_error(env, "flockWaitAsync", ECANCELED));
  } else if (j->rc < 0) {
    napi_reject_deferred(env, j->deferred, errno_error(env, j->what, j->err));
  } else {
    napi_get_boolean(env, j->rc == 1, &v);
    napi_resolve_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value js_flock_wait_async(napi_env env, napi_callback_info info) {
  int32_t fd = -1, op = 0;
  double timeout = 0;
  if (flock_wait_args(env, info, &fd, &op, &timeout,
                      "flockWaitAsync(fd: number, op: number, timeoutMs: number)") != 0)
    return NULL;
  flock_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, "flockWaitAsync", ENOMEM);
  j->fd = fd, j->op = op, j->timeout = timeout, j->what = "flock";
  napi_value promise, name;
  napi_create_string_utf8(env, "manifold:flock", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, flock_execute, flock_complete, j, &j->work) != napi_ok) {
    free(j);
    return throw_errno(env, "flockWaitAsync", ENOMEM);
  }
  if (napi_queue_async_work(env, j->work) != napi_ok) {
    napi_delete_async_work(env, j->work);
    free(j);
    return throw_errno(env, "flockWaitAsync", EAGAIN);
  }
  return promise;
}

/* exitNow(code): ends the process at once, without Node's teardown of its environment and
 * heap (~1-2 ms that a finished CNI call has no use for). Only for when everything is written
 * (the skel writes synchronously) and nothing is left to run. */
static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1)
    napi_get_value_int32(env, argv[0], &code);
  _exit(code & 0xff);
  return NULL;
}

void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static napi_value init(napi_env env, napi_value exports) {
  export_fn(env, exports, "setns", js_setns);
  export_fn(env, exports, "flock", js_flock);
  packet_register(env, exports);
  export_fn(env, exports, "flockWait", js_flock_wait);
  export_fn(env, exports, "flockWaitAsync", js_flock_wait_async);
  export_fn(env, exports, "exitNow", js_exit_now);
  nlsock_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
