/*
 * The TCP relay's data path in C: once Node has accepted a client and connected to the
 * target, both sockets are handed here (dup'd; Node closes its own descriptors) and epoll
 * threads, one per CPU the process may run on, move the bytes. Each pair lives on one thread
 * (the one with the fewest pairs when it was adopted), so a few busy streams use every core.
 *
 * Bytes move with splice(2): socket -> pipe -> socket. The kernel hands the received pages to the
 * pipe and the pipe's pages to the sending socket, so no byte is copied into this process and out
 * again, which is what held a recv/send relay far below a direct connection. A direction takes a
 * pipe from its thread's pool while it has bytes to move and gives it back once the pipe is empty,
 * so idle connections hold no pipe and no buffer. Where no pipe can be had (the open-files limit),
 * the direction waits for one; nothing is allocated on the relay threads.
 *
 * Semantics are those of src/forward/tcp-relay.ts's JavaScript path, which stays as the fallback:
 * - backpressure: bytes the destination won't take stay in the direction's pipe and the source is
 *   not read again until they are written;
 * - half-close: end of stream from one side is passed on as shutdown(SHUT_WR) once its bytes are
 *   written; the other direction keeps flowing;
 * - resets: an error on either side resets both (SO_LINGER 0), so each peer sees what it would
 *   have seen talking to the other directly. A socket stays registered with epoll (with no
 *   events) while nothing is wanted from it, because epoll reports an error on it regardless:
 *   a client that half-closes and then resets is noticed even while the target is idle.
 * When a pair ends, Node is told (a thread-safe function) with the bytes delivered each way
 * (written to the other socket, not merely read) and whether it ended by a reset. The record
 * of that report is allocated when the pair is adopted, so the relay threads never need memory
 * to say a pair ended.
 *
 * The state belongs to the Node environment that started it (the main thread or a worker
 * thread), and a clean-up hook stops the threads and resets the pairs when that environment
 * goes away.
 *
 * Two helpers for the relays run on Node's thread: originalDst(fd), the address a connection was
 * bound for before the firewall redirected it to the relay (SO_ORIGINAL_DST, conntrack's record),
 * and listeners(), every listening TCP socket and bound UDP socket of this network namespace,
 * asked of the kernel over sock_diag netlink (only listeners, so it stays cheap however many
 * connections are open, unlike reading /proc/net/tcp).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* linux/netfilter_ipv4.h */
#endif

#ifdef RELAY_FAULTS
/* Test builds only (test/unit/native-relay.test.ts compiles one): failAllocations(true) makes
 * every allocation from then on fail, on any thread. */
static volatile int fail_allocations;
static void *relay_malloc(size_t n) { return fail_allocations ? NULL : malloc(n); }
static void *relay_calloc(size_t k, size_t n) { return fail_allocations ? NULL : calloc(k, n); }
#define malloc relay_malloc
#define calloc relay_calloc
#endif

/* What one splice asks for, and the size each pipe is given (pipe-max-size allows 1 MiB by
 * default; a smaller pipe is kept when it doesn't). */
#define PIPE_SIZE (1024 * 1024)
/* Bursts per readiness event before other connections get their turn (level-triggered epoll
 * reports the socket again). */
#define ROUNDS_PER_EVENT 16
/* Empty pipes a thread keeps for the next burst. */
#define POOL_MAX 16
#define MAX_THREADS 64

typedef struct conn conn;
typedef struct worker worker;
typedef struct relay relay;

typedef struct {
  conn *c;
  int side;
} tag;

typedef struct {
  int pipe[2];    /* bytes read and not yet written, when there are any: -1 when none is held */
  size_t inpipe;  /* how many */
  int eof;        /* the source ended its stream */
  int done;       /* ... and that end was passed on */
  int starved;    /* waits for a pipe */
  uint64_t bytes; /* written to the destination */
} direction;

typedef struct {
  uint32_t group;
  double to_target, to_client;
  int reset;
} ended;

