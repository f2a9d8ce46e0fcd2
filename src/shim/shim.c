/*
 * manifold's daemon-mode shim: what the runtime executes as `manifold` when
 * `manifold install --mode daemon` installed it. It forwards one CNI call to the node daemon
 * (`manifold daemon`) over its unix socket and prints the daemon's answer unchanged, or runs
 * the one-shot executable itself when the daemon cannot take the call. The protocol is
 * docs/kubernetes.md's "Daemon mode" (HTTP/1.1, one request per connection):
 *
 *   POST /cni  {"name": argv[0]'s basename, "env": {CNI_*, MANIFOLD_*}, "stdin": base64}
 *   → {"status": <exit status>, "stdout": "<what one-shot prints>"}
 *
 * Rules (never worse than one-shot, never hangs):
 *   - connect fails (no socket, refused, denied; 1 s deadline) → exec the one-shot with the
 *     same argv[0], env and stdin (re-fed from a memfd), after one line in
 *     <socket dir>/fallbacks.log: "<unix time> <verb> <reason>";
 *   - the connection breaks, the answer is not a complete response, or the deadline passes
 *     (230 s; 90 ms for STATUS and VERSION, connect included): ADD prints CNI error 11 (the
 *     runtime retries), every other verb falls back to one-shot (DEL is idempotent, and a DEL
 *     never reports success without having done the work);
 *   - HTTP 503 (draining, queue full): ADD prints the daemon's code 11, others fall back.
 * Its own failures are CNI error JSON on stdout and exit status 1, never a crash.
 *
 * Configuration is not read from any file: `manifold install --mode daemon` patches the
 * installed copy's `config` region below (src/cli/install/shim.ts), which starts with the
 * marker and holds "socket=<path>\noneshot=<path>\n", NUL-padded. An unpatched copy answers
 * code 999. Static (gcc -static -Os), libc only: nothing to load; its own work (stdin,
 * request, socket, answer) costs ~0.25 ms on top of the exec of a static program.
 *
 * A second role, by the name it is invoked as: `manifold-hostexec ROOT FILE` is how a daemon
 * in a container (`manifold daemon --host-root ROOT`) executes a plugin against the node's own
 * filesystem, as one-shot on the node would: it enters ROOT (chroot, then chdir "/") and
 * executes FILE (a path inside ROOT) with the environment and stdin it was given. Node cannot
 * chroot a child; a static program can, in well under a millisecond.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The patched region: size and marker are shared with src/cli/install/shim.ts. The marker is
 * spelled only here, as the initializer, so it occurs once in the binary. External linkage
 * and reads through a volatile pointer keep the compiler from folding it to its initializer. */
#define CONFIG_SIZE 4096
#define MARKER_LEN 24 /* strlen("@@MANIFOLD-SHIM-CONFIG@@") */
char manifold_shim_config[CONFIG_SIZE] __attribute__((used)) = "@@MANIFOLD-SHIM-CONFIG@@";

#define DEADLINE_MS 230000  /* ADD, DEL, CHECK, GC: kubelet gives the runtime 4 min */
#define QUICK_DEADLINE_MS 90 /* STATUS (containerd polls it every 5 s) and VERSION */
#define CONNECT_MS 1000

/* ---------------------------------------------------------------- buffers, errors, output */

typedef struct {
  char *p;
  size_t n, cap;
} buf;

static const char *g_version = "1.1.0"; /* the config's cniVersion once stdin is read */
static char g_version_buf[32];

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && errno == EAGAIN) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      poll(&pfd, 1, 1000);
    } else {
      return;
    }
  }
}

static void die_oom(void);

static void bput(buf *b, const void *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die_oom();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void bstr(buf *b, const char *s) { bput(b, s, strlen(s)); }

static void bnum(buf *b, long v) {
  char tmp[24];
  int i = sizeof tmp;
  int neg = v < 0;
  unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
  do tmp[--i] = (char)('0' + u % 10); while ((u /= 10) > 0);
  if (neg) tmp[--i] = '-';
  bput(b, tmp + i, sizeof tmp - (size_t)i);
}

/* A JSON string literal of `s` (bytes ≥ 0x80 pass through: UTF-8 stays UTF-8). */
static void bjson(buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  bput(b, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    bput(b, s + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': bput(b, "\\\"", 2); break;
      case '\\': bput(b, "\\\\", 2); break;
      case '\n': bput(b, "\\n", 2); break;
      case '\r': bput(b, "\\r", 2); break;
      case '\t': bput(b, "\\t", 2); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        bput(b, u, 6);
      }
    }
  }
  bput(b, s + start, n - start);
  bput(b, "\"", 1);
}

