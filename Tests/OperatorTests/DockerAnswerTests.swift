import JSON
import XCTest

@testable import machdb

/// Reading the Docker daemon's answers and wording its requests.
final class DockerAnswerTests: XCTestCase {
    /// `GET /containers/json?all=true` from Docker 20.10, trimmed: one managed node running, one
    /// exited, one without labels, one entry without an id.
    static let list = """
    [
      {"Id": "8dfafdbc3a40aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Names": ["/machdb-op1"], "Image": "machdb:latest",
       "ImageID": "sha256:ee66", "Command": "/usr/local/bin/machdb serve --node-id op1", "Created": 1733580000,
       "Ports": [], "Labels": {"io.machdb.managed": "true", "io.machdb.network": "machdb", "io.machdb.node": "op1",
       "io.machdb.recommendation": "rec-1", "io.machdb.join-url": "http://n1:8080"},
       "State": "running", "Status": "Up 3 minutes (healthy)", "HostConfig": {"NetworkMode": "machdb"},
       "NetworkSettings": {"Networks": {"machdb": {"IPAddress": "172.20.0.4"}}}, "Mounts": []},
      {"Id": "1234567890ab1234", "Names": ["/machdb-op2"], "Image": "machdb:latest", "Created": 1733580100,
       "Labels": {"io.machdb.managed": "true", "io.machdb.node": "op2"}, "State": "exited", "Status": "Exited (0) 5 seconds ago"},
      {"Id": "abcdef", "Names": ["plain"], "Image": "debian", "Created": 1, "Labels": {}, "State": "created", "Status": "Created"},
      {"Names": ["/no-id"], "State": "running"}
    ]
    """

    func testContainerListParses() throws {
        let containers = try JSON.parse(Self.list).elements.compactMap(ContainerSummary.init(json:))
        XCTAssertEqual(containers.map(\.name), ["machdb-op1", "machdb-op2", "plain"])
        let first = containers[0]
        XCTAssertEqual(first.shortID, "8dfafdbc3a40")
        XCTAssertEqual(first.image, "machdb:latest")
        XCTAssertEqual(first.state, "running")
        XCTAssertEqual(first.status, "Up 3 minutes (healthy)")
        XCTAssertEqual(first.created, 1_733_580_000)
        XCTAssertEqual(first.labels["io.machdb.node"], "op1")
        XCTAssertEqual(first.labels["io.machdb.recommendation"], "rec-1")
        XCTAssertEqual(containers.map(\.isActive), [true, false, true])
        XCTAssertEqual(containers.map(\.isRunning), [true, false, false])
        XCTAssertEqual(containers[2].labels, [:])
    }

    func testStatesThatCountAgainstMaxNodes() throws {
        for (state, active) in [("created", true), ("running", true), ("restarting", true), ("paused", true),
                                ("removing", false), ("exited", false), ("dead", false)] {
            let summary = try XCTUnwrap(ContainerSummary(json: .object([("Id", "x"), ("State", .string(state))])))
            XCTAssertEqual(summary.isActive, active, state)
        }
    }

    func testLabelFilterAndQueryEncoding() throws {
        let filter = DockerEngine.labelFilter(["io.machdb.managed=true", "io.machdb.network=machdb-test"])
        XCTAssertEqual(try JSON.parse(filter), .object([("label", .array(["io.machdb.managed=true", "io.machdb.network=machdb-test"]))]))
        XCTAssertEqual(DockerEngine.percentEncoded(#"{"label":["a=b"]}"#), "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D")
        XCTAssertEqual(DockerEngine.percentEncoded("machdb-op1_2.x~"), "machdb-op1_2.x~")
        XCTAssertEqual(DockerEngine.percentEncoded("é /"), "%C3%A9%20%2F")
    }

    func testAPIVersionNegotiation() {
        let table: [(server: String, minimum: String?, chosen: String)] = [
            ("1.41", "1.12", "1.41"),  // Debian bookworm's docker.io 20.10
            ("1.50", "1.24", "1.41"),  // a newer daemon still speaks 1.41
            ("1.52", "1.44", "1.44"),  // one that dropped it: its oldest
            ("1.40", "1.12", "1.40"),  // an older daemon: its newest
            ("1.45", nil, "1.41"),
            ("garbage", nil, "1.41"),
            ("2.0", "1.50", "1.50"),
        ]
        for row in table {
            XCTAssertEqual(APIVersion.negotiate(server: row.server, minimum: row.minimum), row.chosen, "\(row)")
        }
        XCTAssertNil(APIVersion.parse("1"))
        XCTAssertNil(APIVersion.parse("1.x"))
        XCTAssertTrue(APIVersion.parse("1.9")! < APIVersion.parse("1.41")!)
    }

    func testDaemonErrorsReadAsTheDaemonsMessage() {
        let error = DockerError.daemon(status: 404, message: "No such image: machdb:nope", request: "POST /v1.41/containers/create")
        XCTAssertEqual("\(error)", "Docker daemon: POST /v1.41/containers/create: HTTP 404: No such image: machdb:nope")
        XCTAssertTrue("\(DockerError.unreachable("/var/run/docker.sock: Couldn't connect to server"))".hasPrefix("Docker daemon unreachable"))
    }

    func testAnUnreachableDaemonIsAnErrorNotAHang() {
        let engine = DockerEngine(socketPath: "/nonexistent/docker.sock", timeoutMilliseconds: 2_000)
        XCTAssertThrowsError(try engine.listContainers(labels: ["io.machdb.managed=true"])) { error in
            guard case .unreachable = error as? DockerError else { return XCTFail("\(error)") }
        }
    }
}
