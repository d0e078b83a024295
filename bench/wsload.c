// Copyright 2026 the Duplex authors. MIT license.
//
// wsload: the peer benchmark's load generator, in C, so that the generator is
// never what a figure measures. bench/peers.ts and bench/cluster.ts compile it
// with the machine's cc (into bench/results/, not committed) and run it pinned
// to a core of its own.
//
// One thread, epoll, non-blocking sockets. Frames are encoded once, masked
// with a fixed key; every byte that comes back is compared with the frame
// expected. Each connection keeps `window` messages in flight and refills as
// echoes arrive, with one write per batch.
//
//   wsload echo    --port P [--host H] [--path /] --connections N --size S --window W
//                  --duration MS [--binary] [--raw] [--latency]
//   wsload chat    --port P[,P2...] --connections N --messages M --rounds R --timeout MS
//   wsload connect --port P --connections N [--concurrency K]
//
// echo:    N connections, S-byte messages, W in flight each, for MS. --raw is a
//          plain TCP echo (no handshake; the masked frames come back as sent).
//          --latency records each round trip (use W = 1) for p50 and p99.
// chat:    N connections in one room (connections alternate between the ports);
//          each round every connection sends M messages at once and waits for
//          all N x M broadcasts. Prints each round's time, or why it failed.
// connect: opens N connections, K handshakes at a time; prints the time, then
//          holds them open until stdin closes (for the server's RSS).
//
// Output: one JSON line on stdout. Exit 1 on a mismatch, a refused handshake
// or a closed connection, with {"error": "..."}.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const unsigned char KEY[4] = {0x37, 0xfa, 0x21, 0x3d};
static const char *WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

enum { HANDSHAKE_SENDING, HANDSHAKE_READING, OPEN };

typedef struct {
  int fd;
  int state;
  // Handshake.
  char head[1024];
  size_t head_len;
  size_t request_sent;
  // Sending: bytes still to write, and where they start in the send pattern.
  size_t to_send;
  size_t send_pos;
  // Receiving: the offset within the expected frame, and complete frames.
  size_t recv_pos;
  uint64_t frames;
  uint64_t in_flight;
  double sent_at; // --latency: when the message in flight went out
} Conn;

static char host[64] = "127.0.0.1";
static int ports[16];
static int port_count = 0;
static char path[256] = "/";
static int connections = 1, size = 32, window = 1, duration_ms = 3000, binary = 0, raw = 0;
static int latency = 0, messages = 1600, rounds = 5, timeout_ms = 30000, concurrency = 64;

static unsigned char *send_pattern; // copies of the masked frame, back to back
static size_t send_frame, send_copies;
static unsigned char *expect_frame; // the frame the server sends back
static size_t expect_len;
static Conn *conns;
static int epfd;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
  char message[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(message, sizeof message, fmt, args);
  va_end(args);
  printf("{\"error\": \"%s\"}\n", message);
  fflush(stdout);
  exit(1);
}

/** A frame: header, then the payload, masked with KEY when `masked`. */
static size_t encode(unsigned char *out, const unsigned char *payload, size_t n, int masked) {
  size_t at = 0;
  out[at++] = 0x80 | (binary ? 0x2 : 0x1);
  unsigned char mask_bit = masked ? 0x80 : 0;
  if (n < 126) {
    out[at++] = mask_bit | n;
  } else if (n < 65536) {
    out[at++] = mask_bit | 126;
    out[at++] = n >> 8;
    out[at++] = n & 0xff;
  } else {
    out[at++] = mask_bit | 127;
    for (int i = 7; i >= 0; i--) out[at++] = (uint64_t)n >> (8 * i) & 0xff;
  }
  if (masked) {
    memcpy(out + at, KEY, 4);
    at += 4;
    for (size_t i = 0; i < n; i++) out[at + i] = payload[i] ^ KEY[i & 3];
  } else {
    memcpy(out + at, payload, n);
  }
  return at + n;
}