/* A CNI error as the skel prints it (4-space indent, trailing newline); exits 1. */
static void __attribute__((noreturn)) cni_error(int code, const char *msg) {
  static buf b; /* static: usable after an allocation failure left nothing else */
  b.n = 0;
  bstr(&b, "{\n    \"cniVersion\": ");
  bjson(&b, g_version, strlen(g_version));
  bstr(&b, ",\n    \"code\": ");
  bnum(&b, code);
  bstr(&b, ",\n    \"msg\": ");
  bjson(&b, msg, strlen(msg));
  bstr(&b, "\n}\n");
  write_all(1, b.p, b.n);
  _exit(1);
}

static void die_oom(void) {
  static const char oom[] = "{\n    \"cniVersion\": \"1.1.0\",\n    \"code\": 999,\n    \"msg\": \"manifold shim: out of memory\"\n}\n";
  write_all(1, oom, sizeof oom - 1);
  _exit(1);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline) {
  int64_t left = deadline - now_ms();
  return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* ------------------------------------------------------------------------ minimal JSON */

static const char *ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static int hex4(const char *p, const char *e, unsigned *out) {
  if (e - p < 4) return 0;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static void utf8(buf *b, unsigned cp) {
  char u[4];
  if (cp < 0x80) {
    u[0] = (char)cp;
    bput(b, u, 1);
  } else if (cp < 0x800) {
    u[0] = (char)(0xc0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3f));
    bput(b, u, 2);
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | cp >> 12);
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f));
    bput(b, u, 3);
  } else {
    u[0] = (char)(0xf0 | cp >> 18);
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    bput(b, u, 4);
  }
}

/* A string at p (its opening quote), decoded into `out` (NULL: skipped); the position after
 * its closing quote, or NULL. A lone surrogate becomes U+FFFD, as Node writes one. */
static const char *json_string(const char *p, const char *e, buf *out) {
  if (p >= e || *p != '"') return NULL;
  p++;
  while (p < e) {
    const char *run = p;
    while (p < e && *p != '"' && *p != '\\') p++;
    if (out) bput(out, run, (size_t)(p - run));
    if (p >= e) return NULL;
    if (*p == '"') return p + 1;
    if (++p >= e) return NULL;
    char c = *p++, lit;
    switch (c) {
      case '"': lit = '"'; break;
      case '\\': lit = '\\'; break;
      case '/': lit = '/'; break;
      case 'b': lit = '\b'; break;
      case 'f': lit = '\f'; break;
      case 'n': lit = '\n'; break;
      case 'r': lit = '\r'; break;
      case 't': lit = '\t'; break;
      case 'u': {
        unsigned cp, lo;
        if (!hex4(p, e, &cp)) return NULL;
        p += 4;
        if (cp >= 0xd800 && cp < 0xdc00) {
          if (e - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, e, &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          } else {
            cp = 0xfffd;
          }
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          cp = 0xfffd;
        }
        if (out) utf8(out, cp);
        continue;
      }
      default: return NULL;
    }
    if (out) bput(out, &lit, 1);
  }
  return NULL;
}

