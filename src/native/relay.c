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
 *   have seen talking to the other directly. A socket stays registered with epoll (with no
 *   events) while nothing is wanted from it, because epoll reports an error on it regardless:
 *   a client that half-closes and then resets is noticed even while the target is idle.
 * When a pair ends, Node is told (a thread-safe function) with the bytes delivered each way
 * (written to the other socket, not merely read) and whether it ended by a reset. The record
 * of that report is allocated when the pair is adopted, so the relay thread never needs memory
 * to say a pair ended.
 *
 * The state belongs to the Node environment that started it (the main thread or a worker
 * thread), and a clean-up hook stops the thread and resets the pairs when that environment
 * goes away.
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

#ifdef RELAY_FAULTS
/* Test builds only (test/unit/native-relay.test.ts compiles one): failAllocations(true) makes
 * every allocation from then on fail, on any thread. */
static volatile int fail_allocations;
static void *relay_malloc(size_t n) { return fail_allocations ? NULL : malloc(n); }
static void *relay_calloc(size_t k, size_t n) { return fail_allocations ? NULL : calloc(k, n); }
#define malloc relay_malloc
#define calloc relay_calloc
#endif

#define SCRATCH_SIZE (256 * 1024)
/* Reads per readiness event before other connections get their turn (level-triggered epoll
 * reports the socket again). */
#define READS_PER_EVENT 16

typedef struct conn conn;
typedef struct relay relay;

typedef struct {
  conn *c;
  int side;
} tag;

typedef struct {
  char *buf; /* bytes read but not yet written, when the destination was full */
  size_t off, len;
  int eof;  /* the source ended its stream */
  int done; /* ... and that end was passed on */
  uint64_t bytes; /* written to the destination */
} direction;

typedef struct {
  uint32_t group;
  double to_target, to_client;
  int reset;
} ended;

struct conn {
  uint32_t group;
  int fd[2];          /* 0: client, 1: target */
  direction d[2];     /* d[i]: fd[i] -> fd[1-i] */
  uint32_t events[2]; /* what epoll watches on fd[i] now */
  int registered[2];  /* fd[i] is in the epoll set (possibly with no events: errors only) */
  int hup[2];         /* epoll reported a hang-up on fd[i] */
  tag tags[2];
  int closed;
  ended *report; /* allocated at adoption; handed to Node when the pair ends */
  conn *prev, *next;
};

/* Node's thread only queues commands; the relay thread alone touches connections and `live`. */
enum { CMD_ADOPT = 1, CMD_RESET_GROUP, CMD_STOP };
typedef struct cmd {
  int kind;
  uint32_t group;
  conn *c;
  struct cmd *next;
} cmd;

struct relay {
  int epfd, wakefd;
  pthread_t thread;
  int running;
  pthread_mutex_t cmd_lock;
  cmd *cmds;
  napi_threadsafe_function on_ended;
  conn *live;
  conn *graveyard; /* closed in this batch of events; freed after it */
  char *scratch;
};

static void free_conn(conn *c) {
  for (int i = 0; i < 2; i++) free(c->d[i].buf);
  free(c->report);
  free(c);
}

static void set_interest(relay *r, conn *c, int side) {
  if (c->closed) return;
  direction *in = &c->d[side], *out = &c->d[1 - side];
  uint32_t want = 0;
  if (!in->eof && in->len == 0) want |= EPOLLIN;
  if (out->len > 0) want |= EPOLLOUT;
  /* With nothing wanted the socket stays registered so that an error (a reset) is still
   * reported; only a socket that hung up is dropped, since epoll would report that hang-up
   * over and over. */
  int reg = want != 0 || !c->hup[side];
  if (reg == c->registered[side] && want == c->events[side]) return;
  struct epoll_event ev = {.events = want, .data.ptr = &c->tags[side]};
  if (!reg) epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd[side], &ev);
  else epoll_ctl(r->epfd, c->registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd[side], &ev);
  c->registered[side] = reg;
  c->events[side] = want;
}

static void finish(relay *r, conn *c, int reset) {
  if (c->closed) return;
  c->closed = 1;
  for (int i = 0; i < 2; i++) {
    if (c->registered[i]) epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd[i], NULL);
    c->registered[i] = 0;
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
  else r->live = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = r->graveyard;
  r->graveyard = c;
  ended *e = c->report;
  c->report = NULL;
  e->group = c->group;
  e->to_target = (double)c->d[0].bytes;
  e->to_client = (double)c->d[1].bytes;
  e->reset = reset;
  if (napi_call_threadsafe_function(r->on_ended, e, napi_tsfn_nonblocking) != napi_ok) free(e);
}

/* Passes on the end of d[side]'s stream once its bytes are out; closes the pair when both are. */
static void maybe_end(relay *r, conn *c, int side) {
  direction *d = &c->d[side];
  if (d->eof && d->len == 0 && !d->done) {
    d->done = 1;
    shutdown(c->fd[1 - side], SHUT_WR);
  }
  if (c->d[0].done && c->d[1].done) finish(r, c, 0);
}

