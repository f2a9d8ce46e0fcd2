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
 * SOCK_DGRAM: the kernel writes the link-layer header, so payloads start at the ARP or IPv6
 * header. Closing a packet socket waits for an RCU grace period (synchronize_net in
 * packet_release, ~10 ms): callers open one per namespace and use it for every interface. packetOpen is called by src/kernel/packet.ts inside the pod's namespace
 * (NetNS.run): the socket, and the ifindex it binds to, belong to that namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <node_api.h>
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

static napi_value js_packet_wait(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool is_array;
  uint32_t count;
  int32_t timeout;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &count) != napi_ok || count > MAX_FDS ||
      napi_get_value_int32(env, argv[1], &timeout) != napi_ok) {
    napi_throw_type_error(env, NULL, "packetWait(fds: number[] (at most 64), timeoutMs: number)");
    return NULL;
  }
  struct pollfd fds[MAX_FDS];
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    int32_t fd;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_int32(env, v, &fd) != napi_ok) {
      napi_throw_type_error(env, NULL, "packetWait: fds must be numbers");
      return NULL;
    }
    fds[i].fd = fd;
    fds[i].events = POLLIN;
    fds[i].revents = 0;
  }
  long long deadline = now_ms() + (timeout > 0 ? timeout : 0);
  int ready;
  for (;;) {
    long long left = deadline - now_ms();
    ready = poll(fds, count, left > 0 ? (int)left : 0);
    if (ready >= 0 || errno != EINTR) break;
  }
  if (ready < 0) return throw_errno(env, "poll", errno);
  /* A closed fd or a socket error is the caller's to know, not "nothing came". */
  for (uint32_t i = 0; ready > 0 && i < count; i++) {
    int err = 0;
    if (fds[i].revents & POLLNVAL) err = EBADF;
    else if (fds[i].revents & POLLERR) {
      socklen_t len = sizeof err;
      /* reading SO_ERROR clears it, as a failed recv would have */
      if (getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0 && (fds[i].revents & POLLIN)) continue; /* error queue only: readable */
      if (err == 0) err = EIO;
    }
    if (err) {
      char what[48];
      snprintf(what, sizeof what, "poll: fd %d", fds[i].fd);
      return throw_errno(env, what, err);
    }
  }
  int32_t index = -1;
  for (uint32_t i = 0; ready > 0 && i < count; i++) {
    if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) {
      index = (int32_t)i;
      break;
    }
  }
  napi_value result;
  napi_create_int32(env, index, &result);
  return result;
}

void packet_register(napi_env env, napi_value exports) {
  export_fn(env, exports, "packetOpen", js_packet_open);
  export_fn(env, exports, "packetSend", js_packet_send);
  export_fn(env, exports, "packetRecv", js_packet_recv);
  export_fn(env, exports, "packetWait", js_packet_wait);
}
