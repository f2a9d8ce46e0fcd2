/*
 * The probe of deploy/daemonset-daemon.yaml: `probe SOCKET /PATH` asks `manifold daemon` for
 * GET /PATH on its unix socket and exits 0 only on a 200 (prints the body), 1 otherwise
 * (refused, absent, 503 while draining, no answer within 2 s). Kubernetes' httpGet probes
 * cannot reach a unix socket, the image (distroless) has no curl or shell, and `manifold`
 * itself has no probe command; the executable would also start Node.js (~40 ms, ~60 MiB in
 * the container's cgroup) on every probe. This is libc only, built static by
 * deploy/Containerfile:  cc -static -Os -s -o probe deploy/probe.c
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3 || argv[2][0] != '/' || strpbrk(argv[2], " \r\n")) {
    fputs("usage: probe SOCKET /PATH\n", stderr);
    return 2;
  }
  alarm(2); /* a hard deadline: SIGALRM ends the process, a failure for the kubelet */
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof addr.sun_path) {
    fprintf(stderr, "probe: %s: path too long\n", argv[1]);
    return 1;
  }
  strcpy(addr.sun_path, argv[1]);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    fprintf(stderr, "probe: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  char buf[4096];
  int n = snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: manifold\r\nConnection: close\r\n\r\n", argv[2]);
  if (n < 0 || (size_t)n >= sizeof buf) return 2;
  for (int off = 0; off < n;) {
    ssize_t w = write(s, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fprintf(stderr, "probe: write: %s\n", strerror(errno));
      return 1;
    }
    off += (int)w;
  }
  size_t len = 0;
  for (;;) {
    ssize_t r = read(s, buf + len, sizeof buf - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    if (len == sizeof buf - 1) break; /* /healthz and /readyz answer a few bytes */
  }
  buf[len] = '\0';
  char *body = strstr(buf, "\r\n\r\n");
  char *eol = strstr(buf, "\r\n");
  if (body) puts(body + 4);
  if (strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && body) return 0;
  fprintf(stderr, "probe: %s %s: %.*s\n", argv[1], argv[2], eol ? (int)(eol - buf) : 64,
          len ? buf : "no answer");
  return 1;
}
