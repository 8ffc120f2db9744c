import FaultModel
import Foundation
import Testing

@testable import KubeTargets

/// Decoding the API server's JSON (samples shaped as a 1.30 API server sends them, trimmed only
/// where repetitive) and rendering queries.
@Suite struct KubeAPIDecodingTests {
  static let podList = """
    {
      "kind": "PodList",
      "apiVersion": "v1",
      "metadata": {"resourceVersion": "1385270"},
      "items": [
        {
          "metadata": {
            "name": "payment-service-7d9f8b6c5d-x2k4p",
            "generateName": "payment-service-7d9f8b6c5d-",
            "namespace": "default",
            "uid": "5f1d4b3e-8a8c-4a8e-9e3b-2c1d0e9f7a6b",
            "resourceVersion": "1385120",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"app": "payment-service", "pod-template-hash": "7d9f8b6c5d"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T09:59:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "payment-service-7d9f8b6c5d",
              "uid": "0d9c7b5a-1111-4222-8333-444455556666", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
              "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]
          },
          "spec": {
            "volumes": [{"name": "kube-api-access-7xq2d", "projected": {"sources": [{"serviceAccountToken":
              {"expirationSeconds": 3607, "path": "token"}}], "defaultMode": 420}}],
            "containers": [{"name": "app", "image": "ghcr.io/example/payment:1.4.2",
              "ports": [{"containerPort": 8080, "protocol": "TCP"}], "resources": {},
              "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": "worker-1",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
              "tolerationSeconds": 300}],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
          },
          "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null,
              "lastTransitionTime": "2024-05-01T10:00:05Z"}],
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "podIP": "10.244.1.7",
            "podIPs": [{"ip": "10.244.1.7"}],
            "startTime": "2024-05-01T10:00:00Z",
            "containerStatuses": [{"name": "app", "state": {"running": {"startedAt": "2024-05-01T10:00:04Z"}},
              "lastState": {}, "ready": true, "restartCount": 0, "image": "ghcr.io/example/payment:1.4.2",
              "imageID": "ghcr.io/example/payment@sha256:0123", "containerID":
              "containerd://4c4b7c1f0c2c3e6e2a1d8f9e0b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b", "started": true}],
            "qosClass": "BestEffort"
          }
        },
        {
          "metadata": {
            "name": "kube-proxy-8xk2m", "namespace": "kube-system", "uid": "9e8d7c6b-5a49-4838-a727-161514131211",
            "resourceVersion": "1200", "labels": {"k8s-app": "kube-proxy"}
          },
          "spec": {"nodeName": "worker-1", "hostNetwork": true, "containers": [{"name": "kube-proxy"}]},
          "status": {"phase": "Running"}
        },
        {
          "metadata": {
            "name": "etcd-control-plane", "namespace": "kube-system", "uid": "a3b2c1d0-1234-4567-89ab-cdef01234567",
            "annotations": {"kubernetes.io/config.mirror": "6c7a3f8e9b1d2c4e5f6a7b8c9d0e1f2a",
              "kubernetes.io/config.source": "file"},
            "deletionTimestamp": "2024-05-01T11:00:00Z"
          },
          "spec": {"nodeName": "control-plane"},
          "status": {"phase": "Pending"}
        }
      ]
    }
    """

  @Test func decodesAPodListKeepingOnlyWhatFaultlineNeeds() throws {
    let list = try JSONDecoder().decode(PodList.self, from: Data(Self.podList.utf8))
    #expect(list.resourceVersion == "1385270")
    #expect(list.items.count == 3)
    let pod = list.items[0]
    #expect(pod.name == "payment-service-7d9f8b6c5d-x2k4p")
    #expect(pod.namespace == "default")
    #expect(pod.uid == "5f1d4b3e-8a8c-4a8e-9e3b-2c1d0e9f7a6b")
    #expect(pod.labels == ["app": "payment-service", "pod-template-hash": "7d9f8b6c5d"])
    #expect(pod.annotations.isEmpty)
    #expect(pod.resourceVersion == "1385120")
    #expect(pod.nodeName == "worker-1")
    #expect(!pod.hostNetwork)
    #expect(pod.phase == "Running")
    #expect(!pod.isTerminating)
    #expect(pod.qualifiedName == "default/payment-service-7d9f8b6c5d-x2k4p")
    #expect(list.items[1].hostNetwork)
    let mirror = list.items[2]
    #expect(mirror.cgroupUID == "6c7a3f8e9b1d2c4e5f6a7b8c9d0e1f2a")
    #expect(mirror.isTerminating)
    #expect(mirror.labels.isEmpty)
    #expect(mirror.phase == "Pending")
  }