static void prepare(size_t copies) {
  unsigned char *payload = malloc(size > 0 ? size : 1);
  for (int i = 0; i < size; i++) payload[i] = binary ? (unsigned char)(i * 31 + 7) : 'a' + i % 26;
  unsigned char *frame = malloc(size + 14);
  send_frame = encode(frame, payload, size, 1);
  send_copies = copies + 1;
  send_pattern = malloc(send_frame * send_copies);
  for (size_t i = 0; i < send_copies; i++) memcpy(send_pattern + i * send_frame, frame, send_frame);
  expect_frame = malloc(size + 14);
  if (raw) {
    memcpy(expect_frame, frame, send_frame);
    expect_len = send_frame;
  } else {
    expect_len = encode(expect_frame, payload, size, 0);
  }
  free(payload);
  free(frame);
}

static void watch(Conn *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
}

static void start_connect(Conn *c, int port) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) fail("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &addr.sin_addr);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    fail("connect to %s:%d: %s", host, port, strerror(errno));
  }
  c->state = raw ? OPEN : HANDSHAKE_SENDING;
  watch(c, raw ? EPOLLIN : EPOLLOUT, EPOLL_CTL_ADD);
}

/** Moves a connection through its handshake; returns 1 once it is open. */
static int handshake(Conn *c, uint32_t events) {
  static char request[512];
  int length = snprintf(request, sizeof request,
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n",
                        path, host, WS_KEY);
  if (c->state == HANDSHAKE_SENDING && (events & EPOLLOUT)) {
    ssize_t n = write(c->fd, request + c->request_sent, length - c->request_sent);
    if (n < 0 && errno != EAGAIN) fail("handshake write: %s", strerror(errno));
    if (n > 0) c->request_sent += n;
    if (c->request_sent == (size_t)length) {
      c->state = HANDSHAKE_READING;
      watch(c, EPOLLIN, EPOLL_CTL_MOD);
    }
    return 0;
  }
  if (c->state != HANDSHAKE_READING) return 0;
  // Read byte counts that never pass the head: the server sends nothing after
  // the 101 before our first frame.
  ssize_t n = read(c->fd, c->head + c->head_len, sizeof c->head - 1 - c->head_len);
  if (n == 0) fail("the server closed during the handshake");
  if (n < 0) {
    if (errno == EAGAIN) return 0;
    fail("handshake read: %s", strerror(errno));
  }
  c->head_len += n;
  c->head[c->head_len] = 0;
  char *end = strstr(c->head, "\r\n\r\n");
  if (end == NULL) {
    if (c->head_len >= sizeof c->head - 1) fail("handshake response too long");
    return 0;
  }
  if (strncmp(c->head, "HTTP/1.1 101", 12) != 0) {
    *strchr(c->head, '\r') = 0;
    fail("the server refused: %s", c->head);
  }
  if (end + 4 != c->head + c->head_len) fail("the server sent frames before any message");
  c->state = OPEN;
  return 1;
}

