import Testing

@testable import KubeTargets

/// Pod UIDs from `/proc/PID/cgroup` as kubelet lays cgroups out (both drivers, cgroup v1 and v2),
/// on path strings copied from real nodes.
@Suite struct PodCgroupTests {
  static let uid = "5f1d4b3e-8a8c-4a8e-9e3b-2c1d0e9f7a6b"
  static let underscored = "5f1d4b3e_8a8c_4a8e_9e3b_2c1d0e9f7a6b"
  static let container = "4c4b7c1f0c2c3e6e2a1d8f9e0b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b"

  struct Case: Sendable, CustomTestStringConvertible {
    var path: String
    var qos: String
    var driver: PodCgroup.Driver
    var container: String?
    var testDescription: String { path }
  }

  static let cases: [Case] = [
    // cgroupfs driver (kubeadm + docker/containerd with cgroupfs, k3s, minikube)
    Case(
      path: "/kubepods/burstable/pod\(uid)/\(container)", qos: "burstable", driver: .cgroupfs,
      container: container),
    Case(
      path: "/kubepods/besteffort/pod\(uid)/\(container)", qos: "besteffort", driver: .cgroupfs,
      container: container),
    Case(
      path: "/kubepods/pod\(uid)/\(container)", qos: "guaranteed", driver: .cgroupfs, container: container),
    Case(path: "/kubepods/besteffort/pod\(uid)", qos: "besteffort", driver: .cgroupfs, container: nil),
    // kind / docker-in-docker: the node's own container cgroup in front
    Case(
      path:
        "/docker/8d1e0e6c9a7b5f3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d/kubepods/besteffort/pod\(uid)/"
        + container, qos: "besteffort", driver: .cgroupfs, container: container),
    // systemd driver (GKE, EKS, AKS, kubeadm defaults since 1.22)
    Case(
      path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(underscored).slice/"
        + "cri-containerd-\(container).scope", qos: "burstable", driver: .systemd,
      container: "cri-containerd-\(container).scope"),
    Case(
      path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(underscored).slice/"
        + "crio-\(container).scope", qos: "besteffort", driver: .systemd, container: "crio-\(container).scope"
    ),
    Case(
      path: "/kubepods.slice/kubepods-pod\(underscored).slice/docker-\(container).scope", qos: "guaranteed",
      driver: .systemd, container: "docker-\(container).scope"),
    Case(
      path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(underscored).slice",
      qos: "burstable",
      driver: .systemd, container: nil),
    // kind with cgroup v2: kubelet's slices are prefixed with `kubelet-`
    Case(
      path: "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        + "kubelet-kubepods-besteffort-pod\(underscored).slice/cri-containerd-\(container).scope",
      qos: "besteffort", driver: .systemd, container: "cri-containerd-\(container).scope"),
    // read from inside a cgroup namespace: relative to the reader's root
    Case(
      path: "/../../kubepods-besteffort-pod\(underscored).slice/cri-containerd-\(container).scope",
      qos: "besteffort", driver: .systemd, container: "cri-containerd-\(container).scope"),
    Case(
      path: "/../../../kubepods/burstable/pod\(uid)/\(container)", qos: "burstable", driver: .cgroupfs,
      container: container),
    // upper-case UID (never written by kubelet, but normalised)
    Case(
      path: "/kubepods/burstable/pod\(uid.uppercased())/\(container)", qos: "burstable", driver: .cgroupfs,
      container: container),
  ]

  @Test(arguments: cases) func readsThePodUIDFromAKubeletPath(_ item: Case) throws {
    let cgroup = try #require(PodCgroup(path: item.path))
    #expect(cgroup.podUID == Self.uid)
    #expect(cgroup.qosClass == item.qos)
    #expect(cgroup.driver == item.driver)
    #expect(cgroup.container == item.container)
  }

  @Test(arguments: [
    "/", "/system.slice/containerd.service", "/user.slice/user-1000.slice/session-2.scope", "/kubepods",
    "/kubepods/besteffort", "/kubepods/burstable/podnot-a-uid/abc", "/kubepods.slice",
    "/kubepods.slice/kubepods-besteffort.slice", "/kubepods.slice/kubepods-besteffort-podxyz.slice/x.scope",
    "/docker/8d1e0e6c9a7b", "/machine.slice/libpod-\(container).scope",
    "/kubepods/burstable/pod5f1d4b3e-8a8c-4a8e-9e3b-2c1d0e9f7a6/\(container)",  // one digit short
    "/system.slice/kubepods-pod-config.slice",
  ])
  func ignoresPathsThatAreNotAPodCgroup(_ path: String) {
    #expect(PodCgroup(path: path) == nil)
  }

  @Test func readsAStaticPodsHashUID() throws {
    let hash = "6c7a3f8e9b1d2c4e5f6a7b8c9d0e1f2a"
    #expect(PodCgroup(path: "/kubepods/burstable/pod\(hash)/\(Self.container)")?.podUID == hash)
    #expect(
      PodCgroup(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(hash).slice")?.podUID
        == hash)
  }

  @Test func readsCgroupV2File() throws {
    let text =
      "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(Self.underscored).slice/"
      + "cri-containerd-\(Self.container).scope\n"
    let cgroup = try #require(PodCgroup(procCgroupFile: text))
    #expect(cgroup.podUID == Self.uid)
    #expect(cgroup.driver == .systemd)
  }

  @Test func readsCgroupV1FileWithOneLinePerHierarchy() throws {
    let path = "/kubepods/burstable/pod\(Self.uid)/\(Self.container)"
    let text = """
      12:hugetlb:\(path)
      11:devices:\(path)
      10:memory:\(path)
      9:cpu,cpuacct:\(path)
      8:net_cls,net_prio:\(path)
      7:pids:\(path)
      6:freezer:\(path)
      5:blkio:\(path)
      4:perf_event:\(path)
      3:cpuset:\(path)
      2:rdma:/
      1:name=systemd:\(path)

      """
    let cgroup = try #require(PodCgroup(procCgroupFile: text))
    #expect(cgroup.podUID == Self.uid)
    #expect(cgroup.qosClass == "burstable")
    #expect(cgroup.driver == .cgroupfs)
  }

  @Test func readsHybridFileWhereOnlySomeHierarchiesSayThePod() throws {
    // systemd hybrid mode: the unified line is "/", v1 controllers carry the pod.
    let text = """
      13:misc:/
      5:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(Self.underscored).slice/docker-\(Self.container).scope
      1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(Self.underscored).slice/docker-\(Self.container).scope
      0::/
      """
    #expect(PodCgroup(procCgroupFile: text)?.podUID == Self.uid)
  }

  @Test func aPathWithAColonIsReadWhole() {
    let text = "0::/kubepods/besteffort/pod\(Self.uid)/odd:name\n"
    #expect(PodCgroup(procCgroupFile: text)?.container == "odd:name")
  }

  @Test func hostProcessesAreNotPods() {
    #expect(PodCgroup(procCgroupFile: "0::/init.scope\n") == nil)
    #expect(PodCgroup(procCgroupFile: "0::/system.slice/kubelet.service\n") == nil)
    #expect(PodCgroup(procCgroupFile: "12:pids:/\n1:name=systemd:/init.scope\n0::/init.scope\n") == nil)
    #expect(PodCgroup(procCgroupFile: "") == nil)
    #expect(PodCgroup(procCgroupFile: "garbage without colons\n") == nil)
  }
}
