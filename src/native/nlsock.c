/*
 * Netlink sockets. nlRequest is synchronous: a blocking request/reply costs two system calls
 * and no event-loop round trip. nlRequestAsync does the same exchange on a libuv worker
 * thread, so that a request the kernel is slow to answer (the RCU grace period inside an
 * RTM_DELLINK's sendmsg) leaves the event loop free for the daemon's other calls.
 *   nlOpen(protocol, nsfd)   a SOCK_CLOEXEC netlink socket; with nsfd >= 0 it is made inside
 *                            that network namespace (setns there and back on this thread:
 *                            a socket stays in the namespace it was made in).
 *   nlRequest(fd, msg, seq)  sends one complete message (header included, nlmsg_seq = seq)
 *                            and reads the replies of that sequence number until the ACK,
 *                            the error or (for a dump) NLMSG_DONE. Returns the reply
 *                            messages, headers included, concatenated in one Buffer (the
 *                            ACK or DONE left out); a kernel error is thrown with its errno
 *                            name as `code` (EEXIST…). Replies of other sequence numbers
 *                            (a late answer to an earlier request) are skipped, and so is
 *                            anything not sent by the kernel (port 0). A kernel that does
 *                            not answer within 30 s is ETIMEDOUT. A dump the kernel flags
 *                            as inconsistent (NLM_F_DUMP_INTR on any of its messages: the
 *                            table changed while it was being read) is read to its end and
 *                            run again, at most DUMP_RETRIES more times, then thrown as
 *                            EINTR naming the dump; what is returned is never flagged.
 *   nlRequestAsync(fd, msg, seq)  the same on a libuv worker thread: a Promise of the same
 *                            Buffer, rejected with the same error. One request at a time per
 *                            socket: the caller chains them (src/kernel/socket.ts).
 *   nlClose(fd)              close(2); a closed fd is EBADF (a double close could close
 *                            someone else's descriptor).
 *   nlDumpRetries()          how many times this process ran a dump again (for tests).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <node_api.h>

#include "native.h"
#include "nlsock.h"

#define DUMP_RETRIES 5

static uint32_t dump_retries;

static int int_args(napi_env env, napi_callback_info info, size_t want, int32_t *out, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return -1;
  for (size_t i = 0; i < want; i++)
    if (out && napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) return -1;
  return 0;
}

static int make_socket(int protocol) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 30, .tv_usec = 0};
  int one = 1;
  /* without the timeout a kernel that never answers would block the call for ever */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  /* both optional (Linux >= 4.12 and 4.3): without them errors are longer, not different */
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one); /* errors without the request echoed */
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static napi_value js_nl_open(napi_env env, napi_callback_info info) {
  int32_t a[2];
  napi_value argv[2];
  if (int_args(env, info, 2, a, argv) != 0) {
    napi_throw_type_error(env, NULL, "nlOpen(protocol: number, nsfd: number)");
    return NULL;
  }
  int fd;
  if (a[1] < 0) {
    fd = make_socket(a[0]);
    if (fd < 0) return throw_errno(env, "socket", errno);
  } else {
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return throw_errno(env, "open /proc/thread-self/ns/net", errno);
    if (setns(a[1], CLONE_NEWNET) != 0) {
      int e = errno;
      close(home);
      return throw_errno(env, "setns", e);
    }
    fd = make_socket(a[0]);
    int e = errno;
    if (setns(home, CLONE_NEWNET) != 0) {
      /* staying in the pod's namespace would send every later request to the wrong place */
      fprintf(stderr, "manifold: fatal: cannot return to the host netns: %s\n", strerror(errno));
      _exit(70);
    }
    close(home);
    if (fd < 0) return throw_errno(env, "socket", e);
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

static napi_value js_nl_close(napi_env env, napi_callback_info info) {
  int32_t fd;
  napi_value argv[1];
  if (int_args(env, info, 1, &fd, argv) != 0) {
    napi_throw_type_error(env, NULL, "nlClose(fd: number)");
    return NULL;
  }
  /* EINTR: on Linux the fd is closed all the same and must not be closed again */
  if (close(fd) != 0 && errno == EBADF) return throw_errno(env, "close", EBADF);
  return NULL;
}

static napi_value js_nl_dump_retries(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_uint32(env, __atomic_load_n(&dump_retries, __ATOMIC_RELAXED), &out);
  return out;
}

/* Appends `len` bytes to a growing buffer; -1 when out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const void *data, size_t n) {
  if (*len + n > *cap) {
    size_t next = *cap ? *cap * 2 : 16384;
    while (next < *len + n) next *= 2;
    char *p = realloc(*buf, next);
    if (!p) return -1;
    *buf = p;
    *cap = next;
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  return 0;
}

/* One request/reply exchange on `fd` (the message's nlmsg_seq already set to `seq`): 0 and the
 * reply messages in *out (malloc'd, *outlen bytes), or an errno (with *what naming the step;
 * what_dump holds the text of an inconsistent dump). Touches nothing of Node: it runs on the
 * main thread (nlRequest) or on a libuv worker thread (nlRequestAsync). */
static int nl_transact(int fd, void *msg, size_t msglen, uint32_t seq, char **outp, size_t *outlenp,
                       const char **whatp, char *what_dump, size_t what_dump_len) {
  struct nlmsghdr req;
  memcpy(&req, msg, sizeof req);
  int dump = (req.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};

  char *out = NULL;
  size_t outlen = 0, outcap = 0;
  size_t rcap = 32768;
  char *rbuf = malloc(rcap);
  int err = 0;
  const char *what = "recv";
  for (int attempt = 0; rbuf && !err; attempt++) {
    ssize_t sent;
    do {
      sent = sendto(fd, msg, msglen, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      err = errno, what = "sendto";
      break;
    }
    outlen = 0;
    int done = 0, interrupted = 0;
    while (!done) {
      ssize_t n;
      do {
        n = recv(fd, rbuf, rcap, MSG_PEEK | MSG_TRUNC);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        /* ENOBUFS: the socket's receive queue overflowed and replies were lost */
        err = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        break;
      }
      if ((size_t)n > rcap) {
        char *p = realloc(rbuf, (size_t)n);
        if (!p) {
          err = ENOMEM;
          break;
        }
        rbuf = p;
        rcap = (size_t)n;
      }
      struct sockaddr_nl from;
      struct iovec iov = {.iov_base = rbuf, .iov_len = rcap};
      struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
      do {
        memset(&from, 0, sizeof from);
        n = recvmsg(fd, &mh, 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        err = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        break;
      }
      if (mh.msg_flags & MSG_TRUNC) { /* cannot happen after the peek; never parse a cut datagram */
        err = EMSGSIZE;
        break;
      }
      /* only the kernel (port 0) answers requests; another process may send to our port */
      if (mh.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0) continue;
      int left = (int)n;
      for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq) continue;
        if (h->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = 1;
        if (h->nlmsg_type == NLMSG_ERROR) {
          struct nlmsgerr *e = NLMSG_DATA(h);
          if (h->nlmsg_len < NLMSG_LENGTH(sizeof(int))) err = EBADMSG;
          else if (e->error != 0) err = -e->error, what = "netlink request";
          done = 1;
          break;
        }
        if (h->nlmsg_type == NLMSG_DONE) {
          if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
            int code;
            memcpy(&code, NLMSG_DATA(h), sizeof code);
            if (code < 0) err = -code, what = "netlink dump";
          }
          done = 1;
          break;
        }
        if (append(&out, &outlen, &outcap, h, h->nlmsg_len) != 0) {
          err = ENOMEM;
          done = 1;
          break;
        }
        /* a reply that is not part of a multipart answer ends a request without ACK */
        if (!dump && !(h->nlmsg_flags & NLM_F_MULTI) && !(req.nlmsg_flags & NLM_F_ACK)) {
          done = 1;
          break;
        }
      }
    }
    if (err || !dump || !interrupted) break;
    /* the whole dump has been read (up to DONE or its ACK): nothing of it is left queued */
    if (attempt >= DUMP_RETRIES) {
      snprintf(what_dump, what_dump_len, "netlink dump (message type %u) still inconsistent after %d attempts",
               (unsigned)req.nlmsg_type, attempt + 1);
      err = EINTR, what = what_dump;
      break;
    }
    __atomic_fetch_add(&dump_retries, 1, __ATOMIC_RELAXED); /* also counted on worker threads */
  }
  if (!rbuf) err = ENOMEM;
  free(rbuf);
  if (err) {
    free(out);
    *whatp = what;
    return err;
  }
  *outp = out;
  *outlenp = outlen;
  return 0;
}

/* The arguments of nlRequest and nlRequestAsync: fd, the message (a Buffer holding at least a
 * header) and the sequence number, written into the message's header. */
static int request_args(napi_env env, napi_callback_info info, int32_t *fd, void **msg, size_t *msglen,
                        uint32_t *seq, const char *usage) {
  size_t argc = 3;
  napi_value argv[3];
  bool isbuf = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], fd) != napi_ok ||
      napi_is_buffer(env, argv[1], &isbuf) != napi_ok || !isbuf ||
      napi_get_buffer_info(env, argv[1], msg, msglen) != napi_ok ||
      napi_get_value_uint32(env, argv[2], seq) != napi_ok || *msglen < sizeof(struct nlmsghdr)) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  /* memcpy: a Buffer from Node's pool need not be 4-byte aligned */
  struct nlmsghdr req;
  memcpy(&req, *msg, sizeof req);
  req.nlmsg_seq = *seq;
  memcpy(*msg, &req, sizeof req);
  return 0;
}

