/*
 * AF_PACKET sockets for ARP and NDP (address conflict probes, gateway checks, gratuitous
 * announcements), exposed through Node-API:
 *   packetOpen(ifindex, protocol) -> fd   SOCK_DGRAM, non-blocking, close-on-exec, bound to
 *                                         an interface (0: all) and an ethertype (ETH_P_ALL:
 *                                         all); the socket's own frames are not received
 *   packetSend(fd, ifindex, protocol, dst, payload) -> boolean   one frame to link-layer
 *                                         address dst; false when it was dropped before the
 *                                         wire (ENOBUFS: the interface queue is full; EAGAIN:
 *                                         the socket's send buffer is), which a probe treats
 *                                         like a frame lost on the wire
 *   packetRecv(fd) -> {data, from, type, ifindex, protocol, length, truncated} | null   one
 *                                         queued frame; never blocks. A frame longer than
 *                                         MAX_FRAME comes with truncated: true, its real
 *                                         length and no data (a cut frame is never handed out)
 *   packetWait(fds, timeoutMs) -> index | -1          poll(2): the first readable socket; a
 *                                         closed fd (POLLNVAL: EBADF) or a socket error
 *                                         (POLLERR: SO_ERROR, e.g. ENETDOWN when the bound
 *                                         interface went down) is thrown, not taken for "no
 *                                         answer"
 *   packetWaitAsync(fds, timeoutMs) -> Promise<index | -1>   the same answers and errors,
 *                                         waited for on the event loop (uv_poll), not by
 *                                         blocking this thread: a probe's budget stalls
 *                                         nothing else
 * SOCK_DGRAM: the kernel writes the link-layer header, so payloads start at the ARP or IPv6
 * header. Closing a packet socket waits for an RCU grace period (synchronize_net in
 * packet_release, ~10 ms): callers open one per namespace and use it for every interface.
 * packetOpen is called by src/kernel/packet.ts inside the pod's namespace
 * (NetNS.run): the socket, and the ifindex it binds to, belong to that namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <node_api.h>
#include <uv.h>
#include "native.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#define MAX_FDS 64
#define MAX_FRAME 2048

static int get_ints(napi_env env, napi_callback_info info, size_t want, int32_t *out, napi_value *argv,
                    size_t *argc) {
  *argc = 8;
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok || *argc < want) return 0;
  for (size_t i = 0; i < want; i++) {
    napi_valuetype t;
    if (napi_typeof(env, argv[i], &t) != napi_ok || t != napi_number) return 0;
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) return 0;
  }
  return 1;
}

static napi_value js_packet_open(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  size_t argc;
  int32_t a[2];
  if (!get_ints(env, info, 2, a, argv, &argc)) {
    napi_throw_type_error(env, NULL, "packetOpen(ifindex: number, protocol: number)");
    return NULL;
  }
  /* Protocol 0 until bound: nothing of another interface is queued in between. */
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  /* Linux >= 4.20; on older kernels packetRecv drops PACKET_OUTGOING frames itself. */
  (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons((uint16_t)a[1]);
  sll.sll_ifindex = a[0];
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

static napi_value js_packet_send(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  size_t argc;
  int32_t a[3];
  void *dst, *payload;
  size_t dst_len, len;
  if (!get_ints(env, info, 3, a, argv, &argc) || argc < 5 || !get_buffer(env, argv[3], &dst, &dst_len) ||
      !get_buffer(env, argv[4], &payload, &len) || dst_len == 0 || dst_len > 8) {
    napi_throw_type_error(env, NULL,
                          "packetSend(fd: number, ifindex: number, protocol: number, dst: Buffer, payload: Buffer)");
    return NULL;
  }
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons((uint16_t)a[2]);
  to.sll_ifindex = a[1];
  to.sll_halen = (unsigned char)dst_len;
  memcpy(to.sll_addr, dst, dst_len);
  ssize_t n;
  do {
    n = sendto(a[0], payload, len, 0, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  napi_value result;
  if (n < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EWOULDBLOCK)) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  if (n < 0) return throw_errno(env, "sendto", errno);
  napi_get_boolean(env, true, &result);
  return result;
}

static napi_value js_packet_recv(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  size_t argc;
  int32_t fd;
  if (!get_ints(env, info, 1, &fd, argv, &argc)) {
    napi_throw_type_error(env, NULL, "packetRecv(fd: number)");
    return NULL;
  }
  unsigned char buf[MAX_FRAME];
  for (;;) {
    struct sockaddr_ll from;
    memset(&from, 0, sizeof from);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    /* MSG_TRUNC: n is the frame's real length, also when it did not fit */
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        napi_value none;
        napi_get_null(env, &none);
        return none;
      }
      return throw_errno(env, "recvmsg", errno);
    }
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    int truncated = (size_t)n > sizeof buf || (mh.msg_flags & MSG_TRUNC);
    napi_value obj, data, addr, type, ifindex, protocol, length, trunc;
    size_t halen = from.sll_halen <= sizeof from.sll_addr ? from.sll_halen : sizeof from.sll_addr;
    if (napi_create_object(env, &obj) != napi_ok ||
        napi_create_buffer_copy(env, truncated ? 0 : (size_t)n, buf, NULL, &data) != napi_ok)
      return throw_errno(env, "packetRecv", ENOMEM);
    napi_create_double(env, (double)n, &length);
    napi_get_boolean(env, truncated, &trunc);
    napi_set_named_property(env, obj, "length", length);
    napi_set_named_property(env, obj, "truncated", trunc);
    napi_create_buffer_copy(env, halen, from.sll_addr, NULL, &addr);
    napi_create_int32(env, from.sll_pkttype, &type);
    napi_create_int32(env, from.sll_ifindex, &ifindex);
    napi_create_int32(env, ntohs(from.sll_protocol), &protocol);
    napi_set_named_property(env, obj, "data", data);
    napi_set_named_property(env, obj, "from", addr);
    napi_set_named_property(env, obj, "type", type);
    napi_set_named_property(env, obj, "ifindex", ifindex);
    napi_set_named_property(env, obj, "protocol", protocol);
    return obj;
  }
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fds of a wait, as packetWait and packetWaitAsync take them: at most MAX_FDS numbers. */
static int wait_args(napi_env env, napi_callback_info info, struct pollfd *fds, uint32_t *count, int32_t *timeout,
                     const char *usage) {
  size_t argc = 2;
  napi_value argv[2];
  bool is_array;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], count) != napi_ok || *count > MAX_FDS ||
      napi_get_value_int32(env, argv[1], timeout) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  for (uint32_t i = 0; i < *count; i++) {
    napi_value v;
    int32_t fd;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_int32(env, v, &fd) != napi_ok) {
      napi_throw_type_error(env, NULL, "packetWait: fds must be numbers");
      return -1;
    }
    fds[i].fd = fd;
    fds[i].events = POLLIN;
    fds[i].revents = 0;
  }
  return 0;
}