/** Writes what is due; keeps EPOLLOUT while some is left. */
static void flush(Conn *c) {
  while (c->to_send > 0) {
    size_t contiguous = send_frame * send_copies - c->send_pos;
    size_t n = c->to_send < contiguous ? c->to_send : contiguous;
    ssize_t written = write(c->fd, send_pattern + c->send_pos, n);
    if (written < 0) {
      if (errno == EAGAIN) break;
      fail("write: %s", strerror(errno));
    }
    c->to_send -= written;
    c->send_pos = (c->send_pos + written) % send_frame;
  }
  watch(c, c->to_send > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
}

static void queue_frames(Conn *c, uint64_t count) {
  c->to_send += count * send_frame;
  c->in_flight += count;
}

static void describe_mismatch(const unsigned char *data, size_t n, Conn *c) {
  if (c->recv_pos == 0 && data[0] == 0x88 && n >= 4) {
    fail("the server sent a close frame, code %d", data[2] << 8 | data[3]);
  }
  fail("byte %zu of a frame differs: got 0x%02x, expected 0x%02x", c->recv_pos, data[0],
       expect_frame[c->recv_pos]);
}

/** Compares what arrived with the expected frames; returns the frames completed. */
static uint64_t verify(Conn *c, const unsigned char *data, size_t n) {
  uint64_t complete = 0;
  while (n > 0) {
    size_t part = expect_len - c->recv_pos;
    if (part > n) part = n;
    if (memcmp(data, expect_frame + c->recv_pos, part) != 0) {
      size_t i = 0;
      while (data[i] == expect_frame[c->recv_pos + i]) i++;
      c->recv_pos += i;
      describe_mismatch(data + i, n - i, c);
    }
    c->recv_pos += part;
    data += part;
    n -= part;
    if (c->recv_pos == expect_len) {
      c->recv_pos = 0;
      complete++;
    }
  }
  c->frames += complete;
  return complete;
}

static unsigned char read_buffer[256 * 1024];

/** Reads what is there; returns the frames completed, or -1 at EAGAIN with none. */
static uint64_t drain(Conn *c) {
  uint64_t complete = 0;
  ssize_t n = read(c->fd, read_buffer, sizeof read_buffer);
  if (n == 0) fail("the server closed a connection");
  if (n < 0) {
    if (errno == EAGAIN) return 0;
    fail("read: %s", strerror(errno));
  }
  complete += verify(c, read_buffer, n);
  return complete;
}

/** Opens every connection through its handshake, `concurrency` at a time. */
static void open_all(int limit) {
  int started = 0, open = 0;
  struct epoll_event events[256];
  while (open < connections) {
    while (started < connections && started - open < limit) {
      start_connect(&conns[started], ports[started % port_count]);
      if (conns[started].state == OPEN) open++;
      started++;
    }
    if (open == connections) break;
    int ready = epoll_wait(epfd, events, 256, 10000);
    if (ready == 0) fail("handshakes stalled: %d of %d open", open, connections);
    for (int i = 0; i < ready; i++) {
      Conn *c = events[i].data.ptr;
      if (handshake(c, events[i].events)) open++;
    }
  }
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void run_echo(void) {
  prepare(window);
  open_all(concurrency);
  size_t capacity = 1 << 20, count = 0;
  double *samples = latency ? malloc(capacity * sizeof(double)) : NULL;
  double start = now(), cpu = cpu_seconds();
  double stop_at = start + duration_ms / 1000.0, last = start;
  for (int i = 0; i < connections; i++) {
    Conn *c = &conns[i];
    queue_frames(c, window);
    c->sent_at = start;
    flush(c);
  }
  uint64_t total = 0, outstanding = (uint64_t)connections * window;
  int stopping = 0;
  struct epoll_event events[256];
  while (outstanding > 0) {
    int ready = epoll_wait(epfd, events, 256, 5000);
    if (ready == 0) fail("no echo for 5 s with %llu in flight", (unsigned long long)outstanding);
    double t = now();
    if (!stopping && t >= stop_at) stopping = 1;
    for (int i = 0; i < ready; i++) {
      Conn *c = events[i].data.ptr;
      if (events[i].events & EPOLLIN) {
        uint64_t complete = drain(c);
        if (complete > 0) {
          last = t;
          total += complete;
          c->in_flight -= complete;
          outstanding -= complete;
          if (latency) {
            if (count == capacity) samples = realloc(samples, (capacity *= 2) * sizeof(double));
            samples[count++] = t - c->sent_at;
            c->sent_at = t;
          }
          if (!stopping) {
            queue_frames(c, complete);
            outstanding += complete;
          }
        }
      }
      if (c->to_send > 0 || (events[i].events & EPOLLOUT)) flush(c);
    }
  }
  double seconds = last - start;
  printf("{\"messages\": %llu, \"bytes\": %llu, \"seconds\": %.6f, \"generator_cpu\": %.6f",
         (unsigned long long)total, (unsigned long long)total * size, seconds,
         cpu_seconds() - cpu);
  if (latency && count > 0) {
    qsort(samples, count, sizeof(double), compare);
    printf(", \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f", samples[count / 2] * 1e6,
           samples[(size_t)(count * 0.99)] * 1e6, samples[count - 1] * 1e6);
  }
  printf("}\n");
}

static void run_chat(void) {
  prepare(messages);
  open_all(concurrency);
  // Let the last members join their room (and, across nodes, subscribe) first.
  usleep(300 * 1000);
  printf("{\"rounds\": [");
  uint64_t expected_each = (uint64_t)connections * messages;
  for (int r = 0; r < rounds; r++) {
    double start = now(), cpu = cpu_seconds();
    for (int i = 0; i < connections; i++) {
      conns[i].frames = 0;
      queue_frames(&conns[i], messages);
      flush(&conns[i]);
    }
    int done = 0;
    struct epoll_event events[256];
    while (done < connections) {
      int ready = epoll_wait(epfd, events, 256, 100);
      if (now() - start > timeout_ms / 1000.0) {
        printf("], \"failed\": \"round %d stalled: %d of %d clients had every message after %d ms\"}\n",
               r + 1, done, connections, timeout_ms);
        return;
      }
      for (int i = 0; i < ready; i++) {
        Conn *c = events[i].data.ptr;
        if (events[i].events & EPOLLIN) {
          uint64_t before = c->frames;
          drain(c);
          if (before < expected_each && c->frames >= expected_each) done++;
          if (c->frames > expected_each) fail("a client got more messages than were sent");
        }
        if (c->to_send > 0 || (events[i].events & EPOLLOUT)) flush(c);
      }
    }
    printf("%s{\"seconds\": %.6f, \"generator_cpu\": %.6f}", r > 0 ? ", " : "", now() - start,
           cpu_seconds() - cpu);
    fflush(stdout);
  }
  printf("]}\n");
}

static void run_connect(void) {
  prepare(1);
  double start = now(), cpu = cpu_seconds();
  open_all(concurrency);
  printf("{\"connections\": %d, \"seconds\": %.6f, \"generator_cpu\": %.6f}\n", connections,
         now() - start, cpu_seconds() - cpu);
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
  }
  for (int i = 0; i < connections; i++) close(conns[i].fd);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: wsload echo|chat|connect --port P [options]\n");
    return 2;
  }
  const char *mode = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *name = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(name, "--binary")) binary = 1;
    else if (!strcmp(name, "--raw")) raw = 1;
    else if (!strcmp(name, "--latency")) latency = 1;
    else {
      i++;
      if (!strcmp(name, "--host")) snprintf(host, sizeof host, "%s", value);
      else if (!strcmp(name, "--path")) snprintf(path, sizeof path, "%s", value);
      else if (!strcmp(name, "--port")) {
        const char *p = value;
        while (*p != 0 && port_count < 16) {
          ports[port_count++] = atoi(p);
          const char *comma = strchr(p, ',');
          if (comma == NULL) break;
          p = comma + 1;
        }
      } else if (!strcmp(name, "--connections")) connections = atoi(value);
      else if (!strcmp(name, "--size")) size = atoi(value);
      else if (!strcmp(name, "--window")) window = atoi(value);
      else if (!strcmp(name, "--duration")) duration_ms = atoi(value);
      else if (!strcmp(name, "--messages")) messages = atoi(value);
      else if (!strcmp(name, "--rounds")) rounds = atoi(value);
      else if (!strcmp(name, "--timeout")) timeout_ms = atoi(value);
      else if (!strcmp(name, "--concurrency")) concurrency = atoi(value);
      else {
        fprintf(stderr, "wsload: unknown option %s\n", name);
        return 2;
      }
    }
  }
  if (port_count == 0 || connections < 1 || size < 0 || window < 1) {
    fprintf(stderr, "wsload: --port, --connections >= 1 and --window >= 1 are required\n");
    return 2;
  }
  struct rlimit files = {connections + 64, connections + 64};
  setrlimit(RLIMIT_NOFILE, &files);
  conns = calloc(connections, sizeof(Conn));
  epfd = epoll_create1(0);
  if (!strcmp(mode, "echo")) run_echo();
  else if (!strcmp(mode, "chat")) run_chat();
  else if (!strcmp(mode, "connect")) run_connect();
  else {
    fprintf(stderr, "wsload: unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