/* The position after the value at p, or NULL; an integer value is stored in *num. */
static const char *json_value(const char *p, const char *e, int depth, long *num, int *is_int) {
  p = ws(p, e);
  if (p >= e || depth > 64) return NULL;
  if (is_int) *is_int = 0;
  if (*p == '"') return json_string(p, e, NULL);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    p = ws(p + 1, e);
    if (p < e && *p == close) return p + 1;
    for (;;) {
      if (close == '}') {
        p = json_string(ws(p, e), e, NULL);
        if (!p) return NULL;
        p = ws(p, e);
        if (p >= e || *p != ':') return NULL;
        p++;
      }
      p = json_value(p, e, depth + 1, NULL, NULL);
      if (!p) return NULL;
      p = ws(p, e);
      if (p < e && *p == ',') {
        p++;
        continue;
      }
      return p < e && *p == close ? p + 1 : NULL;
    }
  }
  const char *s = p;
  while (p < e && (strchr("+-.eE", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'))) p++;
  if (p == s) return NULL;
  if (num && is_int) {
    const char *q = s;
    int neg = q < p && *q == '-';
    if (neg) q++;
    long v = 0;
    int digits = 0;
    while (q < p && *q >= '0' && *q <= '9' && v < 100000) v = v * 10 + (*q++ - '0'), digits++;
    if (q == p && digits > 0) {
      *num = neg ? -v : v;
      *is_int = 1;
    }
  }
  return p;
}

/* Walks a top-level object, calling `field` for each key (decoded) with the position of its
 * value; `field` returns the position after the value, or NULL to fail. 1 when it parsed. */
typedef const char *(*field_fn)(const char *key, const char *p, const char *e, void *ctx);

static int json_object(const char *p, const char *e, field_fn field, void *ctx) {
  buf key = {0};
  p = ws(p, e);
  if (p >= e || *p != '{') return 0;
  p = ws(p + 1, e);
  if (p < e && *p == '}') return 1;
  for (;;) {
    key.n = 0;
    bput(&key, "", 0);
    p = json_string(ws(p, e), e, &key);
    if (!p) break;
    p = ws(p, e);
    if (p >= e || *p != ':') break;
    p = field(key.p, ws(p + 1, e), e, ctx);
    if (!p) break;
    p = ws(p, e);
    if (p < e && *p == ',') {
      p++;
      continue;
    }
    free(key.p);
    return p < e && *p == '}' && ws(p + 1, e) == e;
  }
  free(key.p);
  return 0;
}

/* The config's cniVersion, for the shim's own errors (as the skel answers in it). */
static const char *version_field(const char *key, const char *p, const char *e, void *ctx) {
  (void)ctx;
  if (strcmp(key, "cniVersion") != 0 || p >= e || *p != '"') return json_value(p, e, 0, NULL, NULL);
  buf v = {0};
  const char *after = json_string(p, e, &v);
  if (after && v.n > 0 && v.n < sizeof g_version_buf && strspn(v.p, "0123456789.") == v.n) {
    memcpy(g_version_buf, v.p, v.n + 1);
    g_version = g_version_buf;
  }
  free(v.p);
  return after;
}

struct answer {
  long status;
  int has_status, has_stdout;
  buf out;
};

static const char *answer_field(const char *key, const char *p, const char *e, void *ctx) {
  struct answer *a = ctx;
  if (strcmp(key, "status") == 0) {
    int is_int;
    p = json_value(p, e, 0, &a->status, &is_int);
    a->has_status = p && is_int && a->status >= 0 && a->status <= 255;
    return p;
  }
  if (strcmp(key, "stdout") == 0) {
    a->out.n = 0;
    bput(&a->out, "", 0);
    p = json_string(p, e, &a->out);
    a->has_stdout = p != NULL;
    return p;
  }
  return json_value(p, e, 0, NULL, NULL);
}

/* ------------------------------------------------------------------------------ fallback */

struct call {
  char **argv;
  const char *verb;
  const char *socket;
  const char *oneshot;
  buf in; /* stdin as read */
};

/* One line in <socket dir>/fallbacks.log (the daemon counts them); failures are ignored. */
static void record_fallback(const struct call *c, const char *reason) {
  const char *slash = strrchr(c->socket, '/');
  buf path = {0}, line = {0};
  if (slash) bput(&path, c->socket, (size_t)(slash - c->socket) + 1);
  bstr(&path, "fallbacks.log");
  bnum(&line, (long)time(NULL));
  bput(&line, " ", 1);
  size_t at = line.n;
  bstr(&line, *c->verb ? c->verb : "-");
  for (size_t i = at; i < line.n; i++) {
    char ch = line.p[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'))) line.p[i] = '?';
  }
  bput(&line, " ", 1);
  bstr(&line, reason);
  bput(&line, "\n", 1);
  int fd = open(path.p, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd >= 0) {
    write_all(fd, line.p, line.n); /* one write: O_APPEND keeps concurrent lines whole */
    close(fd);
  }
  free(path.p);
  free(line.p);
}

/* Executes the one-shot in this process with the same argv (argv[0] too: it picks the plugin
 * by that name), environment and stdin. */
static void __attribute__((noreturn)) run_oneshot(struct call *c, const char *reason, int refeed) {
  if (reason) record_fallback(c, reason);
  if (refeed) {
    int fd = memfd_create("manifold-stdin", 0);
    if (fd >= 0) {
      write_all(fd, c->in.p ? c->in.p : "", c->in.n);
      if (lseek(fd, 0, SEEK_SET) != 0 || (fd != 0 && dup2(fd, 0) != 0)) {
        cni_error(999, "manifold shim: cannot re-feed stdin to the one-shot executable");
      }
      if (fd != 0) close(fd);
    } else {
      /* no memfd (old kernel, seccomp): a pipe fed by a child */
      int p[2];
      if (pipe(p) != 0) cni_error(999, "manifold shim: cannot re-feed stdin to the one-shot executable");
      pid_t pid = fork();
      if (pid < 0) cni_error(999, "manifold shim: cannot re-feed stdin to the one-shot executable");
      if (pid == 0) {
        close(p[0]);
        write_all(p[1], c->in.p ? c->in.p : "", c->in.n);
        _exit(0);
      }
      close(p[1]);
      if (dup2(p[0], 0) != 0) cni_error(999, "manifold shim: cannot re-feed stdin to the one-shot executable");
      close(p[0]);
    }
  }
  execve(c->oneshot, c->argv, environ);
  int err = errno;
  buf m = {0};
  bstr(&m, "manifold shim: cannot execute the one-shot executable ");
  bstr(&m, c->oneshot);
  if (reason) {
    bstr(&m, " (the daemon could not take the call: ");
    bstr(&m, reason);
    bstr(&m, ")");
  }
  bstr(&m, ": ");
  bstr(&m, strerror(err));
  cni_error(999, m.p);
}

/* ---------------------------------------------------------------------------- the call */

static void base64(buf *b, const unsigned char *s, size_t n) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t need = (n + 2) / 3 * 4;
  bput(b, "", 0);
  if (b->n + need + 1 > b->cap) {
    char *p = realloc(b->p, b->n + need + 1);
    if (!p) die_oom();
    b->p = p;
    b->cap = b->n + need + 1;
  }
  char *o = b->p + b->n;
  size_t i = 0;
  for (; i + 2 < n; i += 3, o += 4) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    o[0] = t[v >> 18], o[1] = t[(v >> 12) & 63], o[2] = t[(v >> 6) & 63], o[3] = t[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
    o[0] = t[v >> 18], o[1] = t[(v >> 12) & 63];
    o[2] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    o[3] = '=';
  }
  b->n += need;
  b->p[b->n] = 0;
}

static void read_stdin(buf *in) {
  bput(in, "", 0);
  for (;;) {
    if (in->cap - in->n < 65536) {
      size_t cap = in->cap * 2 < in->n + 65536 ? in->n + 65536 : in->cap * 2;
      char *p = realloc(in->p, cap);
      if (!p) die_oom();
      in->p = p;
      in->cap = cap;
    }
    ssize_t r = read(0, in->p + in->n, in->cap - in->n - 1);
    if (r > 0) in->n += (size_t)r;
    else if (r < 0 && errno == EINTR) continue;
    else if (r < 0 && errno == EAGAIN) {
      struct pollfd pfd = {0, POLLIN, 0};
      poll(&pfd, 1, -1);
    } else break; /* EOF, or no stdin at all (EBADF): the one-shot reads the same */
  }
  in->p[in->n] = 0;
}

static const char *basename_of(const char *s) {
  const char *slash = strrchr(s, '/');
  return slash ? slash + 1 : s;
}

static void build_request(const struct call *c, buf *req) {
  buf body = {0};
  bstr(&body, "{\"name\":");
  bjson(&body, basename_of(c->argv[0]), strlen(basename_of(c->argv[0])));
  bstr(&body, ",\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "CNI_", 4) != 0 && strncmp(*e, "MANIFOLD_", 9) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    if (!first) bput(&body, ",", 1);
    first = 0;
    bjson(&body, *e, (size_t)(eq - *e));
    bput(&body, ":", 1);
    bjson(&body, eq + 1, strlen(eq + 1));
  }
  bstr(&body, "},\"stdin\":\"");
  base64(&body, (const unsigned char *)c->in.p, c->in.n);
  bstr(&body, "\"}");
  bstr(req, "POST /cni HTTP/1.1\r\nHost: manifold\r\nContent-Type: application/json\r\nContent-Length: ");
  bnum(req, (long)body.n);
  bstr(req, "\r\nConnection: close\r\n\r\n");
  bput(req, body.p, body.n);
  free(body.p);
}

/* A connected socket, or -1 with *reason set (every connect failure falls back). */
static int connect_daemon(const char *path, int64_t deadline, const char **reason) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    *reason = "socket-path-too-long";
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *reason = "socket-failed";
    return -1;
  }
  for (;;) {
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN && remaining(deadline) > 0) { /* the daemon's backlog is full */
      poll(NULL, 0, 1);
      continue;
    }
    if (err == EINPROGRESS) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (poll(&pfd, 1, remaining(deadline)) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
          soerr == 0)
        return fd;
      err = soerr ? soerr : ETIMEDOUT;
    }
    close(fd);
    *reason = err == ENOENT ? "no-socket"
              : err == ECONNREFUSED ? "refused"
              : err == EACCES || err == EPERM ? "denied"
              : err == EAGAIN || err == ETIMEDOUT ? "connect-timeout"
              : "connect-failed";
    return -1;
  }
}

