// zlib (Debian's zlib1g-dev), imported only by TraceAnalysis's GzipReader.
#include <zlib.h>

// inflateInit2 is a macro over inflateInit2_ Swift cannot call.
static inline int czlib_inflate_init_gzip(z_stream *stream) {
  // 15 + 16: a gzip header (not zlib, not raw deflate), the largest window.
  return inflateInit2(stream, 15 + 16);
}