/* Writes what d[side] holds to the other socket. Returns -1 when the pair was reset. */
static int flush(relay *r, conn *c, int side) {
  direction *d = &c->d[side];
  while (d->len > 0) {
    ssize_t w = send(c->fd[1 - side], d->buf + d->off, d->len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      finish(r, c, 1);
      return -1;
    }
    d->off += (size_t)w;
    d->len -= (size_t)w;
    d->bytes += (uint64_t)w;
  }
  free(d->buf);
  d->buf = NULL;
  d->off = 0;
  maybe_end(r, c, side);
  return 0;
}

/* Reads from fd[side] and writes to the other side until one would block. */
static void pump(relay *r, conn *c, int side) {
  direction *d = &c->d[side];
  for (int round = 0; round < READS_PER_EVENT && !c->closed && !d->eof && d->len == 0; round++) {
    ssize_t n = recv(c->fd[side], r->scratch, SCRATCH_SIZE, 0);
    if (n == 0) {
      d->eof = 1;
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) finish(r, c, 1);
      return;
    }
    size_t sent = 0;
    while (sent < (size_t)n) {
      ssize_t w = send(c->fd[1 - side], r->scratch + sent, (size_t)n - sent, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        finish(r, c, 1);
        return;
      }
      sent += (size_t)w;
      d->bytes += (uint64_t)w;
    }
    if (sent == (size_t)n) {
      /* A short read means the socket is drained for now: epoll says when there is more, which
       * saves a recv that would only answer EAGAIN on every message of a request/response exchange. */
      if ((size_t)n < SCRATCH_SIZE) break;
      continue;
    }
    d->buf = malloc((size_t)n - sent);
    if (!d->buf) {
      finish(r, c, 1);
      return;
    }
    memcpy(d->buf, r->scratch + sent, (size_t)n - sent);
    d->len = (size_t)n - sent;
  }
  if (!c->closed) maybe_end(r, c, side);
}

/* Runs the queued commands; returns 1 when told to stop. */
static int handle_commands(relay *r) {
  uint64_t count;
  while (read(r->wakefd, &count, sizeof count) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&r->cmd_lock);
  cmd *list = r->cmds;
  r->cmds = NULL;
  pthread_mutex_unlock(&r->cmd_lock);
  /* The list is newest first; commands must run in the order they were given. */
  cmd *ordered = NULL;
  while (list) {
    cmd *next = list->next;
    list->next = ordered;
    ordered = list;
    list = next;
  }
  int stop = 0;
  for (list = ordered; list;) {
    cmd *next = list->next;
    if (list->kind == CMD_ADOPT) {
      conn *c = list->c;
      c->next = r->live;
      if (r->live) r->live->prev = c;
      r->live = c;
      set_interest(r, c, 0);
      set_interest(r, c, 1);
    } else if (list->kind == CMD_RESET_GROUP) {
      for (conn *c = r->live; c;) {
        conn *after = c->next;
        if (c->group == list->group) finish(r, c, 1);
        c = after;
      }
    } else if (list->kind == CMD_STOP) {
      stop = 1;
    }
    free(list);
    list = next;
  }
  return stop;
}

static void *relay_thread(void *arg) {
  relay *r = arg;
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(r->epfd, events, 256, -1);
    if (n < 0) continue; /* EINTR */
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        if (handle_commands(r)) return NULL;
        continue;
      }
      tag *t = events[i].data.ptr;
      conn *c = t->c;
      if (c->closed) continue;
      uint32_t ev = events[i].events;
      if (ev & EPOLLERR) {
        finish(r, c, 1);
        continue;
      }
      if (ev & EPOLLHUP) c->hup[t->side] = 1;
      /* EPOLLHUP counts as both readable and writable: the recv or send that follows reports
       * the end or the error, so a hung-up socket can't be reported over and over. */
      if ((ev & (EPOLLOUT | EPOLLHUP)) && c->d[1 - t->side].len > 0 && flush(r, c, 1 - t->side) < 0) continue;
      if (ev & (EPOLLIN | EPOLLHUP)) pump(r, c, t->side);
      if (c->closed) continue;
      set_interest(r, c, 0);
      set_interest(r, c, 1);
    }
    while (r->graveyard) {
      conn *next = r->graveyard->next;
      free_conn(r->graveyard);
      r->graveyard = next;
    }
  }
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

static int queue(relay *r, int kind, uint32_t group, conn *c) {
  cmd *k = malloc(sizeof *k);
  if (!k) return -1;
  k->kind = kind;
  k->group = group;
  k->c = c;
  pthread_mutex_lock(&r->cmd_lock);
  k->next = r->cmds;
  r->cmds = k;
  pthread_mutex_unlock(&r->cmd_lock);
  uint64_t one = 1;
  while (write(r->wakefd, &one, sizeof one) < 0 && errno == EINTR) {
  }
  return 0;
}

static napi_value throw_errno(napi_env env, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}

/*
 * Runs when the environment that started the relay goes away (the process exits, a worker thread
 * ends). Registered after the thread-safe function, so it runs before that function's own
 * clean-up (hooks run last-registered first): the thread is stopped before the function it calls
 * goes. Pairs still open are reset: their peers see the relay go, not a clean end.
 */