/* The HTTP response in `r`: its code once complete (body and length set), 0 while incomplete
 * (at EOF too: cut short), -1 when it is not one. Without Content-Length or chunking, it is
 * complete at EOF only. */
static int http_response(const buf *r, int eof, const char **body, size_t *body_len, buf *dechunked) {
  if (r->n < 12) return 0;
  if (memcmp(r->p, "HTTP/1.", 7) != 0) return -1;
  const char *end = memmem(r->p, r->n, "\r\n\r\n", 4);
  if (!end) return 0;
  int code = 0;
  for (int i = 9; i < 12; i++) {
    if (r->p[i] < '0' || r->p[i] > '9') return -1;
    code = code * 10 + (r->p[i] - '0');
  }
  long clen = -1;
  int chunked = 0;
  const char *h = memchr(r->p, '\n', (size_t)(end + 2 - r->p));
  for (h = h ? h + 1 : end + 2; h < end + 2;) {
    const char *eol = memchr(h, '\n', (size_t)(end + 2 - h));
    if (!eol) break;
    size_t len = (size_t)(eol - h);
    if (len > 15 && strncasecmp(h, "content-length:", 15) == 0) clen = strtol(h + 15, NULL, 10);
    if (len > 18 && strncasecmp(h, "transfer-encoding:", 18) == 0 && memmem(h, len, "chunked", 7)) chunked = 1;
    h = eol + 1;
  }
  const char *b = end + 4, *e = r->p + r->n;
  if (chunked) {
    dechunked->n = 0;
    bput(dechunked, "", 0);
    for (;;) {
      const char *eol = memmem(b, (size_t)(e - b), "\r\n", 2);
      if (!eol) return 0;
      char *after;
      unsigned long len = strtoul(b, &after, 16);
      if (after == b) return -1;
      b = eol + 2;
      if (len == 0) break; /* the last chunk (trailers are not used) */
      if (len > (size_t)(e - b) || (size_t)(e - b) - len < 2) return 0;
      bput(dechunked, b, len);
      b += len + 2;
    }
    *body = dechunked->p;
    *body_len = dechunked->n;
    return code;
  }
  if (clen >= 0) {
    if (e - b < clen) return 0;
    *body = b;
    *body_len = (size_t)clen;
    return code;
  }
  if (!eof) return 0;
  *body = b;
  *body_len = (size_t)(e - b);
  return code;
}

