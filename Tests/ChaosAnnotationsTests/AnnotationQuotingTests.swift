import AgentTestSupport
import ChaosAnnotations
import Foundation
import Testing

/// The annotation file's values are quoted exactly as kubelet quotes them (Go's `%q`), checked
/// against Go's own test vectors and, over random Unicode, against a reference encoder written here
/// from Go's `strconv.appendQuotedWith` (rune by rune over the UTF-8 bytes).
@Suite struct AnnotationQuotingTests {
  /// Cases from Go's `strconv/quote_test.go` (`quotetests`) and the escapes kubelet writes for
  /// invisible characters.
  @Test func quotingMatchesGosOwnVectors() {
    let vectors: [(String, String)] = [
      ("\u{07}\u{08}\u{0C}\r\n\t\u{0B}", #""\a\b\f\r\n\t\v""#),
      ("\\", #""\\""#),
      ("\u{263a}", "\"\u{263a}\""),
      ("\u{10ffff}", #""\U0010ffff""#),
      ("\u{04}", #""\x04""#),
      ("!\u{00a0}!\u{2000}!\u{3000}!", #""!\u00a0!\u2000!\u3000!""#),
      ("\u{7f}", #""\x7f""#),
      ("zero\u{200b}width", #""zero\u200bwidth""#),
      ("\u{feff}bom", #""\ufeffbom""#),
      ("\u{0}", #""\x00""#),
      ("tag\u{e0001}", #""tag\U000e0001""#),
      ("line\u{2028}sep", #""line\u2028sep""#),
      ("private\u{e000}", #""private\ue000""#),
      ("e\u{301} \u{1f600} a\"b", "\"e\u{301} \u{1f600} a\\\"b\""),
    ]
    for (value, expected) in vectors {
      #expect(AnnotationFormat.quote(value) == expected, "quote(\(value.debugDescription))")
      #expect(AnnotationFormat.unquote(expected) == value, "unquote(\(expected))")
    }
  }

  @Test func theParserReadsEveryEscapeGoWrites() {
    let literal = #""\a\b\f\n\r\t\v\\\"\x00\u200b\ufeff\U0001f600\101\x41""#
    #expect(
      AnnotationFormat.unquote(literal)
        == "\u{07}\u{08}\u{0C}\n\r\t\u{0B}\\\"\u{0}\u{200b}\u{feff}\u{1f600}AA")
    // Invalid UTF-8 that Go writes as \x.. bytes reads back as U+FFFD, as Go's string conversion does.
    #expect(AnnotationFormat.unquote(#""abc\xffdef""#) == "abc\u{fffd}def")
    for bad in [#""\ud800""#, #""\U00110000""#, #""\q""#, #""\x4""#, #""a"b""#, #""end\""#, "noquotes"] {
      #expect(AnnotationFormat.unquote(bad) == nil, "\(bad)")
    }
  }

  @Test func randomUnicodeQuotesAsGoDoesAndReadsBack() {
    let seed = SplitMix64.testSeed("randomUnicodeQuotesAsGoDoesAndReadsBack")
    var random = SplitMix64(seed: seed)
    var failures = 0
    for index in 0..<3000 where failures < 5 {
      let value = randomString(&random)
      let quoted = AnnotationFormat.quote(value)
      let expected = referenceQuote(value)
      let file = AnnotationFormat.render(["chaos.experiment/name": value, "app": "x"])
      let parsed = AnnotationFormat.parse(file)
      if quoted != expected || AnnotationFormat.unquote(quoted) != value
        || parsed["chaos.experiment/name"] != value
      {
        failures += 1
        Issue.record(
          """
          seed \(seed) (rerun with FAULTLINE_TEST_SEED=\(seed)), case \(index): \
          value \(value.unicodeScalars.map { String($0.value, radix: 16) }) \
          quoted \(quoted) expected \(expected)
          """)
      }
    }
  }

  /// A string of 0–24 scalars drawn from where quoting decisions differ: ASCII and its controls,
  /// Latin-1, format characters, separators, private use, unassigned code points, the astral planes.
  func randomString(_ random: inout SplitMix64) -> String {
    let ranges: [ClosedRange<UInt32>] = [
      0x00...0x7F, 0x80...0xFF, 0x0300...0x036F, 0x2000...0x206F, 0x0100...0xD7FF, 0xE000...0xFFFF,
      0xFE00...0xFEFF, 0x10000...0x1FFFF, 0x1F000...0x1FAFF, 0xE0000...0xE01EF, 0x20000...0x10FFFF,
    ]
    var scalars = String.UnicodeScalarView()
    for _ in 0..<Int.random(in: 0..<25, using: &random) {
      let range = ranges[Int.random(in: 0..<ranges.count, using: &random)]
      let value = UInt32.random(in: range, using: &random)
      if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
    }
    return String(scalars)
  }

  /// Go's `strconv.Quote`, transcribed: for each rune decoded from the UTF-8 bytes, `"` and `\`
  /// backslashed, `IsPrint` runes as they are, then the named escapes, `\x` below space and for DEL,
  /// `\u` below 0x10000, `\U` above.
  func referenceQuote(_ value: String) -> String {
    let lowerhex = Array("0123456789abcdef".utf8)
    var buffer: [UInt8] = [UInt8(ascii: "\"")]
    func appendHex(_ value: UInt32, digits: Int) {
      for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
        buffer.append(lowerhex[Int((value >> UInt32(shift)) & 0xF)])
      }
    }
    let bytes = Array(value.utf8)
    var offset = 0
    while offset < bytes.count {
      // utf8.DecodeRuneInString (the input is valid UTF-8).
      let lead = bytes[offset]
      let width = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
      var rune = width == 1 ? UInt32(lead) : UInt32(lead) & (0xFF >> UInt32(width + 1))
      for continuation in bytes[(offset + 1)..<(offset + width)] {
        rune = rune << 6 | UInt32(continuation & 0x3F)
      }
      let encoded = bytes[offset..<(offset + width)]
      offset += width
      if rune == 0x22 || rune == 0x5C {
        buffer += [UInt8(ascii: "\\"), UInt8(rune)]
        continue
      }
      if goIsPrint(rune) {
        buffer += encoded
        continue
      }
      let named: [UInt32: Character] = [7: "a", 8: "b", 12: "f", 10: "n", 13: "r", 9: "t", 11: "v"]
      if let letter = named[rune] {
        buffer += [UInt8(ascii: "\\"), letter.asciiValue!]
      } else if rune < 0x20 || rune == 0x7F {
        buffer += Array(#"\x"#.utf8)
        appendHex(rune, digits: 2)
      } else if rune < 0x10000 {
        buffer += Array(#"\u"#.utf8)
        appendHex(rune, digits: 4)
      } else {
        buffer += Array(#"\U"#.utf8)
        appendHex(rune, digits: 8)
      }
    }
    buffer.append(UInt8(ascii: "\""))
    return String(decoding: buffer, as: UTF8.self)
  }

  /// `unicode.IsPrint`: `unicode.In(r, L, M, N, P, S)` or the ASCII space.
  func goIsPrint(_ rune: UInt32) -> Bool {
    if rune == 0x20 { return true }
    guard let scalar = Unicode.Scalar(rune) else { return false }
    let printable: Set<String> = [
      "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc",
      "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So",
    ]
    return printable.contains(Self.abbreviation(scalar.properties.generalCategory))
  }

  static func abbreviation(_ category: Unicode.GeneralCategory) -> String {
    switch category {
    case .uppercaseLetter: "Lu"
    case .lowercaseLetter: "Ll"
    case .titlecaseLetter: "Lt"
    case .modifierLetter: "Lm"
    case .otherLetter: "Lo"
    case .nonspacingMark: "Mn"
    case .spacingMark: "Mc"
    case .enclosingMark: "Me"
    case .decimalNumber: "Nd"
    case .letterNumber: "Nl"
    case .otherNumber: "No"
    case .connectorPunctuation: "Pc"
    case .dashPunctuation: "Pd"
    case .openPunctuation: "Ps"
    case .closePunctuation: "Pe"
    case .initialPunctuation: "Pi"
    case .finalPunctuation: "Pf"
    case .otherPunctuation: "Po"
    case .mathSymbol: "Sm"
    case .currencySymbol: "Sc"
    case .modifierSymbol: "Sk"
    case .otherSymbol: "So"
    case .spaceSeparator: "Zs"
    case .lineSeparator: "Zl"
    case .paragraphSeparator: "Zp"
    case .control: "Cc"
    case .format: "Cf"
    case .surrogate: "Cs"
    case .privateUse: "Co"
    case .unassigned: "Cn"
    @unknown default: "?"
    }
  }
}

/// The annotation parser reads files other programs wrote: whatever the bytes, it returns (never
/// traps), and what it reads back quotes and reads back to itself.
@Suite struct AnnotationParserFuzzTests {
  @Test func arbitraryTextNeverTrapsAndWhatParsesRoundTrips() {
    let seed = SplitMix64.testSeed("arbitraryTextNeverTrapsAndWhatParsesRoundTrips")
    var random = SplitMix64(seed: seed)
    let pieces = [
      "k", "chaos.experiment/name", "=", "\"", "\\", "\\x", "\\u", "\\U", "\\0", "\\377", "\\n", "\\q", "0",
      "7", "f", "F", "ff", "d800", "0010ffff", "00110000", "\n", "\r", "\t", " ", "\u{0}", "é", "\u{200b}",
      "\u{1f600}", "\u{301}",
    ]
    for index in 0..<2000 {
      var text = ""
      for _ in 0..<Int.random(in: 0..<40, using: &random) {
        text += pieces[Int.random(in: 0..<pieces.count, using: &random)]
      }
      for (key, value) in AnnotationFormat.parse(text) {
        let line = "\(key)=\(AnnotationFormat.quote(value))"
        #expect(
          AnnotationFormat.parse(line)[key] == value || key.isEmpty,
          "seed \(seed) case \(index): \(text.debugDescription) read \(key)=\(value.debugDescription)")
      }
      if let value = AnnotationFormat.unquote(text) {
        #expect(
          AnnotationFormat.unquote(AnnotationFormat.quote(value)) == value,
          "seed \(seed) case \(index): \(text.debugDescription)")
      }
    }
  }
}