static napi_value reply_buffer(napi_env env, char *out, size_t outlen) {
  napi_value result;
  void *data;
  napi_status st = napi_create_buffer_copy(env, outlen, outlen ? out : "", &data, &result);
  free(out);
  return st == napi_ok ? result : NULL;
}

static napi_value js_nl_request(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  uint32_t seq = 0;
  void *msg = NULL;
  size_t msglen = 0;
  if (request_args(env, info, &fd, &msg, &msglen, &seq, "nlRequest(fd: number, msg: Buffer, seq: number)") != 0)
    return NULL;
  char *out = NULL;
  size_t outlen = 0;
  const char *what = "recv";
  char what_dump[96];
  int err = nl_transact(fd, msg, msglen, seq, &out, &outlen, &what, what_dump, sizeof what_dump);
  if (err) return throw_errno(env, what, err);
  napi_value result = reply_buffer(env, out, outlen);
  return result ? result : throw_errno(env, "napi_create_buffer_copy", ENOMEM);
}

/*
 * nlRequestAsync(fd, msg, seq) -> Promise<Buffer>: nlRequest with the exchange on a libuv
 * worker thread, so that a request the kernel answers slowly does not stall the event loop:
 * an RTM_DELLINK waits for an RCU grace period inside sendmsg (15-25 ms), and so do a link
 * set down or moved to another namespace. The socket was made on the main thread, in its
 * namespace, and stays there: the request acts in that namespace whichever thread sends it.
 * The message is copied; the caller must not use `fd` for anything else (another request, a
 * close) until the promise settles (src/kernel/socket.ts chains the requests of a socket).
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int cpu; /* the main thread's at the call */
  uint32_t seq;
  void *msg;
  size_t msglen;
  char *out;
  size_t outlen;
  int err;
  const char *what;
  char what_dump[96];
} nl_job;

