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
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    // C libraries, imported only by NetemKernel.
    .systemLibrary(
      name: "CNetlink",
      pkgConfig: "libnl-route-3.0",
      providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]
    ),
    .systemLibrary(
      name: "CLibcap",
      pkgConfig: "libcap",
      providers: [.apt(["libcap-dev"])]
    ),
    // Pure values: fault parameters, units, validation, schedules, profiles. No I/O.
    .target(
      name: "FaultModel",
      dependencies: [.product(name: "Yams", package: "Yams")]
    ),
    // The only importer of CNetlink / CLibcap.
    .target(
      name: "NetemKernel",
      dependencies: [
        "FaultModel", "CNetlink", "CLibcap",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // Services: injector, scheduler, journal, annotation writer, tracing.
    .target(
      name: "FaultAgent",
      dependencies: [
        "FaultModel", "NetemKernel", "ChaosAnnotations",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    // Dependency-free reader of the annotation file, for applications.
    .target(name: "ChaosAnnotations"),
    .target(
      name: "ChaosAnnotationsTracing",
      dependencies: [
        "ChaosAnnotations",
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ]
    ),
    .executableTarget(
      name: "faultline",
      dependencies: [
        "FaultModel", "NetemKernel", "FaultAgent",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "OTel", package: "swift-otel"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ]
    ),
    .testTarget(name: "FaultModelTests", dependencies: ["FaultModel"]),
    .testTarget(name: "NetemKernelTests", dependencies: ["NetemKernel", "FaultModel"]),
    .testTarget(name: "FaultlineCLITests", dependencies: ["FaultModel"]),
  ]
)