  @Test func anEmptyListHasNullItems() throws {
    let text = #"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":null}"#
    let list = try JSONDecoder().decode(PodList.self, from: Data(text.utf8))
    #expect(list.items.isEmpty)
    #expect(list.resourceVersion == "7")
  }

  @Test func aPodRoundTripsThroughItsAPIShape() throws {
    let pod = Pod(
      name: "web-0", namespace: "shop", uid: "u1", labels: ["app": "web"], resourceVersion: "5",
      nodeName: "n1",
      hostNetwork: true, phase: "Running")
    let decoded = try JSONDecoder().decode(Pod.self, from: try JSONEncoder().encode(pod))
    #expect(decoded == pod)
  }

  @Test func decodesWatchEvents() throws {
    let added = try PodWatchEvent(
      json: Data(
        #"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-9","namespace":"default","uid":"u9","resourceVersion":"1385300","labels":{"app":"web"}},"spec":{"nodeName":"worker-1","containers":[{"name":"app"}]},"status":{"phase":"Pending","qosClass":"BestEffort"}}}"#
          .utf8))
    guard case .added(let pod) = added else { throw TestFailure("not ADDED: \(added)") }
    #expect(pod.name == "web-9" && pod.phase == "Pending" && pod.resourceVersion == "1385300")

    let deleted = try PodWatchEvent(
      json: Data(
        #"{"type":"DELETED","object":{"metadata":{"name":"web-9","namespace":"default","uid":"u9"}}}"#.utf8))
    #expect(deleted == .deleted(Pod(name: "web-9", namespace: "default", uid: "u9", phase: "")))

    // A real bookmark: only the resource version (and the initial-events annotation) is set.
    let bookmark = try PodWatchEvent(
      json: Data(
        #"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"1385400","creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true"}},"spec":{"containers":null},"status":{}}}"#
          .utf8))
    #expect(bookmark == .bookmark(resourceVersion: "1385400"))

    let gone = try PodWatchEvent(
      json: Data(
        #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1200 (1385000)","reason":"Expired","code":410}}"#
          .utf8))
    #expect(gone == .error(code: 410, reason: "Expired", message: "too old resource version: 1200 (1385000)"))
  }

  @Test func rejectsUnknownOrMalformedEvents() {
    #expect(throws: (any Error).self) { try PodWatchEvent(json: Data(#"{"type":"SYNC","object":{}}"#.utf8)) }
    #expect(throws: (any Error).self) { try PodWatchEvent(json: Data("not json".utf8)) }
    #expect(throws: (any Error).self) { try PodWatchEvent(json: Data(#"{"type":"ADDED"}"#.utf8)) }
  }

  @Test func rendersTheLabelSelectorWithKeysSorted() {
    let query = PodQuery(labels: ["tier": "web", "app": "payment", "app.kubernetes.io/part-of": "shop"])
    #expect(query.labelSelector == "app=payment,app.kubernetes.io/part-of=shop,tier=web")
    #expect(PodQuery().labelSelector == "")
  }

  @Test func rendersListAndWatchRequestTargets() {
    let query = PodQuery(
      selector: PodSelector(namespaces: ["default"], labels: ["app": "payment-service", "tier": "web"]),
      nodeName: "worker-1")
    #expect(
      query.requestTarget()
        == "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dworker-1"
        + "&labelSelector=app%3Dpayment-service%2Ctier%3Dweb")
    #expect(
      query.requestTarget(watch: true, resourceVersion: "1385270", timeoutSeconds: 300)
        == "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dworker-1"
        + "&labelSelector=app%3Dpayment-service%2Ctier%3Dweb&watch=1&resourceVersion=1385270"
        + "&allowWatchBookmarks=true&timeoutSeconds=300")
    let wide = PodQuery(selector: PodSelector(namespaces: ["a", "b"]), nodeName: "worker-1")
    #expect(wide.requestTarget() == "/api/v1/pods?fieldSelector=spec.nodeName%3Dworker-1")
    #expect(PodQuery().requestTarget() == "/api/v1/pods")
  }