static void stop_relay(void *arg) {
  relay *r = arg;
  if (r->running && queue(r, CMD_STOP, 0, NULL) == 0) pthread_join(r->thread, NULL);
  r->running = 0;
  for (conn *c = r->live; c;) {
    conn *next = c->next;
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    for (int i = 0; i < 2; i++) {
      setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
      close(c->fd[i]);
    }
    free_conn(c);
    c = next;
  }
  r->live = NULL;
  for (cmd *k = r->cmds; k;) {
    cmd *next = k->next;
    if (k->kind == CMD_ADOPT) {
      for (int i = 0; i < 2; i++) close(k->c->fd[i]);
      free_conn(k->c);
    }
    free(k);
    k = next;
  }
  r->cmds = NULL;
  while (r->graveyard) {
    conn *next = r->graveyard->next;
    free_conn(r->graveyard);
    r->graveyard = next;
  }
  close(r->epfd);
  close(r->wakefd);
  pthread_mutex_destroy(&r->cmd_lock);
  free(r->scratch);
  free(r);
}

static relay *relay_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

/* start(onEnded): creates the epoll thread once per Node environment; onEnded(group, toTarget, toClient, reset). */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (relay_of(env)) {
    napi_throw_error(env, NULL, "the native relay is already started in this thread");
    return NULL;
  }
  relay *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "calloc");
  r->epfd = r->wakefd = -1;
  r->scratch = malloc(SCRATCH_SIZE);
  if (!r->scratch) {
    free(r);
    return throw_errno(env, "malloc");
  }
  const char *failed = NULL;
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (r->epfd < 0) failed = "epoll_create1";
  if (!failed && (r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) failed = "eventfd";
  if (failed) {
    int saved = errno;
    if (r->epfd >= 0) close(r->epfd);
    free(r->scratch);
    free(r);
    errno = saved;
    return throw_errno(env, failed);
  }
  pthread_mutex_init(&r->cmd_lock, NULL);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev);
  napi_create_string_utf8(env, "hostalias-relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_ended, &r->on_ended) != napi_ok) {
    stop_relay(r);
    napi_throw_error(env, NULL, "napi_create_threadsafe_function failed");
    return NULL;
  }
  /* Pairs in flight must not keep the process alive on their own: the JavaScript relay decides
   * (its server, its drain timer). */
  napi_unref_threadsafe_function(env, r->on_ended);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int err = pthread_create(&r->thread, &attr, relay_thread, r);
  pthread_attr_destroy(&attr);
  if (err) {
    napi_release_threadsafe_function(r->on_ended, napi_tsfn_abort);
    stop_relay(r);
    errno = err;
    return throw_errno(env, "pthread_create");
  }
  r->running = 1;
  napi_set_instance_data(env, r, NULL, NULL);
  napi_add_env_cleanup_hook(env, stop_relay, r);
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
  free_conn(c);
  errno = saved;
  return throw_errno(env, what);
}

/* adopt(group, clientFd, targetFd): relays between dups of the two sockets; the caller closes its own. */
static napi_value adopt(napi_env env, napi_callback_info info) {
  int64_t args[3];
  if (!int_args(env, info, 3, args, "adopt(group, clientFd, targetFd)")) return NULL;
  relay *r = relay_of(env);
  if (!r) {
    napi_throw_error(env, NULL, "the native relay is not started");
    return NULL;
  }
  conn *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, "calloc");
  c->group = (uint32_t)args[0];
  c->report = malloc(sizeof *c->report);
  if (!c->report) return give_up(env, c, 0, "malloc");
  for (int i = 0; i < 2; i++) {
    c->fd[i] = fcntl((int)args[1 + i], F_DUPFD_CLOEXEC, 0);
    if (c->fd[i] < 0) return give_up(env, c, i, "dup");
    c->tags[i].c = c;
    c->tags[i].side = i;
  }
  if (queue(r, CMD_ADOPT, c->group, c) < 0) return give_up(env, c, 2, "malloc");
  return NULL;
}

/* resetGroup(group): resets every pair of one relay (its close() after the grace period). */
static napi_value reset_group(napi_env env, napi_callback_info info) {
  int64_t group;
  if (!int_args(env, info, 1, &group, "resetGroup(group)")) return NULL;
  relay *r = relay_of(env);
  if (r && queue(r, CMD_RESET_GROUP, (uint32_t)group, NULL) < 0) return throw_errno(env, "malloc");
  return NULL;
}

#ifdef RELAY_FAULTS
static napi_value fail_allocations_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_bool(env, argv[0], &on);
  fail_allocations = on;
  return NULL;
}
#endif

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"adopt", NULL, adopt, NULL, NULL, NULL, napi_default, NULL},
      {"resetGroup", NULL, reset_group, NULL, NULL, NULL, napi_default, NULL},
#ifdef RELAY_FAULTS
      {"failAllocations", NULL, fail_allocations_js, NULL, NULL, NULL, napi_default, NULL},
#endif
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
