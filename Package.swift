// swift-tools-version: 6.2
import PackageDescription

let package = Package(
  name: "faultline",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "faultline", targets: ["faultline"]),
    .library(name: "ChaosAnnotations", targets: ["ChaosAnnotations"]),
    .library(name: "ChaosAnnotationsTracing", targets: ["ChaosAnnotationsTracing"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.3.0"),
    .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
  ],
  targets: [
    // libnl-route-3 and libcap behind one module, imported only by NetemKernel.
    .systemLibrary(
      name: "CLinux",
      pkgConfig: "libnl-route-3.0",
      providers: [.apt(["libnl-3-dev", "libnl-route-3-dev", "libcap-dev"])]
    ),
    // Pure values: fault parameters, units, validation, schedules, profiles. No I/O.
    .target(
      name: "FaultModel",
      dependencies: [.product(name: "Yams", package: "Yams")]
    ),
    // The POSIX edge: swift-system's Errno and FileDescriptor, and the one EINTR policy for the
    // system calls swift-system does not wrap.
    .target(
      name: "SystemCalls",
      dependencies: [.product(name: "SystemPackage", package: "swift-system")]
    ),
    // The only importer of CLinux.
    .target(
      name: "NetemKernel",
      dependencies: [
        "FaultModel", "CLinux", "SystemCalls",
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // Injector and journal (the daemon's services build on them).
    .target(
      name: "FaultAgent",
      dependencies: [
        "FaultModel", "NetemKernel", "ChaosAnnotations", "SystemCalls",
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "Instrumentation", package: "swift-distributed-tracing"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
      ]
    ),
    // The OTLP exporter (swift-otel), configured from the standard OTEL_* variables.
    // Only the executables link it; everything else speaks the swift-distributed-tracing API.
    .target(
      name: "FaultTelemetry",
      dependencies: [
        "FaultModel",
        .product(name: "OTel", package: "swift-otel"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    // The agent's small HTTP port: /healthz, /readyz and /metrics (swift-prometheus renders it).
    .target(
      name: "AgentEndpoints",
      dependencies: [
        "FaultAgent",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
      ]
    ),
    // DaemonSet mode: pods on this node from the API server, mapped to their network
    // namespaces through kubelet's cgroups and /proc (no container-runtime API).
    .target(
      name: "KubeTargets",
      dependencies: [
        "FaultModel", "SystemCalls",
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ]
    ),
    // The reader (and the format) of the annotation file, for applications: depends on swift-system
    // only, and builds on macOS too.
    .target(
      name: "ChaosAnnotations",
      dependencies: [.product(name: "SystemPackage", package: "swift-system")]
    ),
    // Marks the current span of a request with the active experiment and links it (for apps).
    .target(
      name: "ChaosAnnotationsTracing",
      dependencies: [
        "ChaosAnnotations",
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "Instrumentation", package: "swift-distributed-tracing"),
      ]
    ),
    // zlib, imported only by TraceAnalysis (gzip span files).
    .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
    // `faultline analyze`: spans from OTLP JSON files, fault windows, statistics and verdicts.
    // The model is pure; only OTLPFile and GzipInflater read files.
    .target(name: "TraceAnalysis", dependencies: ["ChaosAnnotations", "CZlib"]),
    // The tracing backends' query APIs (Jaeger api_v3 and internal JSON, Tempo) as span sources.
    .target(
      name: "TraceBackends",
      dependencies: [
        "TraceAnalysis", "ChaosAnnotations",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .executableTarget(
      name: "faultline",
      dependencies: [
        "FaultModel", "NetemKernel", "FaultAgent", "FaultTelemetry", "KubeTargets", "AgentEndpoints",
        "ChaosAnnotations", "TraceAnalysis", "TraceBackends",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]
    ),
    // `make bench`: the same work done in-process and by spawning tc, side by side.
    .executableTarget(
      name: "faultline-bench",
      dependencies: [
        "FaultModel", "NetemKernel", "FaultAgent", "ChaosAnnotations", "FaultTelemetry", "RawNetlink",
      ],
      path: "Benchmarks/Sources/faultline-bench"
    ),
    // The benchmarks' floor: the same netlink requests sent by a minimal C sender.
    .target(name: "RawNetlink", path: "Benchmarks/Sources/RawNetlink"),
    // The agent's test doubles: an in-memory kernel, a manual clock, scripted profiles and pods.
    .target(
      name: "AgentTestSupport",
      dependencies: [
        "FaultAgent", "FaultModel", "NetemKernel", .product(name: "SystemPackage", package: "swift-system"),
      ]
    ),
    .testTarget(name: "FaultModelTests", dependencies: ["FaultModel"]),
    .testTarget(
      name: "FaultAgentTests",
      dependencies: [
        "FaultAgent", "FaultModel", "NetemKernel", "AgentTestSupport",
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
        .product(name: "MetricsTestKit", package: "swift-metrics"),
      ]),
    .testTarget(
      name: "NetemKernelTests",
      dependencies: [
        "NetemKernel", "FaultModel", "AgentTestSupport",
        .product(name: "SystemPackage", package: "swift-system"),
      ]),
    .testTarget(
      name: "ChaosAnnotationsTests",
      dependencies: [
        "ChaosAnnotations", "ChaosAnnotationsTracing", "FaultAgent", "FaultModel", "AgentTestSupport",
      ]),
    .testTarget(
      name: "TraceAnalysisTests",
      dependencies: [
        "TraceAnalysis", "TraceBackends", "ChaosAnnotations", "AgentTestSupport",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
      ],
      exclude: ["Fixtures"]),
    .testTarget(
      name: "AgentEndpointsTests",
      dependencies: [
        "AgentEndpoints", "FaultAgent",
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]),
    .testTarget(
      name: "KubeTargetsTests",
      dependencies: [
        "KubeTargets", "FaultModel", "AgentTestSupport",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(
      name: "FaultTelemetryTests",
      dependencies: [
        "FaultTelemetry", "FaultAgent", "FaultModel", "ChaosAnnotations", "ChaosAnnotationsTracing",
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "Logging", package: "swift-log"),
      ]),
  ]
)
