/* The FastCGI responder of the libfcgi rows of tests/bench/run: the least a
 * C program on Debian's libfcgi can do. It answers every request with the
 * bytes of one file, read once at start (the static rows' small file), as
 * "200 OK" with a Content-Length.
 *
 *   fcgi_responder SOCKET FILE [THREADS]
 *
 * SOCKET is a unix socket path it listens on (mode 0666). One process; with
 * THREADS above 1 (default 1), that many threads each run the classic
 * FCGX_Accept_r loop on the same listening socket. libfcgi serves one
 * connection at a time per loop and honours FCGI_KEEP_CONN by reading the
 * next request from the same connection, so a front end that keeps N
 * connections needs N loops: a kept connection holds its loop even when
 * idle.
 *
 * Built by the run: cc -O2 -o fcgi_responder fcgi_responder.c -lfcgi -lpthread
 */
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The whole response, head and body, built once. */
static char* response;
static int response_len;
static int listen_fd;

static void* serve(void* unused) {
  (void)unused;
  FCGX_Request request;
  if (FCGX_InitRequest(&request, listen_fd, 0) != 0) {
    fprintf(stderr, "fcgi_responder: FCGX_InitRequest failed\n");
    exit(1);
  }
  while (FCGX_Accept_r(&request) >= 0) {
    /* Neither the params nor the (empty) body of the GET matter here. */
    FCGX_PutStr(response, response_len, request.out);
    FCGX_Finish_r(&request);
  }
  return NULL;
}

static int read_file(const char* path, char** data, long* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return -1;
  /* The file is small (a few hundred bytes); 1 MiB is plenty. */
  enum { kMax = 1 << 20 };
  *data = malloc(kMax);
  if (!*data) {
    fclose(f);
    return -1;
  }
  *size = (long)fread(*data, 1, kMax, f);
  int bad = ferror(f) || !feof(f);
  fclose(f);
  return bad ? -1 : 0;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: fcgi_responder SOCKET FILE [THREADS]\n");
    return 2;
  }
  int threads = argc == 4 ? atoi(argv[3]) : 1;
  if (threads < 1 || threads > 1024) {
    fprintf(stderr, "fcgi_responder: THREADS must be 1 to 1024\n");
    return 2;
  }
  char* body;
  long body_len;
  if (read_file(argv[2], &body, &body_len) != 0) {
    fprintf(stderr, "fcgi_responder: cannot read %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  char head[128];
  int head_len = snprintf(head, sizeof head,
                          "Content-Type: text/plain\r\nContent-Length: %ld\r\n\r\n", body_len);
  response_len = head_len + (int)body_len;
  response = malloc((size_t)response_len);
  if (!response) return 1;
  memcpy(response, head, (size_t)head_len);
  memcpy(response + head_len, body, (size_t)body_len);
  free(body);

  if (FCGX_Init() != 0) {
    fprintf(stderr, "fcgi_responder: FCGX_Init failed\n");
    return 1;
  }
  listen_fd = FCGX_OpenSocket(argv[1], 1024);
  if (listen_fd < 0) {
    fprintf(stderr, "fcgi_responder: cannot listen on %s\n", argv[1]);
    return 1;
  }
  /* The web server's workers may run as another user. */
  chmod(argv[1], 0666);

  pthread_t* ids = calloc((size_t)threads, sizeof *ids);
  if (!ids) return 1;
  for (int i = 1; i < threads; ++i) {
    if (pthread_create(&ids[i], NULL, serve, NULL) != 0) {
      fprintf(stderr, "fcgi_responder: cannot start thread %d\n", i);
      return 1;
    }
  }
  serve(NULL);
  return 0;
}