/* poll(2) for at most timeout ms (0: only what is ready now). Returns the index of the first
 * readable socket, -1 when none is, or -2 with *err and *errfd: the poll failed, an fd is
 * closed (POLLNVAL: EBADF) or a socket has an error (POLLERR: its SO_ERROR, e.g. ENETDOWN when
 * the bound interface went down) — the caller's to know, not "nothing came". */
static int poll_ready(struct pollfd *fds, uint32_t count, int timeout, int *err, int *errfd) {
  long long deadline = now_ms() + (timeout > 0 ? timeout : 0);
  int ready;
  for (;;) {
    long long left = deadline - now_ms();
    ready = poll(fds, count, left > 0 ? (int)left : 0);
    if (ready >= 0 || errno != EINTR) break;
  }
  if (ready < 0) {
    *err = errno, *errfd = -1;
    return -2;
  }
  for (uint32_t i = 0; ready > 0 && i < count; i++) {
    int e = 0;
    if (fds[i].revents & POLLNVAL) e = EBADF;
    else if (fds[i].revents & POLLERR) {
      socklen_t len = sizeof e;
      /* reading SO_ERROR clears it, as a failed recv would have */
      if (getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) e = errno;
      if (e == 0 && (fds[i].revents & POLLIN)) continue; /* error queue only: readable */
      if (e == 0) e = EIO;
    }
    if (e) {
      *err = e, *errfd = fds[i].fd;
      return -2;
    }
  }
  for (uint32_t i = 0; ready > 0 && i < count; i++)
    if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) return (int)i;
  return -1;
}

