// swift-tools-version: 6.2
import PackageDescription

let package = Package(
  name: "faultline",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "faultline", targets: ["faultline"]),
    .library(name: "ChaosAnnotations", targets: ["ChaosAnnotations"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
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
    // The only importer of CLinux.
    .target(
      name: "NetemKernel",
      dependencies: [
        "FaultModel", "CLinux",
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // Injector and journal (the daemon's services build on them).
    .target(
      name: "FaultAgent",
      dependencies: [
        "FaultModel", "NetemKernel", "ChaosAnnotations",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),
    // Dependency-free reader (and the format) of the annotation file, for applications.
    .target(name: "ChaosAnnotations"),
    .executableTarget(
      name: "faultline",
      dependencies: [
        "FaultModel", "NetemKernel", "FaultAgent",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ]
    ),
    .testTarget(name: "FaultModelTests", dependencies: ["FaultModel"]),
    .testTarget(name: "NetemKernelTests", dependencies: ["NetemKernel", "FaultModel"]),
    .testTarget(
      name: "ChaosAnnotationsTests", dependencies: ["ChaosAnnotations", "FaultAgent", "FaultModel"]),
  ]
)
