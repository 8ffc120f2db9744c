// C shim for libnl-route-3 and libcap: the one C boundary, imported only by the NetemKernel target.
// (One module, not two: two system modules that both include glibc headers clash in a clean build.)
//
// Small static inline helpers cover what Swift cannot call directly (macros, setsockopt option
// names that libnl 3.7 does not expose, `setns`, `statfs`).
#ifndef FAULTLINE_CLINUX_SHIM_H
#define FAULTLINE_CLINUX_SHIM_H

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/pkt_sched.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>
#include <netlink/route/rtnl.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif

/// Drops `cap` from the bounding set (needs CAP_SETPCAP; harmless failure otherwise).
static inline int faultline_drop_bound(cap_value_t cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }

// glibc declares setns(2) only under _GNU_SOURCE, which must not be defined here: it changes the
// layout names of fd_set and clashes with the toolchain's own C modules (Dispatch) in a clean build.
extern int setns(int fd, int nstype);

/// `setns(2)`.
static inline int faultline_setns(int fd, int nstype) { return setns(fd, nstype); }

/// `CLONE_NEWNET` from <linux/sched.h>.
static inline int faultline_clone_newnet(void) { return 0x40000000; }

/// Whether `path` (symlinks followed) is on nsfs, the filesystem of namespace files, whose inode
/// numbers are the namespaces' identities. `struct statfs` is not in Swift's Glibc module.
static inline int faultline_is_nsfs(const char *path) {
  struct statfs fs;
  return statfs(path, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

/// Opens and binds a NETLINK_ROUTE socket in the calling thread's network namespace, with extended
/// acks (error text), capped acks (no echo of the request) and link notifications (`RTNLGRP_LINK`).
/// Returns the descriptor or -errno.
static inline int faultline_open_route_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl local;
  memset(&local, 0, sizeof(local));
  local.nl_family = AF_NETLINK;
  int one = 1;
  int group = RTNLGRP_LINK;
  if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
      setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
      setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0 ||
      setsockopt(fd, SOL_NETLINK, 1 /* NETLINK_ADD_MEMBERSHIP */, &group, sizeof(group)) < 0) {
    int code = errno;
    close(fd);
    return -code;
  }
  return fd;
}

/// Asks the kernel for extended acks (error text) and capped acks (no echo of the request) on the
/// netlink socket `fd`.
static inline int faultline_enable_ext_ack(int fd) {
  int one = 1;
  if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0) return -errno;
  if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) return -errno;
  return 0;
}

/// `struct mmsghdr` (glibc declares it and `recvmmsg` only under _GNU_SOURCE).
struct faultline_mmsghdr {
  struct msghdr msg_hdr;
  unsigned int msg_len;
};

/// Receives up to `slots` datagrams (at most 8) in one `recvmmsg(2)`, datagram i into
/// `buffer + i * slot`: blocking for the first and taking what is already queued after it
/// (`MSG_WAITFORONE`), or only what is queued (`dontwait`). A netlink request's answers (an echo and
/// its ack, a reply and its ack) are all queued by the time `send` returns, so one call reads them
/// all. Fills `lengths[i]` and `truncated[i]`; returns the number received, or -errno.
static inline int faultline_receive(int fd, void *buffer, unsigned slot, unsigned slots, int dontwait,
                                    unsigned *lengths, int *truncated) {
  struct iovec vectors[8];
  struct faultline_mmsghdr headers[8];
  if (slots > 8) slots = 8;
  for (unsigned i = 0; i < slots; i++) {
    vectors[i].iov_base = (char *)buffer + (size_t)i * slot;
    vectors[i].iov_len = slot;
    memset(&headers[i], 0, sizeof(headers[i]));
    headers[i].msg_hdr.msg_iov = &vectors[i];
    headers[i].msg_hdr.msg_iovlen = 1;
  }
  long count = syscall(SYS_recvmmsg, fd, headers, slots, dontwait ? MSG_DONTWAIT : 0x10000 /* MSG_WAITFORONE */,
                       (void *)0);
  if (count < 0) return -errno;
  for (long i = 0; i < count; i++) {
    lengths[i] = headers[i].msg_len;
    truncated[i] = (headers[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  return (int)count;
}

#endif