struct conn {
  uint32_t group;
  worker *w;
  int fd[2];          /* 0: client, 1: target */
  direction d[2];     /* d[i]: fd[i] -> fd[1-i] */
  uint32_t events[2]; /* what epoll watches on fd[i] now */
  int registered[2];  /* fd[i] is in the epoll set (possibly with no events: errors only) */
  int hup[2];         /* epoll reported a hang-up on fd[i] */
  tag tags[2];
  int closed;
  ended *report; /* allocated at adoption; handed to Node when the pair ends */
  conn *prev, *next;
  conn *sprev, *snext; /* on the thread's list of pairs waiting for a pipe */
  int starving;
};

/* Node's thread only queues commands; a relay thread alone touches its connections. */
enum { CMD_ADOPT = 1, CMD_RESET_GROUP, CMD_STOP };
typedef struct cmd {
  int kind;
  uint32_t group;
  conn *c;
  struct cmd *next;
} cmd;

struct worker {
  relay *r;
  int epfd, wakefd;
  pthread_t thread;
  int running;
  pthread_mutex_t cmd_lock;
  cmd *cmds;
  conn *live;
  conn *graveyard; /* closed in this batch of events; freed after it */
  conn *starved;   /* pairs with a direction waiting for a pipe */
  int pool[POOL_MAX][2];
  int npool;
  unsigned pairs; /* adopted and not ended (read by Node's thread to pick a thread) */
};

struct relay {
  napi_threadsafe_function on_ended;
  int nworkers;
  worker workers[];
};

static void free_conn(conn *c) {
  free(c->report);
  free(c);
}

static void close_pipe(int p[2]) {
  if (p[0] >= 0) close(p[0]);
  if (p[1] >= 0) close(p[1]);
  p[0] = p[1] = -1;
}

/* A pipe for d: from the pool, or a new one. -1 when none can be had. */
static int pipe_get(worker *w, direction *d) {
  if (w->npool > 0) {
    w->npool--;
    d->pipe[0] = w->pool[w->npool][0];
    d->pipe[1] = w->pool[w->npool][1];
    return 0;
  }
  if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
    d->pipe[0] = d->pipe[1] = -1;
    return -1;
  }
  /* A larger pipe holds more pages per splice: fewer calls per megabyte. */
  fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
  return 0;
}

/* Gives d's pipe back (it must be empty: a pipe with bytes in it is closed, never reused). */
static void pipe_put(worker *w, direction *d) {
  if (d->pipe[0] < 0) return;
  if (d->inpipe == 0 && w->npool < POOL_MAX) {
    w->pool[w->npool][0] = d->pipe[0];
    w->pool[w->npool][1] = d->pipe[1];
    w->npool++;
    d->pipe[0] = d->pipe[1] = -1;
  } else {
    close_pipe(d->pipe);
  }
  d->inpipe = 0;
}

static void unstarve(worker *w, conn *c) {
  if (!c->starving) return;
  if (c->sprev) c->sprev->snext = c->snext;
  else w->starved = c->snext;
  if (c->snext) c->snext->sprev = c->sprev;
  c->sprev = c->snext = NULL;
  c->starving = 0;
}

static void starve(worker *w, conn *c, int side) {
  c->d[side].starved = 1;
  if (c->starving) return;
  c->starving = 1;
  c->sprev = NULL;
  c->snext = w->starved;
  if (w->starved) w->starved->sprev = c;
  w->starved = c;
}

static void set_interest(worker *w, conn *c, int side) {
  if (c->closed) return;
  direction *in = &c->d[side], *out = &c->d[1 - side];
  uint32_t want = 0;
  if (!in->eof && in->inpipe == 0 && !in->starved) want |= EPOLLIN;
  if (out->inpipe > 0) want |= EPOLLOUT;
  /* With nothing wanted the socket stays registered so that an error (a reset) is still
   * reported; only a socket that hung up is dropped, since epoll would report that hang-up
   * over and over. */
  int reg = want != 0 || !c->hup[side];
  if (reg == c->registered[side] && want == c->events[side]) return;
  struct epoll_event ev = {.events = want, .data.ptr = &c->tags[side]};
  if (!reg) epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd[side], &ev);
  else epoll_ctl(w->epfd, c->registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd[side], &ev);
  c->registered[side] = reg;
  c->events[side] = want;
}

