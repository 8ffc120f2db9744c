/// A root qdisc to install with faultline's handle, and how to check what the kernel reports back.
///
/// netem is the one faultline applies; the benchmarks also install tbf through the same steps, on a
/// kernel without netem (``NetemKernel/applyTokenBucketProxy(bytesPerSecond:to:)``).
struct RootQdiscRequest<Applied: Sendable>: Sendable {
  /// `TCA_KIND`, e.g. `netem`.
  var kind: String
  /// `TCA_OPTIONS`, encoded once for the request.
  var options: [UInt8]
  /// The kernel module the kind needs, named when the kernel does not know the kind.
  var module: String
  /// Decodes the read-back options: what the kernel holds, and how it differs from the request.
  var readBack: @Sendable ([UInt8]) throws(KernelError) -> (Applied, [String])
}
