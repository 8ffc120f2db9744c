// C shim for libcap, imported only by the NetemKernel target.
#ifndef FAULTLINE_CLIBCAP_SHIM_H
#define FAULTLINE_CLIBCAP_SHIM_H
#include <sys/capability.h>
#include <sys/prctl.h>

/// Drops `cap` from the bounding set (needs CAP_SETPCAP; harmless failure otherwise).
static inline int faultline_drop_bound(cap_value_t cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }
#endif