static void finish(worker *w, conn *c, int reset) {
  if (c->closed) return;
  c->closed = 1;
  unstarve(w, c);
  for (int i = 0; i < 2; i++) {
    if (c->registered[i]) epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd[i], NULL);
    c->registered[i] = 0;
    c->events[i] = 0;
    if (reset) {
      struct linger l = {.l_onoff = 1, .l_linger = 0};
      setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->fd[i]);
    pipe_put(w, &c->d[i]);
  }
  if (c->prev) c->prev->next = c->next;
  else w->live = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = w->graveyard;
  w->graveyard = c;
  __atomic_sub_fetch(&w->pairs, 1, __ATOMIC_RELAXED);
  ended *e = c->report;
  c->report = NULL;
  e->group = c->group;
  e->to_target = (double)c->d[0].bytes;
  e->to_client = (double)c->d[1].bytes;
  e->reset = reset;
  if (napi_call_threadsafe_function(w->r->on_ended, e, napi_tsfn_nonblocking) != napi_ok) free(e);
}

/* Passes on the end of d[side]'s stream once its bytes are out; closes the pair when both are. */
static void maybe_end(worker *w, conn *c, int side) {
  direction *d = &c->d[side];
  if (d->eof && d->inpipe == 0 && !d->done) {
    d->done = 1;
    shutdown(c->fd[1 - side], SHUT_WR);
  }
  if (c->d[0].done && c->d[1].done) finish(w, c, 0);
}