  @Test func matchesOnTheClientLikeTheServer() {
    let query = PodQuery(
      selector: PodSelector(namespaces: ["a", "b"], labels: ["app": "web"]), nodeName: "worker-1")
    let pod = Pod(
      name: "p", namespace: "a", uid: "u", labels: ["app": "web", "x": "y"], nodeName: "worker-1")
    #expect(query.matches(pod))
    var other = pod
    other.namespace = "c"
    #expect(!query.matches(other))
    other = pod
    other.labels["app"] = "db"
    #expect(!query.matches(other))
    other = pod
    other.nodeName = "worker-2"
    #expect(!query.matches(other))
  }

  @Test func percentEncodesEverythingButUnreservedCharacters() {
    #expect(percentEncoded("a-b_c.d~e") == "a-b_c.d~e")
    #expect(percentEncoded("k=v,x/y z") == "k%3Dv%2Cx%2Fy%20z")
    #expect(percentEncoded("é") == "%C3%A9")
  }

  @Test func buildsTheInClusterConfiguration() throws {
    let dir = try makeTemporaryDirectory("fl-sa")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "token-value\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
    let configuration = try KubeAPIConfiguration.inCluster(
      environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
      serviceAccountDirectory: dir)
    #expect(configuration.baseURL == "https://10.96.0.1:443")
    #expect(configuration.tokenFile == dir + "/token")
    #expect(configuration.caFile == dir + "/ca.crt")
    let ipv6 = try KubeAPIConfiguration.inCluster(
      environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"],
      serviceAccountDirectory: dir)
    #expect(ipv6.baseURL == "https://[fd00::1]:443")
  }

  @Test func explainsAMissingClusterConfiguration() {
    #expect {
      try KubeAPIConfiguration.resolve(kubeAPI: nil, environment: [:])
    } throws: { error in
      let text = "\(error)"
      return text.contains("KUBERNETES_SERVICE_HOST") && text.contains("--kube-api")
    }
    #expect {
      try KubeAPIConfiguration.inCluster(
        environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
        serviceAccountDirectory: "/nonexistent")
    } throws: { error in
      "\(error)".contains("/nonexistent/token")
    }
  }

  @Test func validatesTheAPIURL() throws {
    #expect(try KubeAPIConfiguration(baseURL: "http://127.0.0.1:8001/").baseURL == "http://127.0.0.1:8001")
    for bad in ["127.0.0.1:8001", "ftp://x", "http://", "http://h?x=1"] {
      #expect(throws: KubeTargetsError.self) { try KubeAPIConfiguration(baseURL: bad) }
    }
  }

  @Test func theNodeNameComesFromTheFlagOrNodeName() throws {
    #expect(try KubeTargetsConfiguration(nodeName: "n1", environment: [:]).requireNodeName() == "n1")
    #expect(try KubeTargetsConfiguration(environment: ["NODE_NAME": "n2"]).requireNodeName() == "n2")
    #expect(
      try KubeTargetsConfiguration(nodeName: "n1", environment: ["NODE_NAME": "n2"]).requireNodeName() == "n1"
    )
    #expect {
      try KubeTargetsConfiguration(environment: [:]).requireNodeName()
    } throws: { error in
      "\(error)".contains("set --node-name or NODE_NAME")
    }
    #expect(KubeTargetsConfiguration(environment: [:]).procRoot == "/proc")
  }
}
