import Testing

@testable import AgentEndpoints

@Suite struct ListenAddressTests {
  @Test(arguments: [
    ("0.0.0.0:9464", "0.0.0.0", 9464, "0.0.0.0:9464"),
    ("127.0.0.1:0", "127.0.0.1", 0, "127.0.0.1:0"),
    ("localhost:8080", "localhost", 8080, "localhost:8080"),
    ("[::]:9464", "::", 9464, "[::]:9464"),
    ("[::1]:65535", "::1", 65535, "[::1]:65535"),
    ("[fe80::1%eth0]:9464", "fe80::1%eth0", 9464, "[fe80::1%eth0]:9464"),
    (":9464", "0.0.0.0", 9464, "0.0.0.0:9464"),
    ("  node-1.example:9464 ", "node-1.example", 9464, "node-1.example:9464"),
  ])
  func parsesHostAndPort(text: String, host: String, port: Int, rendered: String) throws {
    let address = try ListenAddress(parsing: text)
    #expect(address.host == host)
    #expect(address.port == port)
    #expect(address.description == rendered)
  }

  @Test(arguments: [
    ("", "--http-address: invalid \"\": empty; use HOST:PORT, e.g. 0.0.0.0:9464"),
    ("9464", "--http-address: invalid \"9464\": missing host; use HOST:PORT, e.g. 0.0.0.0:9464"),
    ("0.0.0.0", "--http-address: invalid \"0.0.0.0\": missing port; use HOST:PORT, e.g. 0.0.0.0:9464"),
    ("0.0.0.0:", "--http-address: invalid \"0.0.0.0:\": missing port after \":\"; e.g. 0.0.0.0:9464"),
    (
      "0.0.0.0:http",
      "--http-address: invalid \"0.0.0.0:http\": port \"http\" is not a number from 0 to 65535"
    ),
    (
      "0.0.0.0:65536",
      "--http-address: invalid \"0.0.0.0:65536\": port \"65536\" is not a number from 0 to 65535"
    ),
    ("0.0.0.0:-1", "--http-address: invalid \"0.0.0.0:-1\": port \"-1\" is not a number from 0 to 65535"),
    ("::1:9464", "--http-address: invalid \"::1:9464\": an IPv6 address needs brackets, e.g. [::1]:9464"),
    ("[::1]", "--http-address: invalid \"[::1]\": missing port after \"]\"; use e.g. [::1]:9464"),
    (
      "[::1:9464",
      "--http-address: invalid \"[::1:9464\": missing \"]\" after the IPv6 address; use e.g. [::1]:9464"
    ),
    ("[nope]:9464", "--http-address: invalid \"[nope]:9464\": \"nope\" is not an IPv6 address"),
    ("[]:9464", "--http-address: invalid \"[]:9464\": \"\" is not an IPv6 address"),
    ("[::1]:", "--http-address: invalid \"[::1]:\": missing port after \":\"; e.g. [::1]:9464"),
    (
      "http://0.0.0.0:9464/metrics",
      "--http-address: invalid \"http://0.0.0.0:9464/metrics\": give HOST:PORT without a scheme or path, e.g. 0.0.0.0:9464"
    ),
    (
      "my host:9464",
      "--http-address: invalid \"my host:9464\": \" \" cannot appear in a host name or IPv4 address"
    ),
  ])
  func rejectsMalformedValuesSayingWhatToWrite(text: String, message: String) {
    let error = #expect(throws: HTTPEndpointError.self) { try ListenAddress(parsing: text) }
    #expect(error?.description == message)
    #expect(error?.isInvalidAddress == true)
  }
}
