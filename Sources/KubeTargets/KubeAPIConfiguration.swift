import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// How to reach the Kubernetes API server.
///
/// Built by ``resolve(kubeAPI:environment:serviceAccountDirectory:)`` from the CLI: `--kube-api URL`
/// when given (plain `http://` allowed, e.g. `kubectl proxy` or a test server), otherwise the
/// in-cluster configuration of a pod (``inCluster(environment:serviceAccountDirectory:)``).
public struct KubeAPIConfiguration: Sendable, Hashable {
  /// The directory Kubernetes mounts a pod's service-account token and cluster CA in.
  public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

  /// The API server's base URL, without a trailing slash.
  /// Flag `--kube-api`; default `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`.
  public var baseURL: String
  /// A file holding the bearer token, read again for every request (kubelet rotates projected
  /// tokens). Default in a pod: `<serviceAccountDirectory>/token`; none with `--kube-api`.
  public var tokenFile: String?
  /// PEM CA bundle that signs the API server's certificate (for `https`). Default in a pod:
  /// `<serviceAccountDirectory>/ca.crt`; with `--kube-api`, the system's trust store.
  public var caFile: String?
  /// Longest wait for a list, or for the response head of a watch. Default 30 s.
  public var requestTimeout: Duration
  /// How long the server keeps one watch open (`timeoutSeconds`) before the client reconnects
  /// from the last resource version. Default 5 minutes.
  public var watchTimeout: Duration
  /// First wait after a failed request; doubled (with ±20 % jitter) per consecutive failure.
  /// Default 0.5 s.
  public var initialBackoff: Duration
  /// Longest wait between retries. Default 30 s.
  public var maximumBackoff: Duration

  /// A configuration for the server at `baseURL`.
  ///
  /// - Throws: ``KubeTargetsError/invalidAPIURL(_:_:)`` unless `baseURL` is an `http://` or
  ///   `https://` URL with a host.
  public init(
    baseURL: String, tokenFile: String? = nil, caFile: String? = nil, requestTimeout: Duration = .seconds(30),
    watchTimeout: Duration = .seconds(300), initialBackoff: Duration = .milliseconds(500),
    maximumBackoff: Duration = .seconds(30)
  ) throws(KubeTargetsError) {
    var url = baseURL.trimmingCharacters(in: .whitespaces)
    while url.hasSuffix("/") { url.removeLast() }
    guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
      scheme == "http" || scheme == "https"
    else {
      throw .invalidAPIURL(baseURL, "not an http:// or https:// URL")
    }
    guard let host = parsed.host, !host.isEmpty else { throw .invalidAPIURL(baseURL, "no host") }
    guard parsed.query == nil else { throw .invalidAPIURL(baseURL, "a query string is not allowed") }
    self.baseURL = url
    self.tokenFile = tokenFile
    self.caFile = caFile
    self.requestTimeout = requestTimeout
    self.watchTimeout = watchTimeout
    self.initialBackoff = initialBackoff
    self.maximumBackoff = maximumBackoff
  }

  /// The configuration of a pod's own service account: `https://$KUBERNETES_SERVICE_HOST:`
  /// `$KUBERNETES_SERVICE_PORT` (IPv6 hosts bracketed), the token and CA in `serviceAccountDirectory`.
  ///
  /// - Throws: ``KubeTargetsError`` when the variables are unset or the token cannot be read.
  public static func inCluster(
    environment: [String: String] = ProcessInfo.processInfo.environment,
    serviceAccountDirectory: String = Self.serviceAccountDirectory
  ) throws(KubeTargetsError) -> Self {
    guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
      throw .noClusterConfiguration("KUBERNETES_SERVICE_HOST is not set (not running in a pod)")
    }
    guard let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
      throw .noClusterConfiguration("KUBERNETES_SERVICE_PORT is not set (not running in a pod)")
    }
    let tokenFile = serviceAccountDirectory + "/token"
    guard (try? readSmallFile(tokenFile)) != nil else {
      throw .unreadable(
        tokenFile, "the service-account token is missing; set automountServiceAccountToken: true")
    }
    let caFile = serviceAccountDirectory + "/ca.crt"
    let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    return try Self(baseURL: "https://\(hostPart):\(port)", tokenFile: tokenFile, caFile: caFile)
  }

  /// `--kube-api URL` when given, else ``inCluster(environment:serviceAccountDirectory:)``.
  public static func resolve(
    kubeAPI: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
    serviceAccountDirectory: String = Self.serviceAccountDirectory
  ) throws(KubeTargetsError) -> Self {
    if let kubeAPI { return try Self(baseURL: kubeAPI) }
    return try inCluster(environment: environment, serviceAccountDirectory: serviceAccountDirectory)
  }

  /// The async-http-client configuration for this server: the CA as the only trust root when
  /// ``caFile`` is set, no redirects, no retried connection attempts, and a read timeout long enough
  /// for an idle watch.
  ///
  /// - Throws: ``KubeTargetsError/unreadable(_:_:)`` when the CA file is not PEM.
  public func httpClientConfiguration() throws(KubeTargetsError) -> HTTPClient.Configuration {
    var configuration = HTTPClient.Configuration(
      redirectConfiguration: .disallow,
      timeout: .init(
        connect: .nanoseconds(Self.nanoseconds(requestTimeout)),
        read: .nanoseconds(Self.nanoseconds(watchTimeout + .seconds(60)))))
    // Fail a request at the first refused connection: the watch retries with its own backoff, and
    // `faultline plan` should say "connection refused" at once rather than after the timeout.
    configuration.connectionPool.retryConnectionEstablishment = false
    if let caFile {
      var tls = TLSConfiguration.makeClientConfiguration()
      do {
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
      } catch {
        throw .unreadable(caFile, "not a PEM certificate bundle (\(error))")
      }
      configuration.tlsConfiguration = tls
    }
    return configuration
  }

  /// `duration` in whole nanoseconds (saturating).
  static func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    return overflow ? .max : product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
  }
}
