// See raw_netlink.h. Deliberately minimal: it is the floor faultline is measured against.
#define _GNU_SOURCE
#include "raw_netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// The same receive room as faultline's (NetlinkSocket.slotSize): the kernel sizes dump buffers by it.
static _Thread_local unsigned char buffer[8192];
static _Thread_local uint32_t sequence = 1;
static atomic_long requests;

long raw_requests_sent(void) { return atomic_load(&requests); }

int raw_open(const char *nspath) {
  int home = -1, target = -1;
  if (nspath) {
    home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return -errno;
    target = open(nspath, O_RDONLY | O_CLOEXEC);
    if (target < 0 || setns(target, CLONE_NEWNET) < 0) {
      int code = errno;
      if (target >= 0) close(target);
      close(home);
      return -code;
    }
    close(target);
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int code = errno;
  if (nspath) {
    if (setns(home, CLONE_NEWNET) < 0) _exit(70);  // a thread stuck elsewhere must not go on
    close(home);
  }
  if (fd < 0) return -code;
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
    code = errno;
    close(fd);
    return -code;
  }
  return fd;
}

static void put_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t length) {
  struct nlattr *a = (struct nlattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
  a->nla_type = type;
  a->nla_len = (unsigned short)(NLA_HDRLEN + length);
  if (length) memcpy((char *)a + NLA_HDRLEN, data, length);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

// Sends `h` and reads until its ack, error or NLMSG_DONE; calls `reply` on each other message.
static int transact(int fd, struct nlmsghdr *h, int (*reply)(struct nlmsghdr *, void *), void *context) {
  h->nlmsg_seq = ++sequence;
  if (send(fd, h, h->nlmsg_len, 0) < 0) return -errno;
  atomic_fetch_add(&requests, 1);
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *m = (struct nlmsghdr *)buffer; NLMSG_OK(m, (size_t)n); m = NLMSG_NEXT(m, n)) {
      if (m->nlmsg_seq != h->nlmsg_seq) continue;
      if (m->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(m))->error;
      if (m->nlmsg_type == NLMSG_DONE) return 0;
      if (reply) reply(m, context);
    }
  }
}

static struct nlmsghdr *tc_request(void *storage, int type, int flags, int ifindex, uint32_t handle,
                                   uint32_t parent) {
  struct nlmsghdr *h = storage;
  h->nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
  h->nlmsg_type = (unsigned short)type;
  h->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
  h->nlmsg_pid = 0;
  struct tcmsg *t = NLMSG_DATA(h);
  memset(t, 0, sizeof(*t));
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = ifindex;
  t->tcm_handle = handle;
  t->tcm_parent = parent;
  return h;
}

struct link_context { int index; };

static int link_reply(struct nlmsghdr *m, void *context) {
  if (m->nlmsg_type == RTM_NEWLINK) ((struct link_context *)context)->index = ((struct ifinfomsg *)NLMSG_DATA(m))->ifi_index;
  return 0;
}

int raw_ifindex(int fd, const char *name) {
  _Alignas(4) unsigned char storage[256] = {0};
  struct nlmsghdr *h = (struct nlmsghdr *)storage;
  h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  h->nlmsg_type = RTM_GETLINK;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  put_attr(h, IFLA_IFNAME, name, strlen(name) + 1);
  struct link_context context = {-ENODEV};
  int rc = transact(fd, h, link_reply, &context);
  return rc < 0 ? rc : context.index;
}

int raw_replace_root(int fd, int ifindex, const char *kind, uint32_t handle, const void *options,
                     size_t length) {
  static _Thread_local _Alignas(4) unsigned char storage[16384];
  if (length + 256 > sizeof(storage)) return -EMSGSIZE;
  struct nlmsghdr *h = tc_request(storage, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, ifindex,
                                  handle, TC_H_ROOT);
  put_attr(h, TCA_KIND, kind, strlen(kind) + 1);
  put_attr(h, TCA_OPTIONS, options, length);
  return transact(fd, h, NULL, NULL);
}

struct root_context {
  int ifindex;
  uint32_t handle;
  void *out;
  size_t capacity;
  int length;
};

static int root_reply(struct nlmsghdr *m, void *context) {
  struct root_context *c = context;
  struct tcmsg *t = NLMSG_DATA(m);
  if (m->nlmsg_type != RTM_NEWQDISC || t->tcm_ifindex != c->ifindex || t->tcm_parent != TC_H_ROOT ||
      t->tcm_handle != c->handle)
    return 0;
  int remaining = (int)m->nlmsg_len - NLMSG_LENGTH(sizeof(*t));
  for (struct rtattr *a = (struct rtattr *)((char *)t + NLMSG_ALIGN(sizeof(*t))); RTA_OK(a, remaining);
       a = RTA_NEXT(a, remaining)) {
    if (a->rta_type != TCA_OPTIONS) continue;
    size_t length = RTA_PAYLOAD(a);
    if (length > c->capacity) length = c->capacity;
    memcpy(c->out, RTA_DATA(a), length);
    c->length = (int)length;
  }
  return 0;
}

int raw_read_root(int fd, int ifindex, uint32_t handle, void *out, size_t capacity) {
  _Alignas(4) unsigned char storage[64] = {0};
  struct nlmsghdr *h = tc_request(storage, RTM_GETQDISC, NLM_F_DUMP, ifindex, 0, 0);
  struct root_context context = {ifindex, handle, out, capacity, -ENOENT};
  int rc = transact(fd, h, root_reply, &context);
  return rc < 0 ? rc : context.length;
}

int raw_delete_root(int fd, int ifindex, uint32_t handle) {
  _Alignas(4) unsigned char storage[64] = {0};
  struct nlmsghdr *h = tc_request(storage, RTM_DELQDISC, NLM_F_ACK, ifindex, handle, TC_H_ROOT);
  return transact(fd, h, NULL, NULL);
}

static int count_reply(struct nlmsghdr *m, void *context) {
  (void)m;
  ++*(int *)context;
  return 0;
}

int raw_send_message(int fd, void *message, size_t length) {
  struct nlmsghdr *h = message;
  if (length < sizeof(*h) || h->nlmsg_len != length) return -EINVAL;
  // RTM_GET* requests (type % 4 == 2) here are dumps; everything else is a change to acknowledge
  // (NLM_F_DUMP's bits double as NLM_F_REPLACE and NLM_F_EXCL on a change).
  if (h->nlmsg_type % 4 != 2) h->nlmsg_flags |= NLM_F_ACK;
  int replies = 0;
  int rc = transact(fd, h, count_reply, &replies);
  return rc < 0 ? rc : replies;
}
