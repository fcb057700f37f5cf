/*
 * The TCP relay's data path in C: once Node has accepted a client and connected to the
 * target, both sockets are handed here (dup'd; Node closes its own descriptors) and one epoll
 * thread copies bytes between them. Node's per-chunk cost (a callback, a Buffer, a stream write)
 * was what kept `forward` behind socat on latency; here a round trip costs epoll_wait, read and
 * send, as in socat, and idle connections hold no buffer.
 *
 * Semantics are those of src/forward/tcp-relay.ts's JavaScript path, which stays as the fallback:
 * - backpressure: bytes the destination won't take are kept (one chunk per direction) and the
 *   source is not read again until they are written;
 * - half-close: end of stream from one side is passed on as shutdown(SHUT_WR) once its bytes are
 *   written; the other direction keeps flowing;
 * - resets: an error on either side resets both (SO_LINGER 0), so each peer sees what it would
 *   have seen talking to the other directly.
 * When a pair ends, Node is told (a thread-safe function) with the byte counts and whether it
 * ended by a reset.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCRATCH_SIZE (256 * 1024)
/* Reads per readiness event before other connections get their turn (level-triggered epoll
 * reports the socket again). */
#define READS_PER_EVENT 16

typedef struct conn conn;

typedef struct {
  conn *c;
  int side;
} tag;

typedef struct {
  char *buf; /* bytes read but not yet written, when the destination was full */
  size_t off, len;
  int eof;  /* the source ended its stream */
  int done; /* ... and that end was passed on */
  uint64_t bytes;
} direction;

struct conn {
  uint32_t group;
  int fd[2];          /* 0: client, 1: target */
  direction d[2];     /* d[i]: fd[i] -> fd[1-i] */
  uint32_t events[2]; /* what epoll watches on fd[i] now; 0 = not registered */
  tag tags[2];
  int closed, reset;
  conn *prev, *next;
};

typedef struct {
  uint32_t group;
  double to_target, to_client;
  int reset;
} ended;

/* Node's thread only queues commands; the relay thread alone touches connections and `live`. */
enum { CMD_ADOPT = 1, CMD_RESET_GROUP };
typedef struct cmd {
  int kind;
  uint32_t group;
  conn *c;
  struct cmd *next;
} cmd;

static int epfd = -1, wakefd = -1;
static pthread_mutex_t cmd_lock = PTHREAD_MUTEX_INITIALIZER;
static cmd *cmds;
static napi_threadsafe_function on_ended;
static conn *live;
static conn *graveyard; /* closed in this batch of events; freed after it */
static char scratch[SCRATCH_SIZE];

static void set_interest(conn *c, int side) {
  direction *in = &c->d[side], *out = &c->d[1 - side];
  uint32_t want = 0;
  if (!c->closed) {
    if (!in->eof && in->len == 0) want |= EPOLLIN;
    if (out->len > 0) want |= EPOLLOUT;
  }
  if (want == c->events[side]) return;
  struct epoll_event ev = {.events = want, .data.ptr = &c->tags[side]};
  /* An unwatched socket is removed rather than kept with no events: epoll would still report
   * EPOLLHUP for it, over and over. */
  if (want == 0) epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd[side], &ev);
  else epoll_ctl(epfd, c->events[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd[side], &ev);
  c->events[side] = want;
}

static void finish(conn *c, int reset) {
  if (c->closed) return;
  c->closed = 1;
  c->reset = reset;
  for (int i = 0; i < 2; i++) {
    if (c->events[i]) epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd[i], NULL);
    c->events[i] = 0;
    if (reset) {
      struct linger l = {.l_onoff = 1, .l_linger = 0};
      setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->fd[i]);
    free(c->d[i].buf);
    c->d[i].buf = NULL;
  }
  if (c->prev) c->prev->next = c->next;
  else live = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = graveyard;
  graveyard = c;
  ended *e = malloc(sizeof *e);
  if (!e) return;
  e->group = c->group;
  e->to_target = (double)c->d[0].bytes;
  e->to_client = (double)c->d[1].bytes;
  e->reset = reset;
  if (napi_call_threadsafe_function(on_ended, e, napi_tsfn_nonblocking) != napi_ok) free(e);
}

