// swift-tools-version: 6.2
import PackageDescription

// A Hummingbird 2 app whose request spans say when a faultline experiment is active.
// Built on its own (it is not part of the faultline package):
//   cd Examples/HummingbirdChaos && swift build
// SwiftPM names a path dependency after its directory (`main`, `faultline`, …), so the repository
// root's directory name is what the product dependency below refers to.
let faultline =
  Context.packageDirectory.split(separator: "/").dropLast(2).last.map(String.init) ?? "faultline"

let package = Package(
  name: "HummingbirdChaos",
  platforms: [.macOS(.v15)],
  dependencies: [
    // faultline itself, for the ChaosAnnotationsTracing library product.
    .package(path: "../.."),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
  ],
  targets: [
    .executableTarget(
      name: "HummingbirdChaos",
      dependencies: [
        .product(name: "ChaosAnnotationsTracing", package: faultline),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "OTel", package: "swift-otel"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Logging", package: "swift-log"),
      ]
    )
  ]
)
