/// The span names and attribute keys faultline and its middleware write, defined once: the agent
/// and the middleware write them, `faultline analyze` reads them back (docs/TELEMETRY.md lists them).
public enum ChaosSpanVocabulary {
  /// The span covering one fault window.
  public static let experimentSpan = "chaos.experiment"
  /// The prefix of every span faultline itself emits (`chaos.experiment`, `chaos.inject`,
  /// `chaos.revert`, `chaos.reshape`).
  public static let spanNamePrefix = "chaos."

  /// The experiment's name (profile name, `--name`, or `cli-<interface>`); comma-joined on a
  /// request span when several experiments are active.
  public static let name = "chaos.experiment.name"
  /// The window's id (32 hex digits); comma-joined on a request span when several are active.
  public static let id = "chaos.experiment.id"
  /// `true` on a request span the middleware marked during a window.
  public static let active = "chaos.experiment.active"
  /// `true` on the link from a request span to its `chaos.experiment` span (Swift middleware).
  public static let link = "chaos.experiment.link"
  /// The prefix of the requested fault's fields (`chaos.experiment.netem.delay_ms`).
  public static let netemPrefix = "chaos.experiment.netem."
  /// The prefix of the fault the kernel reported back (on `chaos.inject`).
  public static let appliedPrefix = "chaos.experiment.applied."
}
