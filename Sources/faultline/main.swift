import NetemKernel

// Keep only CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_SYS_PTRACE, before any other thread exists:
// libcap changes the calling thread only, and new threads inherit its set.
Capabilities.restrict(to: .all)

await Faultline.runMain()