/* Writes what d[side]'s pipe holds to the other socket. Returns -1 when the pair was reset. */
static int flush(worker *w, conn *c, int side) {
  direction *d = &c->d[side];
  while (d->inpipe > 0) {
    ssize_t m = splice(d->pipe[0], NULL, c->fd[1 - side], NULL, d->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (m < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      finish(w, c, 1);
      return -1;
    }
    if (m == 0) return 0;
    d->inpipe -= (size_t)m;
    d->bytes += (uint64_t)m;
  }
  return 0;
}

/* Moves bytes from fd[side] to the other side until one would block. */
static void transfer(worker *w, conn *c, int side) {
  direction *d = &c->d[side];
  for (int round = 0; round < ROUNDS_PER_EVENT && !c->closed; round++) {
    if (d->inpipe > 0) {
      if (flush(w, c, side) < 0) return;
      if (d->inpipe > 0) break;
    }
    if (d->eof || d->starved) break;
    if (d->pipe[0] < 0 && pipe_get(w, d) < 0) {
      starve(w, c, side);
      break;
    }
    ssize_t n = splice(c->fd[side], NULL, d->pipe[1], NULL, PIPE_SIZE, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) {
      d->eof = 1;
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      finish(w, c, 1);
      return;
    }
    d->inpipe += (size_t)n;
    if (flush(w, c, side) < 0) return;
    if (d->inpipe > 0) break;
  }
  if (c->closed) return;
  if (d->inpipe == 0) pipe_put(w, d);
  maybe_end(w, c, side);
}

/* Pairs that waited for a pipe try again (one may have come back to the pool). */
static void retry_starved(worker *w) {
  conn *list = w->starved;
  w->starved = NULL;
  while (list) {
    conn *c = list, *next = list->snext;
    c->starving = 0;
    c->sprev = c->snext = NULL;
    list = next;
    for (int side = 0; side < 2; side++) {
      if (c->closed || !c->d[side].starved) continue;
      c->d[side].starved = 0;
      transfer(w, c, side);
    }
    if (!c->closed) {
      set_interest(w, c, 0);
      set_interest(w, c, 1);
    }
  }
}

/* Runs the queued commands; returns 1 when told to stop. */
static int handle_commands(worker *w) {
  uint64_t count;
  while (read(w->wakefd, &count, sizeof count) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&w->cmd_lock);
  cmd *list = w->cmds;
  w->cmds = NULL;
  pthread_mutex_unlock(&w->cmd_lock);
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
      c->next = w->live;
      if (w->live) w->live->prev = c;
      w->live = c;
      set_interest(w, c, 0);
      set_interest(w, c, 1);
    } else if (list->kind == CMD_RESET_GROUP) {
      for (conn *c = w->live; c;) {
        conn *after = c->next;
        if (c->group == list->group) finish(w, c, 1);
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
  worker *w = arg;
  /* Signals are Node's business: none is delivered to this thread. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(w->epfd, events, 256, w->starved ? 100 : -1);
    if (n < 0) continue; /* EINTR */
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        if (handle_commands(w)) return NULL;
        continue;
      }
      tag *t = events[i].data.ptr;
      conn *c = t->c;
      if (c->closed) continue;
      uint32_t ev = events[i].events;
      if (ev & EPOLLERR) {
        finish(w, c, 1);
        continue;
      }
      if (ev & EPOLLHUP) c->hup[t->side] = 1;
      /* EPOLLHUP counts as both readable and writable: the splice that follows reports the end
       * or the error, so a hung-up socket can't be reported over and over. Once the bytes held
       * for this socket are written, the direction they came from is read again at once. */
      if ((ev & (EPOLLOUT | EPOLLHUP)) && c->d[1 - t->side].inpipe > 0) transfer(w, c, 1 - t->side);
      if (!c->closed && (ev & (EPOLLIN | EPOLLHUP))) transfer(w, c, t->side);
      if (c->closed) continue;
      set_interest(w, c, 0);
      set_interest(w, c, 1);
    }
    if (w->starved && w->npool > 0) retry_starved(w);
    else if (w->starved && n == 0) retry_starved(w);
    while (w->graveyard) {
      conn *next = w->graveyard->next;
      free_conn(w->graveyard);
      w->graveyard = next;
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

static int queue(worker *w, int kind, uint32_t group, conn *c) {
  cmd *k = malloc(sizeof *k);
  if (!k) return -1;
  k->kind = kind;
  k->group = group;
  k->c = c;
  pthread_mutex_lock(&w->cmd_lock);
  k->next = w->cmds;
  w->cmds = k;
  pthread_mutex_unlock(&w->cmd_lock);
  uint64_t one = 1;
  while (write(w->wakefd, &one, sizeof one) < 0 && errno == EINTR) {
  }
  return 0;
}

static napi_value throw_errno(napi_env env, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static void reset_and_close(conn *c) {
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  for (int i = 0; i < 2; i++) {
    setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(c->fd[i]);
    close_pipe(c->d[i].pipe);
  }
}

/* Stops one thread (if it runs) and frees what it holds; its pairs are reset. */
static void stop_worker(worker *w) {
  if (w->running) {
    /* Without memory for the command the thread can't be told: it is left running, detached. */
    if (queue(w, CMD_STOP, 0, NULL) == 0) pthread_join(w->thread, NULL);
    else pthread_detach(w->thread);
  }
  w->running = 0;
  for (conn *c = w->live; c;) {
    conn *next = c->next;
    reset_and_close(c);
    free_conn(c);
    c = next;
  }
  w->live = NULL;
  for (cmd *k = w->cmds; k;) {
    cmd *next = k->next;
    if (k->kind == CMD_ADOPT) {
      reset_and_close(k->c);
      free_conn(k->c);
    }
    free(k);
    k = next;
  }
  w->cmds = NULL;
  while (w->graveyard) {
    conn *next = w->graveyard->next;
    free_conn(w->graveyard);
    w->graveyard = next;
  }
  for (int i = 0; i < w->npool; i++) close_pipe(w->pool[i]);
  w->npool = 0;
  if (w->epfd >= 0) close(w->epfd);
  if (w->wakefd >= 0) close(w->wakefd);
  w->epfd = w->wakefd = -1;
  pthread_mutex_destroy(&w->cmd_lock);
}

/*
 * Runs when the environment that started the relay goes away (the process exits, a worker thread
 * ends). Registered after the thread-safe function, so it runs before that function's own
 * clean-up (hooks run last-registered first): the threads are stopped before the function they
 * call goes. Pairs still open are reset: their peers see the relay go, not a clean end.
 */
static void stop_relay(void *arg) {
  relay *r = arg;
  for (int i = 0; i < r->nworkers; i++) stop_worker(&r->workers[i]);
  free(r);
}

static relay *relay_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

/* Sets up one thread's epoll set and wake-up; the thread itself is started later. */
static const char *init_worker(relay *r, worker *w) {
  w->r = r;
  w->epfd = w->wakefd = -1;
  pthread_mutex_init(&w->cmd_lock, NULL);
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (w->epfd < 0) return "epoll_create1";
  w->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->wakefd < 0) return "eventfd";
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0) return "epoll_ctl";
  return NULL;
}

/* The CPUs this process may run on (its affinity, which a container or taskset may narrow). */
static int usable_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/*
 * start(onEnded[, threads]): starts the relay threads once per Node environment (one per usable
 * CPU unless `threads` is given); onEnded(group, toTarget, toClient, reset). Returns the number of
 * threads.
 */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name, result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (relay_of(env)) {
    napi_throw_error(env, NULL, "the native relay is already started in this thread");
    return NULL;
  }
  int threads = 0;
  if (argc > 1) {
    int32_t t = 0;
    if (napi_get_value_int32(env, argv[1], &t) == napi_ok) threads = t;
  }
  if (threads <= 0) threads = usable_cpus();
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  relay *r = calloc(1, sizeof *r + (size_t)threads * sizeof(worker));
  if (!r) return throw_errno(env, "calloc");
  r->nworkers = threads;
  for (int i = 0; i < threads; i++) {
    const char *failed = init_worker(r, &r->workers[i]);
    if (failed) {
      int saved = errno;
      r->nworkers = i + 1;
      stop_relay(r);
      errno = saved;
      return throw_errno(env, failed);
    }
  }
  napi_create_string_utf8(env, "hostalias-relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_ended, &r->on_ended) != napi_ok) {
    stop_relay(r);
    napi_throw_error(env, NULL, "napi_create_threadsafe_function failed");
    return NULL;
  }
  /* Pairs in flight must not keep the process alive on their own: the JavaScript relay decides
   * (its server, its drain timer). */
  napi_unref_threadsafe_function(env, r->on_ended);
  for (int i = 0; i < threads; i++) {
    worker *w = &r->workers[i];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int err = pthread_create(&w->thread, &attr, relay_thread, w);
    pthread_attr_destroy(&attr);
    if (err) {
      napi_release_threadsafe_function(r->on_ended, napi_tsfn_abort);
      stop_relay(r);
      errno = err;
      return throw_errno(env, "pthread_create");
    }
    w->running = 1;
  }
  napi_set_instance_data(env, r, NULL, NULL);
  napi_add_env_cleanup_hook(env, stop_relay, r);
  napi_create_int32(env, threads, &result);
  return result;
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
  for (int i = 0; i < 2; i++) c->d[i].pipe[0] = c->d[i].pipe[1] = -1;
  c->report = malloc(sizeof *c->report);
  if (!c->report) return give_up(env, c, 0, "malloc");
  for (int i = 0; i < 2; i++) {
    c->fd[i] = fcntl((int)args[1 + i], F_DUPFD_CLOEXEC, 0);
    if (c->fd[i] < 0) return give_up(env, c, i, "dup");
    c->tags[i].c = c;
    c->tags[i].side = i;
  }
  /* The thread with the fewest pairs takes it. */
  worker *w = &r->workers[0];
  for (int i = 1; i < r->nworkers; i++)
    if (__atomic_load_n(&r->workers[i].pairs, __ATOMIC_RELAXED) < __atomic_load_n(&w->pairs, __ATOMIC_RELAXED)) w = &r->workers[i];
  c->w = w;
  __atomic_add_fetch(&w->pairs, 1, __ATOMIC_RELAXED);
  if (queue(w, CMD_ADOPT, c->group, c) < 0) {
    __atomic_sub_fetch(&w->pairs, 1, __ATOMIC_RELAXED);
    return give_up(env, c, 2, "malloc");
  }
  return NULL;
}

