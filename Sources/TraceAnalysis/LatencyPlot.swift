import Foundation

/// An inline SVG of two cumulative latency distributions, baseline against window: a CDF shows
/// both the shift of the median and the stretch of the tail on one set of axes, and needs no
/// binning choice the way a histogram does.
enum LatencyPlot {
  static let width = 560.0
  static let height = 260.0
  static let left = 56.0
  static let right = 16.0
  static let top = 16.0
  static let bottom = 40.0
  static let baselineColor = "#4477aa"
  static let windowColor = "#cc3311"

  /// The SVG element for `distribution`.
  static func svg(_ distribution: LatencyDistribution) -> String {
    let all = distribution.baselineMs + distribution.windowMs
    let maxMs = niceCeiling(max(all.max() ?? 1, 0.001))
    let plotWidth = width - left - right
    let plotHeight = height - top - bottom
    func x(_ ms: Double) -> Double { left + ms / maxMs * plotWidth }
    func y(_ fraction: Double) -> Double { top + (1 - fraction) * plotHeight }
    func number(_ value: Double) -> String { String(format: "%.1f", value) }

    var out = HTMLText()
    let label =
      "\(distribution.service) \(distribution.operation) (\(distribution.role.rawValue)): latency CDF, baseline and window"
    out.open(
      "svg",
      [
        ("xmlns", "http://www.w3.org/2000/svg"), ("class", "plot"), ("role", "img"), ("aria-label", label),
        ("viewBox", "0 0 \(Int(width)) \(Int(height))"), ("width", String(Int(width))),
        ("height", String(Int(height))),
      ])
    out.element("title", [], label)
    // Grid and axes.
    for step in 0...4 {
      let fraction = Double(step) / 4
      out.raw(
        "<line class=\"grid\" x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(y(fraction)))\" y2=\"\(number(y(fraction)))\"/>"
      )
      out.raw(
        "<text class=\"tick\" x=\"\(number(left - 6))\" y=\"\(number(y(fraction) + 4))\" text-anchor=\"end\">\(Int(fraction * 100))%</text>"
      )
      let ms = maxMs * fraction
      out.raw(
        "<line class=\"grid\" x1=\"\(number(x(ms)))\" x2=\"\(number(x(ms)))\" y1=\"\(number(top))\" y2=\"\(number(height - bottom))\"/>"
      )
      out.raw(
        "<text class=\"tick\" x=\"\(number(x(ms)))\" y=\"\(number(height - bottom + 16))\" text-anchor=\"middle\">\(tick(ms))</text>"
      )
    }
    out.raw(
      "<text class=\"axis\" x=\"\(number(left + plotWidth / 2))\" y=\"\(number(height - 4))\" text-anchor=\"middle\">latency (ms)</text>"
    )
    for (values, color, name) in [
      (distribution.baselineMs, baselineColor, "baseline"), (distribution.windowMs, windowColor, "window"),
    ] where !values.isEmpty {
      // A step line: the fraction of requests at or below each latency.
      var points: [String] = ["\(number(x(0))),\(number(y(0)))"]
      for (index, ms) in values.enumerated() {
        let before = index == 0 ? 0 : Double(index - 1) / 100
        points.append("\(number(x(ms))),\(number(y(before)))")
        points.append("\(number(x(ms))),\(number(y(Double(index) / 100)))")
      }
      out.raw(
        "<polyline class=\"cdf \(name)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
      )
    }
    // Legend.
    for (index, (name, color)) in [("baseline", baselineColor), ("window", windowColor)].enumerated() {
      let legendY = top + 14 + Double(index) * 18
      out.raw(
        "<line x1=\"\(number(width - right - 110))\" x2=\"\(number(width - right - 90))\" y1=\"\(number(legendY - 4))\" y2=\"\(number(legendY - 4))\" stroke=\"\(color)\" stroke-width=\"3\"/>"
      )
      out.raw(
        "<text class=\"legend\" x=\"\(number(width - right - 84))\" y=\"\(number(legendY))\">\(name)</text>")
    }
    out.close("svg")
    return out.markup
  }

  /// The smallest of 1, 2, 2.5, 5 × 10^n at or above `value`, so that the axis' quarters are round.
  static func niceCeiling(_ value: Double) -> Double {
    let magnitude = pow(10, floor(log10(value)))
    for factor in [1.0, 2, 2.5, 4, 5, 10] where factor * magnitude >= value { return factor * magnitude }
    return 10 * magnitude
  }

  static func tick(_ ms: Double) -> String {
    ms == ms.rounded() ? String(Int(ms)) : String(format: ms < 1 ? "%.2f" : "%.1f", ms)
  }
}