#define HOSTEXEC_NAME "manifold-hostexec"

/* The launcher role (see the top): never returns. Its own failures are CNI errors (999) on
 * stdout, read by the daemon exactly as a plugin's. */
static void __attribute__((noreturn)) host_exec(int argc, char **argv) {
  static char msg[512];
  if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/')
    cni_error(999, "usage: " HOSTEXEC_NAME " ROOT FILE (absolute paths; FILE inside ROOT)");
  if (chroot(argv[1]) != 0 || chdir("/") != 0) {
    snprintf(msg, sizeof msg, "cannot enter the host root %s: %s", argv[1], strerror(errno));
    cni_error(999, msg);
  }
  char *plugin_argv[] = {argv[2], NULL};
  execve(argv[2], plugin_argv, environ);
  snprintf(msg, sizeof msg, "cannot execute %s in the host root %s: %s", argv[2], argv[1], strerror(errno));
  cni_error(999, msg);
}

int main(int argc, char **argv) {
  if (argc >= 1 && argv[0] && strcmp(basename_of(argv[0]), HOSTEXEC_NAME) == 0) host_exec(argc, argv);
  static struct call c;
  c.argv = argv;
  if (argc < 1 || !argv[0]) {
    static char *fake[] = {"manifold", NULL};
    c.argv = fake;
  }
  c.verb = getenv("CNI_COMMAND");

  /* the configuration install patched in */
  static char cfg[CONFIG_SIZE + 1];
  volatile const char *region = manifold_shim_config;
  for (size_t i = 0; i < CONFIG_SIZE; i++) cfg[i] = region[i];
  for (char *line = cfg + MARKER_LEN; *line;) {
    char *nl = strchr(line, '\n');
    if (!nl) break;
    *nl = 0;
    if (strncmp(line, "socket=", 7) == 0) c.socket = line + 7;
    if (strncmp(line, "oneshot=", 8) == 0) c.oneshot = line + 8;
    line = nl + 1;
  }

  /* a person's command (arguments, or no CNI_COMMAND): the one-shot, as it is */
  int cni = argc <= 1 && c.verb;
  if (cni) {
    read_stdin(&c.in);
    json_object(c.in.p, c.in.p + c.in.n, version_field, NULL);
  }
  if (!c.socket || !*c.socket || !c.oneshot || !*c.oneshot)
    cni_error(999, "shim not configured: run manifold install --mode daemon");
  if (!cni) run_oneshot(&c, NULL, 0);

  int add = strcmp(c.verb, "ADD") == 0;
  int quick = strcmp(c.verb, "STATUS") == 0 || strcmp(c.verb, "VERSION") == 0;
  int64_t start = now_ms();
  int64_t deadline = start + (quick ? QUICK_DEADLINE_MS : DEADLINE_MS);
  int64_t connect_by = start + CONNECT_MS < deadline ? start + CONNECT_MS : deadline;

  const char *reason = NULL;
  int fd = connect_daemon(c.socket, connect_by, &reason);
  if (fd < 0) run_oneshot(&c, reason, 1);

  buf req = {0};
  build_request(&c, &req);
  size_t sent = 0;
  int broken = 0;
  while (sent < req.n && !broken) {
    ssize_t w = send(fd, req.p + sent, req.n - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && errno == EAGAIN) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      if (poll(&pfd, 1, remaining(deadline)) == 0 && remaining(deadline) == 0) reason = "deadline";
      if (reason) break;
    } else {
      broken = 1; /* the daemon may have answered already (413): read what it sent */
    }
  }
  free(req.p);

  buf resp = {0}, dechunked = {0};
  const char *body = NULL;
  size_t body_len = 0;
  int code = 0, eof = 0;
  bput(&resp, "", 0);
  while (!reason) {
    code = http_response(&resp, eof, &body, &body_len, &dechunked);
    if (code != 0 || eof) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    int pr = poll(&pfd, 1, remaining(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      if (remaining(deadline) == 0) reason = "deadline";
      continue;
    }
    char chunk[65536];
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r > 0) bput(&resp, chunk, (size_t)r);
    else if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    else eof = 1; /* EOF, or ECONNRESET after what was queued */
  }
  close(fd);

  struct answer a = {0};
  if (!reason) {
    if (code == 0) reason = resp.n == 0 ? "daemon-gone" : "incomplete-response";
    else if (code < 0) reason = "bad-response";
    else if (!json_object(body, body + body_len, answer_field, &a) || !a.has_status || !a.has_stdout)
      reason = "bad-response";
    else if (code == 503 && !add)
      reason = "daemon-busy-503";
  }
  if (reason) {
    if (!add) run_oneshot(&c, reason, 1);
    cni_error(11, strcmp(reason, "deadline") == 0 ? "the manifold daemon did not answer ADD within its deadline; the runtime will retry"
                  : strcmp(reason, "bad-response") == 0 ? "the manifold daemon's answer to ADD could not be read; the runtime will retry"
                  : "the manifold daemon went away during ADD; the runtime will retry");
  }
  write_all(1, a.out.p, a.out.n);
  return (int)a.status;
}