/* resetGroup(group): resets every pair of one relay (its close() after the grace period). */
static napi_value reset_group(napi_env env, napi_callback_info info) {
  int64_t group;
  if (!int_args(env, info, 1, &group, "resetGroup(group)")) return NULL;
  relay *r = relay_of(env);
  for (int i = 0; r && i < r->nworkers; i++)
    if (queue(&r->workers[i], CMD_RESET_GROUP, (uint32_t)group, NULL) < 0) return throw_errno(env, "malloc");
  return NULL;
}

/* originalDst(fd): { address, port } a redirected IPv4 connection was bound for, or null when the
 * firewall did not redirect it (no conntrack record says otherwise). */
static napi_value original_dst(napi_env env, napi_callback_info info) {
  int64_t fd;
  if (!int_args(env, info, 1, &fd, "originalDst(fd)")) return NULL;
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  napi_value result, value;
  if (getsockopt((int)fd, SOL_IP, SO_ORIGINAL_DST, &sin, &len) < 0 || sin.sin_family != AF_INET) {
    napi_get_null(env, &result);
    return result;
  }
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text);
  napi_create_object(env, &result);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, result, "address", value);
  napi_create_uint32(env, ntohs(sin.sin_port), &value);
  napi_set_named_property(env, result, "port", value);
  return result;
}