static napi_value poll_error(napi_env env, int err, int errfd) {
  char what[48];
  if (errfd < 0) snprintf(what, sizeof what, "poll");
  else snprintf(what, sizeof what, "poll: fd %d", errfd);
  return errno_error(env, what, err);
}

static napi_value js_packet_wait(napi_env env, napi_callback_info info) {
  struct pollfd fds[MAX_FDS];
  uint32_t count;
  int32_t timeout;
  if (wait_args(env, info, fds, &count, &timeout, "packetWait(fds: number[] (at most 64), timeoutMs: number)") != 0)
    return NULL;
  int err = 0, errfd = -1;
  int index = poll_ready(fds, count, timeout, &err, &errfd);
  if (index == -2) {
    napi_throw(env, poll_error(env, err, errfd));
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, index, &result);
  return result;
}

/*
 * packetWaitAsync(fds, timeoutMs) -> Promise<index | -1>: packetWait without blocking the
 * event loop and without a thread: each socket is watched by a uv_poll handle on the main
 * loop, and a uv_timer ends the wait. Whenever a handle fires, and at the deadline, the
 * sockets are polled once more without waiting (poll_ready), so the answer, and what is an
 * error, are exactly packetWait's; what is ready at the call settles it at once, with no
 * handle made. No worker thread either: a probe's budget would hold one of libuv's 4 for
 * 300 ms, and the netlink requests of every other call would queue behind it. A socket must
 * not be closed or waited on by another call before the promise settles (libuv allows one
 * poll handle per fd; src/kernel/packet.ts keeps to that).
 */
typedef struct pwait pwait;
typedef struct {
  uv_poll_t handle;
  pwait *owner;
} pwait_fd;

struct pwait {
  napi_env env;
  napi_deferred deferred;
  napi_ref resource;
  napi_async_context ctx;
  int settled;
  int open; /* handles not yet closed: the last close frees the wait */
  uint32_t count, watched;
  struct pollfd fds[MAX_FDS];
  uv_timer_t timer;
  pwait_fd polls[MAX_FDS];
};

static void pwait_closed(uv_handle_t *h) {
  pwait *w = h->data;
  if (--w->open == 0) free(w);
}

/* Stops watching: done before the promise settles, since what awaits it may wait on the same
 * fds at once (libuv refuses a second handle on an fd still watched: EEXIST). */
static void pwait_stop(pwait *w) {
  w->settled = 1;
  for (uint32_t i = 0; i < w->watched; i++) uv_poll_stop(&w->polls[i].handle);
  uv_timer_stop(&w->timer);
}

static void pwait_release(pwait *w) {
  napi_async_destroy(w->env, w->ctx);
  napi_delete_reference(w->env, w->resource);
  for (uint32_t i = 0; i < w->watched; i++) uv_close((uv_handle_t *)&w->polls[i].handle, pwait_closed);
  uv_close((uv_handle_t *)&w->timer, pwait_closed);
}

static void settle(napi_env env, napi_deferred d, int index, int err, int errfd) {
  if (index == -2) {
    napi_reject_deferred(env, d, poll_error(env, err, errfd));
  } else {
    napi_value v;
    napi_create_int32(env, index, &v);
    napi_resolve_deferred(env, d, v);
  }
}