static void nl_execute(napi_env env, void *data) {
  (void)env;
  nl_job *j = data;
  /* On the CPU the main thread was on when it asked, as if it had sent the request itself.
   * Measured (test/bench-netlink.ts, 2 vCPUs, HZ=250): an RTM_DELLINK sent from another CPU
   * right after one that waited for RCU waits one scheduler tick more (20.0 ms against 16.0,
   * medians of 30), and so does what follows a namespace move; pinned for the request, as
   * fast as synchronous (15.9). Two sched_setaffinity calls, a few µs. */
  cpu_set_t was, here;
  int pinned = 0;
  if (j->cpu >= 0 && sched_getaffinity(0, sizeof was, &was) == 0 && CPU_ISSET(j->cpu, &was)) {
    CPU_ZERO(&here);
    CPU_SET(j->cpu, &here);
    pinned = sched_setaffinity(0, sizeof here, &here) == 0;
  }
  j->err = nl_transact(j->fd, j->msg, j->msglen, j->seq, &j->out, &j->outlen, &j->what, j->what_dump,
                       sizeof j->what_dump);
  if (pinned) sched_setaffinity(0, sizeof was, &was);
}

static void nl_complete(napi_env env, napi_status status, void *data) {
  nl_job *j = data;
  if (status != napi_ok) {
    free(j->out);
    napi_reject_deferred(env, j->deferred, errno_error(env, "nlRequestAsync", ECANCELED));
  } else if (j->err) {
    napi_reject_deferred(env, j->deferred, errno_error(env, j->what, j->err));
  } else {
    napi_value result = reply_buffer(env, j->out, j->outlen);
    if (result) napi_resolve_deferred(env, j->deferred, result);
    else napi_reject_deferred(env, j->deferred, errno_error(env, "napi_create_buffer_copy", ENOMEM));
  }
  napi_delete_async_work(env, j->work);
  free(j->msg);
  free(j);
}

static napi_value js_nl_request_async(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  uint32_t seq = 0;
  void *msg = NULL;
  size_t msglen = 0;
  if (request_args(env, info, &fd, &msg, &msglen, &seq,
                   "nlRequestAsync(fd: number, msg: Buffer, seq: number)") != 0)
    return NULL;
  nl_job *j = calloc(1, sizeof *j);
  void *copy = malloc(msglen);
  if (!j || !copy) {
    free(j);
    free(copy);
    return throw_errno(env, "nlRequestAsync", ENOMEM);
  }
  memcpy(copy, msg, msglen);
  j->fd = fd, j->seq = seq, j->msg = copy, j->msglen = msglen, j->what = "recv";
  j->cpu = sched_getcpu();
  napi_value promise, name;
  napi_create_string_utf8(env, "manifold:netlink", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, nl_execute, nl_complete, j, &j->work) != napi_ok) {
    free(copy);
    free(j);
    return throw_errno(env, "nlRequestAsync", ENOMEM);
  }
  if (napi_queue_async_work(env, j->work) != napi_ok) {
    napi_delete_async_work(env, j->work);
    free(copy);
    free(j);
    return throw_errno(env, "nlRequestAsync", EAGAIN);
  }
  return promise;
}

void nlsock_register(napi_env env, napi_value exports) {
  export_fn(env, exports, "nlOpen", js_nl_open);
  export_fn(env, exports, "nlRequest", js_nl_request);
  export_fn(env, exports, "nlRequestAsync", js_nl_request_async);
  export_fn(env, exports, "nlClose", js_nl_close);
  export_fn(env, exports, "nlDumpRetries", js_nl_dump_retries);
}
