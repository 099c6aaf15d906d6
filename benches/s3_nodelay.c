/* LD_PRELOAD shim for benches/s3.sh: TCP_NODELAY on every connection the
 * local S3 (s3s-fs 0.14.1) accepts. s3s-fs leaves Nagle's algorithm on, so
 * a response written in two pieces (head, then body) waits for the client's
 * delayed ACK: about 40 ms for every kept-alive GET of a small object (35
 * req/s at one connection, p50 44 ms, where it does 3,250 req/s, p50 0.22
 * ms, with this shim). S3 itself answers without that stall, and grantd's
 * own listener sets TCP_NODELAY, so the bench gives s3s-fs the same. Only
 * the accept calls are wrapped; nothing else of s3s-fs changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static void nodelay(int fd) { int one = 1; if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) {
  static int (*real)(int, struct sockaddr *, socklen_t *, int);
  if (!real) real = dlsym(RTLD_NEXT, "accept4");
  int c = real(fd, a, l, flags); nodelay(c); return c;
}
int accept(int fd, struct sockaddr *a, socklen_t *l) {
  static int (*real)(int, struct sockaddr *, socklen_t *);
  if (!real) real = dlsym(RTLD_NEXT, "accept");
  int c = real(fd, a, l); nodelay(c); return c;
}
