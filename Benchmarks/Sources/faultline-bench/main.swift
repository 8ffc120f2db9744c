// faultline-bench: every figure measured two ways in the same run (faultline in-process vs spawning
// tc), written as JSON; `make bench` (scripts/bench) runs it on the host and in the real-kernel VM and
// merges both. See docs/BENCHMARKS.md.
//
// The top level is synchronous on purpose: an `async` main parks the main thread in libdispatch's
// `dispatch_main`, whose `rt_sigsuspend` on a read-only signal set crashes valgrind 3.19 (it writes
// to the set), and callgrind is how the figures are profiled. `blocking` runs the async work instead.
import Foundation

do {
  let options = try Options(Array(CommandLine.arguments.dropFirst()))
  switch options.command {
  case "vm", "host": try blocking { try await runSuite(options, where: options.command) }
  case "report": try Report.run(options)
  case "profile": try blocking { try await profileLoop(options) }
  default: throw BenchError("unknown command \(options.command)\n\(usage)")
  }
} catch {
  progress("\(error)")
  exit(1)
}