/* Settles the promise (index >= -1: resolved; -2: rejected with err) from a libuv callback,
 * inside a callback scope so that what awaits it runs now; then closes its handles. */
static void pwait_settle(pwait *w, int index, int err, int errfd) {
  if (w->settled) return;
  pwait_stop(w);
  napi_env env = w->env;
  napi_handle_scope hs;
  napi_open_handle_scope(env, &hs);
  napi_value resource;
  napi_get_reference_value(env, w->resource, &resource);
  napi_callback_scope cs;
  int scoped = napi_open_callback_scope(env, resource, w->ctx, &cs) == napi_ok;
  settle(env, w->deferred, index, err, errfd);
  if (scoped) napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
  pwait_release(w);
}

static void pwait_check(pwait *w, int status) {
  if (w->settled) return;
  int err = 0, errfd = -1;
  int index = poll_ready(w->fds, w->count, 0, &err, &errfd);
  if (index == -1 && status < 0) index = -2, err = -status; /* libuv saw an error poll(2) no longer shows */
  if (index != -1) pwait_settle(w, index, err, errfd);
}

static void pwait_on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  pwait_check(((pwait_fd *)h)->owner, status);
}

static void pwait_on_timer(uv_timer_t *t) {
  pwait *w = t->data;
  pwait_check(w, 0);
  if (!w->settled) pwait_settle(w, -1, 0, -1);
}

static napi_value js_packet_wait_async(napi_env env, napi_callback_info info) {
  pwait *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "packetWaitAsync", ENOMEM);
  int32_t timeout;
  if (wait_args(env, info, w->fds, &w->count, &timeout,
                "packetWaitAsync(fds: number[] (at most 64), timeoutMs: number)") != 0) {
    free(w);
    return NULL;
  }
  napi_value promise;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok) {
    free(w);
    return throw_errno(env, "packetWaitAsync", ENOMEM);
  }
  int err = 0, errfd = -1;
  int index = poll_ready(w->fds, w->count, 0, &err, &errfd);
  uv_loop_t *loop = NULL;
  if (index == -1 && timeout > 0 && w->count > 0 && napi_get_uv_event_loop(env, &loop) != napi_ok)
    index = -2, err = EINVAL, errfd = -1;
  if (index != -1 || timeout <= 0 || w->count == 0) {
    settle(env, w->deferred, index, err, errfd); /* in a JS call: no callback scope needed */
    free(w);
    return promise;
  }
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "manifold:packetWait", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, resource, 1, &w->resource);
  napi_async_init(env, resource, name, &w->ctx);
  w->env = env;
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  w->open = 1;
  for (uint32_t i = 0; i < w->count; i++) {
    int dup = 0;
    for (uint32_t k = 0; k < i; k++) dup |= w->fds[k].fd == w->fds[i].fd;
    if (dup) continue; /* one handle per fd: its first index is the answer */
    pwait_fd *p = &w->polls[w->watched];
    int r = uv_poll_init_socket(loop, &p->handle, w->fds[i].fd);
    if (r == 0) {
      p->owner = w;
      p->handle.data = w;
      w->watched++, w->open++;
      r = uv_poll_start(&p->handle, UV_READABLE, pwait_on_poll);
    }
    if (r != 0) {
      pwait_stop(w);
      settle(env, w->deferred, -2, -r, w->fds[i].fd);
      pwait_release(w);
      return promise;
    }
  }
  uv_timer_start(&w->timer, pwait_on_timer, (uint64_t)timeout, 0);
  return promise;
}

void packet_register(napi_env env, napi_value exports) {
  export_fn(env, exports, "packetOpen", js_packet_open);
  export_fn(env, exports, "packetSend", js_packet_send);
  export_fn(env, exports, "packetRecv", js_packet_recv);
  export_fn(env, exports, "packetWait", js_packet_wait);
  export_fn(env, exports, "packetWaitAsync", js_packet_wait_async);
}