/* Passes on the end of d[side]'s stream once its bytes are out; closes the pair when both are. */
static void maybe_end(conn *c, int side) {
  direction *d = &c->d[side];
  if (d->eof && d->len == 0 && !d->done) {
    d->done = 1;
    shutdown(c->fd[1 - side], SHUT_WR);
  }
  if (c->d[0].done && c->d[1].done) finish(c, 0);
}

/* Writes what d[side] holds to the other socket. Returns -1 when the pair was reset. */
static int flush(conn *c, int side) {
  direction *d = &c->d[side];
  while (d->len > 0) {
    ssize_t w = send(c->fd[1 - side], d->buf + d->off, d->len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      finish(c, 1);
      return -1;
    }
    d->off += (size_t)w;
    d->len -= (size_t)w;
  }
  free(d->buf);
  d->buf = NULL;
  d->off = 0;
  maybe_end(c, side);
  return 0;
}

/* Reads from fd[side] and writes to the other side until one would block. */
static void pump(conn *c, int side) {
  direction *d = &c->d[side];
  for (int round = 0; round < READS_PER_EVENT && !c->closed && !d->eof && d->len == 0; round++) {
    ssize_t n = recv(c->fd[side], scratch, sizeof scratch, 0);
    if (n == 0) {
      d->eof = 1;
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) finish(c, 1);
      return;
    }
    d->bytes += (uint64_t)n;
    size_t sent = 0;
    while (sent < (size_t)n) {
      ssize_t w = send(c->fd[1 - side], scratch + sent, (size_t)n - sent, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        finish(c, 1);
        return;
      }
      sent += (size_t)w;
    }
    if (sent == (size_t)n) {
      /* A short read means the socket is drained for now: epoll says when there is more, which
       * saves a recv that would only answer EAGAIN on every message of a request/response exchange. */
      if ((size_t)n < sizeof scratch) break;
      continue;
    }
    {
      d->buf = malloc((size_t)n - sent);
      if (!d->buf) {
        finish(c, 1);
        return;
      }
      memcpy(d->buf, scratch + sent, (size_t)n - sent);
      d->len = (size_t)n - sent;
    }
  }
  if (!c->closed) maybe_end(c, side);
}

static void handle_commands(void) {
  uint64_t count;
  while (read(wakefd, &count, sizeof count) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&cmd_lock);
  cmd *list = cmds;
  cmds = NULL;
  pthread_mutex_unlock(&cmd_lock);
  /* The list is newest first; commands must run in the order they were given. */
  cmd *ordered = NULL;
  while (list) {
    cmd *next = list->next;
    list->next = ordered;
    ordered = list;
    list = next;
  }
  list = ordered;
  while (list) {
    cmd *next = list->next;
    if (list->kind == CMD_ADOPT) {
      conn *c = list->c;
      c->next = live;
      if (live) live->prev = c;
      live = c;
      set_interest(c, 0);
      set_interest(c, 1);
    } else if (list->kind == CMD_RESET_GROUP) {
      conn *c = live;
      while (c) {
        conn *after = c->next;
        if (c->group == list->group) finish(c, 1);
        c = after;
      }
    }
    free(list);
    list = next;
  }
}

static void *relay_thread(void *unused) {
  (void)unused;
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(epfd, events, 256, -1);
    if (n < 0) continue; /* EINTR */
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        handle_commands();
        continue;
      }
      tag *t = events[i].data.ptr;
      conn *c = t->c;
      if (c->closed) continue;
      uint32_t ev = events[i].events;
      if (ev & EPOLLERR) {
        finish(c, 1);
        continue;
      }
      /* EPOLLHUP counts as both readable and writable: the recv or send that follows reports
       * the end or the error, so a hung-up socket can't be reported over and over. */
      if ((ev & (EPOLLOUT | EPOLLHUP)) && c->d[1 - t->side].len > 0 && flush(c, 1 - t->side) < 0) continue;
      if (ev & (EPOLLIN | EPOLLHUP)) pump(c, t->side);
      if (c->closed) continue;
      set_interest(c, 0);
      set_interest(c, 1);
    }
    while (graveyard) {
      conn *next = graveyard->next;
      free(graveyard);
      graveyard = next;
    }
  }
  return NULL;
}

