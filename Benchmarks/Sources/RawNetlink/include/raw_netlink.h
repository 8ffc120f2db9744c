// The raw netlink baseline of the benchmarks: the requests faultline sends for an apply (replace the
// root qdisc, read it back) and a revert (delete it), sent by a minimal sender with none of
// faultline's logic: one socket, one static buffer, no parsing beyond finding the reply. What
// faultline costs above this is its own overhead (docs/BENCHMARKS.md).
#ifndef FAULTLINE_RAW_NETLINK_H
#define FAULTLINE_RAW_NETLINK_H

#include <stddef.h>
#include <stdint.h>

/// Opens a NETLINK_ROUTE socket inside the network namespace at `nspath` (NULL: the caller's): enters
/// it with setns on the calling thread, opens the socket, goes back. Returns the descriptor or -errno.
/// The calling thread must be one that may change namespace (not a shared pool thread).
int raw_open(const char *nspath);

/// The index of interface `name` (RTM_GETLINK with IFLA_IFNAME), or -errno.
int raw_ifindex(int fd, const char *name);

/// `tc qdisc replace dev IFINDEX root handle HANDLE KIND OPTIONS`: one RTM_NEWQDISC, waits for the
/// ack. Returns 0 or -errno.
int raw_replace_root(int fd, int ifindex, const char *kind, uint32_t handle, const void *options,
                     size_t length);

/// `tc qdisc show dev IFINDEX root`: one RTM_GETQDISC dump; copies the root qdisc's TCA_OPTIONS of
/// `ifindex` into `out` (at most `capacity` bytes). Returns the options' length, or -errno (-ENOENT:
/// no root found).
int raw_read_root(int fd, int ifindex, uint32_t handle, void *out, size_t capacity);

/// `tc qdisc del dev IFINDEX root handle HANDLE`: one RTM_DELQDISC, waits for the ack. 0 or -errno.
int raw_delete_root(int fd, int ifindex, uint32_t handle);

/// Sends one whole netlink message (`message`, `length` bytes, header included; its sequence number
/// and NLM_F_ACK are set here, except on a dump) and waits for its ack, or for a dump's NLMSG_DONE.
/// Returns the number of reply messages (0 for a change), or -errno.
int raw_send_message(int fd, void *message, size_t length);

/// Round trips (requests) sent by this file so far.
long raw_requests_sent(void);

#endif
