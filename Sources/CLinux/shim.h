// C shim for libnl-route-3 and libcap: the one C boundary, imported only by the NetemKernel target.
// (One module, not two: two system modules that both include glibc headers clash in a clean build.)
//
// Small static inline helpers cover what Swift cannot call directly (macros, setsockopt option
// names that libnl 3.7 does not expose, the extended-ack parsing that libnl 3.7 lacks).
#ifndef FAULTLINE_CLINUX_SHIM_H
#define FAULTLINE_CLINUX_SHIM_H

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/vfs.h>
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

/// What the kernel said about the last request: its errno and its extended-ack text.
struct faultline_nl_status {
  int error;          // positive errno from the kernel, 0 when acknowledged
  char message[512];  // NLMSGERR_ATTR_MSG, empty when the kernel gave none
};

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

/// Asks the kernel for extended acks (error text) and capped acks (no echo of the request).
static inline int faultline_enable_ext_ack(struct nl_sock *sk) {
  int one = 1;
  int fd = nl_socket_get_fd(sk);
  if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0) return -errno;
  if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) return -errno;
  return 0;
}

/// libnl error callback: keeps the kernel's errno and extended-ack message.
static inline int faultline_error_handler(struct sockaddr_nl *nla, struct nlmsgerr *err, void *arg) {
  (void)nla;
  struct faultline_nl_status *status = (struct faultline_nl_status *)arg;
  status->error = -err->error;
  status->message[0] = 0;
  struct nlmsghdr *hdr = (struct nlmsghdr *)((char *)err - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return NL_STOP;
  size_t offset = sizeof(struct nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
  if (hdr->nlmsg_len < NLMSG_HDRLEN + offset) return NL_STOP;
  struct nlattr *attr = (struct nlattr *)((char *)err + NLMSG_ALIGN(offset));
  int remaining = (int)hdr->nlmsg_len - (int)NLMSG_HDRLEN - (int)NLMSG_ALIGN(offset);
  while (remaining >= (int)sizeof(struct nlattr) && attr->nla_len >= sizeof(struct nlattr) &&
         attr->nla_len <= remaining) {
    if ((attr->nla_type & NLA_TYPE_MASK) == 1 /* NLMSGERR_ATTR_MSG */) {
      size_t len = attr->nla_len - sizeof(struct nlattr);
      if (len >= sizeof(status->message)) len = sizeof(status->message) - 1;
      memcpy(status->message, (char *)attr + NLA_HDRLEN, len);
      status->message[len] = 0;
      break;
    }
    int step = NLA_ALIGN(attr->nla_len);
    remaining -= step;
    attr = (struct nlattr *)((char *)attr + step);
  }
  return NL_STOP;
}

/// Routes the socket's error reports into `status`.
static inline int faultline_install_error_handler(struct nl_sock *sk, struct faultline_nl_status *status) {
  struct nl_cb *cb = nl_socket_get_cb(sk);
  int rc = nl_cb_err(cb, NL_CB_CUSTOM, faultline_error_handler, status);
  nl_cb_put(cb);
  return rc;
}

/// Total length of a received message, header included.
static inline unsigned int faultline_msg_length(struct nl_msg *msg) { return nlmsg_hdr(msg)->nlmsg_len; }

/// Start of a received message (its header).
static inline const void *faultline_msg_bytes(struct nl_msg *msg) { return nlmsg_hdr(msg); }

#endif