/* Appends the sockets one sock_diag dump answers to `out` as [proto, address, port] arrays. */
static int dump_sockets(napi_env env, int nl, int family, int protocol, uint32_t states, napi_value out, uint32_t *count) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = (uint8_t)family;
  msg.req.sdiag_protocol = (uint8_t)protocol;
  msg.req.idiag_states = states;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(nl, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -1;
  static __thread char buf[32768];
  const char *proto = protocol == IPPROTO_TCP ? "tcp" : "udp";
  for (;;) {
    ssize_t n = recv(nl, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *err = NLMSG_DATA(h);
        errno = -err->error;
        return -1;
      }
      struct inet_diag_msg *m = NLMSG_DATA(h);
      char text[INET6_ADDRSTRLEN];
      inet_ntop(family, m->id.idiag_src, text, sizeof text);
      napi_value entry, v;
      napi_create_array_with_length(env, 3, &entry);
      napi_create_string_utf8(env, proto, NAPI_AUTO_LENGTH, &v);
      napi_set_element(env, entry, 0, v);
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
      napi_set_element(env, entry, 1, v);
      napi_create_uint32(env, ntohs(m->id.idiag_sport), &v);
      napi_set_element(env, entry, 2, v);
      napi_set_element(env, out, (*count)++, entry);
    }
  }
}

/*
 * listeners(): every TCP socket in LISTEN and every bound, unconnected UDP socket of this network
 * namespace, IPv4 and IPv6, as [proto, address, port] (addresses as the kernel reports them:
 * "::1", "0.0.0.0", "::ffff:127.0.0.1"). Throws when sock_diag can't be asked.
 */
static napi_value listeners(napi_env env, napi_callback_info info) {
  (void)info;
  int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return throw_errno(env, "socket(NETLINK_SOCK_DIAG)");
  napi_value out;
  napi_create_array(env, &out);
  uint32_t count = 0;
  /* TCP_LISTEN is 10 and TCP_CLOSE 7 in the kernel's state numbering (include/net/tcp_states.h):
   * an unconnected UDP socket is in TCP_CLOSE. */
  const uint32_t listen = 1u << 10, unconnected = 1u << 7;
  int families[2] = {AF_INET, AF_INET6};
  for (int i = 0; i < 2; i++) {
    if (dump_sockets(env, nl, families[i], IPPROTO_TCP, listen, out, &count) < 0 ||
        dump_sockets(env, nl, families[i], IPPROTO_UDP, unconnected, out, &count) < 0) {
      int saved = errno;
      close(nl);
      errno = saved;
      return throw_errno(env, "sock_diag");
    }
  }
  close(nl);
  return out;
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
      {"originalDst", NULL, original_dst, NULL, NULL, NULL, napi_default, NULL},
      {"listeners", NULL, listeners, NULL, NULL, NULL, napi_default, NULL},
#ifdef RELAY_FAULTS
      {"failAllocations", NULL, fail_allocations_js, NULL, NULL, NULL, napi_default, NULL},
#endif
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
