import JSON
import Logging
import XCTest

@testable import machdb

/// The body of `POST /containers/create` for a provisioned node.
final class ContainerSpecTests: XCTestCase {
    static func settings(hook: String? = "http://operator:7900/hook", tokens: Bool = true, extra: [String] = []) -> OperatorSettings {
        OperatorSettings(secret: "hook-secret", provision: .docker, dataRoot: "/nonexistent-operator-root",
                         clusterToken: tokens ? "cluster-token" : nil, adminToken: tokens ? "admin-token" : nil, hookURL: hook,
                         nodePrefix: "op", maxNodes: 3, extraArgs: extra, dockerSocket: "/nonexistent.sock",
                         dockerImage: "machdb:test", dockerNetwork: "demo-net")
    }

    static func containers(_ settings: OperatorSettings) -> DockerContainers {
        DockerContainers(settings: settings, logger: Logger(label: "test"))
    }

    func testTheNodeJoinsAtItsContainerNameWithTokensAndHookInTheEnvironment() throws {
        let spec = Self.containers(Self.settings(extra: ["--read-wait", "200"]))
            .containerSpec(node: "op2", level: 3, joinURL: "http://n1:8080", recommendation: "rec-42")
        XCTAssertEqual(spec.name, "demo-net-op2")
        XCTAssertEqual(spec.command, [
            "serve", "--node-id", "op2", "--listen", "0.0.0.0:8080", "--advertise", "http://demo-net-op2:8080",
            "--join", "http://n1:8080", "--level", "3", "--read-wait", "200",
        ])
        // Secrets stay off the command line.
        XCTAssertFalse(spec.command.contains { $0.contains("token") || $0.contains("secret") })

        let body = spec.json
        XCTAssertEqual(body["Image"]?.stringValue, "machdb:test")
        XCTAssertEqual(body["Hostname"]?.stringValue, "demo-net-op2")
        XCTAssertEqual(body["Cmd"]?.elements.compactMap(\.stringValue), spec.command)
        XCTAssertEqual(body["Env"]?.elements.compactMap(\.stringValue), [
            "MACHDB_DATA_DIR=/data", "MACHDB_CLUSTER_TOKEN=cluster-token", "MACHDB_ADMIN_TOKEN=admin-token",
            "MACHDB_HOOK_URL=http://operator:7900/hook", "MACHDB_HOOK_SECRET=hook-secret",
        ])
        let labels = Dictionary(uniqueKeysWithValues: (body["Labels"]?.members ?? []).map { ($0.key, $0.value.stringValue ?? "") })
        XCTAssertEqual(labels, [
            "io.machdb.managed": "true", "io.machdb.network": "demo-net", "io.machdb.node": "op2",
            "io.machdb.recommendation": "rec-42", "io.machdb.join-url": "http://n1:8080",
        ])
        XCTAssertEqual(body["Labels"]?.members.map(\.key), labels.keys.sorted(), "labels are written sorted")
        XCTAssertEqual(body["HostConfig"]?["NetworkMode"]?.stringValue, "demo-net")
        XCTAssertEqual(body["HostConfig"]?["RestartPolicy"]?["Name"]?.stringValue, "no")
        XCTAssertEqual(body["NetworkingConfig"]?["EndpointsConfig"]?.members.map(\.key), ["demo-net"])
        // The body is what the daemon gets: valid JSON that reads back the same.
        XCTAssertEqual(try JSON.parse(body.encoded()), body)
    }

    func testWithoutTokensOrHookTheEnvironmentHoldsOnlyTheDataDirectory() {
        let spec = Self.containers(Self.settings(hook: nil, tokens: false))
            .containerSpec(node: "op1", level: 1, joinURL: "http://machdb-op3:8080", recommendation: "r")
        XCTAssertEqual(spec.environment.map(\.name), ["MACHDB_DATA_DIR"])
        XCTAssertEqual(spec.labels["io.machdb.join-url"], "http://machdb-op3:8080")
    }

    func testLocalNodesGetTheHookAndTheSecretAsFlags() {
        var settings = Self.settings(extra: ["--log-level", "warning"])
        settings.provision = .local
        settings.dataRoot = "/tmp/op"
        let local = LocalProcesses(settings: settings, logger: Logger(label: "test"))
        XCTAssertEqual(local.arguments(node: "op1", port: 7101, level: 2, joinURL: "http://127.0.0.1:7001"), [
            "serve", "--node-id", "op1", "--data-dir", "/tmp/op/op1", "--listen", "127.0.0.1:7101", "--join", "http://127.0.0.1:7001",
            "--level", "2", "--cluster-token", "cluster-token", "--admin-token", "admin-token",
            "--hook-url", "http://operator:7900/hook", "--hook-secret", "hook-secret", "--log-level", "warning",
        ])
        settings.hookURL = nil
        let quiet = LocalProcesses(settings: settings, logger: Logger(label: "test"))
        XCTAssertFalse(quiet.arguments(node: "op1", port: 7101, level: 1, joinURL: "http://x:1").contains("--hook-url"))
    }

    func testNamesFollowDockersRule() {
        for good in ["machdb", "machdb-test", "m1", "a_b.c-d", "0net"] {
            XCTAssertTrue(DockerContainers.isValidName(good), good)
        }
        for bad in ["", "m", "-net", ".net", "_net", "has space", "net/1", "ünï", "net:1"] {
            XCTAssertFalse(DockerContainers.isValidName(bad), bad)
        }
    }
}