static void call_ended(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  ended *e = data;
  if (env && js_cb) {
    napi_value argv[4], undefined;
    napi_create_uint32(env, e->group, &argv[0]);
    napi_create_double(env, e->to_target, &argv[1]);
    napi_create_double(env, e->to_client, &argv[2]);
    napi_get_boolean(env, e->reset, &argv[3]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, js_cb, 4, argv, NULL);
  }
  free(e);
}

static int queue(int kind, uint32_t group, conn *c) {
  cmd *k = malloc(sizeof *k);
  if (!k) return -1;
  k->kind = kind;
  k->group = group;
  k->c = c;
  pthread_mutex_lock(&cmd_lock);
  k->next = cmds;
  cmds = k;
  pthread_mutex_unlock(&cmd_lock);
  uint64_t one = 1;
  while (write(wakefd, &one, sizeof one) < 0 && errno == EINTR) {
  }
  return 0;
}

static napi_value throw_errno(napi_env env, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* start(onEnded): creates the epoll thread once per process; onEnded(group, toTarget, toClient, reset). */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (epfd >= 0) {
    napi_throw_error(env, NULL, "the native relay is already started in this process");
    return NULL;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return throw_errno(env, "epoll_create1");
  wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakefd < 0) return throw_errno(env, "eventfd");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev);
  napi_create_string_utf8(env, "hostalias-relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_ended, &on_ended) != napi_ok) {
    napi_throw_error(env, NULL, "napi_create_threadsafe_function failed");
    return NULL;
  }
  /* Pairs in flight must not keep the process alive on their own: the JavaScript relay decides
   * (its server, its drain timer). */
  napi_unref_threadsafe_function(env, on_ended);
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int err = pthread_create(&thread, &attr, relay_thread, NULL);
  pthread_attr_destroy(&attr);
  if (err) {
    errno = err;
    return throw_errno(env, "pthread_create");
  }
  return NULL;
}

/* Reads `count` integer arguments; 0 (a TypeError thrown) when one is missing or not a number. */
static int int_args(napi_env env, napi_callback_info info, size_t count, int64_t *out, const char *usage) {
  napi_value argv[3];
  size_t argc = 3;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  for (size_t i = 0; i < count; i++) {
    if (i >= argc || napi_get_value_int64(env, argv[i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, usage);
      return 0;
    }
  }
  return 1;
}

/* Undoes a half-made adopt (the first `dups` descriptors made) and throws what failed. */
static napi_value give_up(napi_env env, conn *c, int dups, const char *what) {
  int saved = errno;
  for (int i = 0; i < dups; i++) close(c->fd[i]);
  free(c);
  errno = saved;
  return throw_errno(env, what);
}

/* adopt(group, clientFd, targetFd): relays between dups of the two sockets; the caller closes its own. */
static napi_value adopt(napi_env env, napi_callback_info info) {
  int64_t args[3];
  if (!int_args(env, info, 3, args, "adopt(group, clientFd, targetFd)")) return NULL;
  if (epfd < 0) {
    napi_throw_error(env, NULL, "the native relay is not started");
    return NULL;
  }
  conn *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, "calloc");
  c->group = (uint32_t)args[0];
  for (int i = 0; i < 2; i++) {
    c->fd[i] = fcntl((int)args[1 + i], F_DUPFD_CLOEXEC, 0);
    if (c->fd[i] < 0) return give_up(env, c, i, "dup");
    c->tags[i].c = c;
    c->tags[i].side = i;
  }
  if (queue(CMD_ADOPT, c->group, c) < 0) return give_up(env, c, 2, "malloc");
  return NULL;
}

/* resetGroup(group): resets every pair of one relay (its close() after the grace period). */
static napi_value reset_group(napi_env env, napi_callback_info info) {
  int64_t group;
  if (!int_args(env, info, 1, &group, "resetGroup(group)")) return NULL;
  if (epfd >= 0 && queue(CMD_RESET_GROUP, (uint32_t)group, NULL) < 0) return throw_errno(env, "malloc");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"adopt", NULL, adopt, NULL, NULL, NULL, napi_default, NULL},
      {"resetGroup", NULL, reset_group, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
