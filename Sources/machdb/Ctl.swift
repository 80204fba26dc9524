import ArgumentParser
import Curl
import Foundation
import JSON

/// `machdb ctl`: talks to a running node's admin API.
struct Ctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and operate a running node.",
        subcommands: [Cluster.self, Backup.self, TransferLeader.self, Split.self, Move.self, Leave.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "URL of any node.") var url = ProcessInfo.processInfo.environment["MACHDB_URL"] ?? "http://127.0.0.1:8080"
        @Option(help: "Admin bearer token (default: MACHDB_ADMIN_TOKEN).") var adminToken: String?
        @Option(help: "PEM CA that verifies an https:// --url (default: MACHDB_TLS_CA, else the system's CAs).") var tlsCa: String?

        /// Run once when the command line is parsed: the CA every request of this run trusts.
        func validate() throws {
            if let ca = tlsCa ?? ProcessInfo.processInfo.environment["MACHDB_TLS_CA"] {
                ClientTLS.configure(ClientTLS(caFile: ca, certificateFile: nil, keyFile: nil))
            }
        }

        func request(_ path: String, method: String = "GET", body: [UInt8] = [], timeoutMilliseconds: Int = 10_000) -> ClientRequest {
            var headers: [(name: String, value: String)] = []
            if let token = adminToken ?? ProcessInfo.processInfo.environment["MACHDB_ADMIN_TOKEN"] { headers.append(("Authorization", "Bearer \(token)")) }
            let base = url.hasSuffix("/") ? String(url.dropLast()) : url
            if !body.isEmpty { headers.append(("Content-Type", "application/json")) }
            return ClientRequest(method: method, url: base + path, headers: headers, body: body, timeoutMilliseconds: timeoutMilliseconds)
        }
    }

    /// Fails with the server's problem detail for a non-2xx answer.
    static func check(_ response: ClientResponse) throws {
        guard (200..<300).contains(response.status) else {
            let detail = (try? JSON.parse(response.body))?["detail"]?.stringValue ?? response.text
            throw CtlError(message: "HTTP \(response.status): \(detail)")
        }
    }

    struct Cluster: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the cluster map: stage, nodes, roles, shards.")
        @OptionGroup var connection: Connection
        @Flag(help: "Print the raw JSON.") var json = false

        func run() throws {
            let response = try HTTPClient().perform(connection.request("/admin/v1/cluster"))
            try Ctl.check(response)
            if json {
                print(response.text)
                return
            }
            let map = try JSON.parse(response.body)
            print(ClusterTable.render(map))
        }
    }

    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save a consistent snapshot of the node's database to FILE.")
        @OptionGroup var connection: Connection
        @Argument(help: "Where to write the backup.") var file: String

        func run() throws {
            let temporary = file + ".partial"
            guard FileManager.default.createFile(atPath: temporary, contents: nil),
                  let handle = FileHandle(forWritingAtPath: temporary) else {
                throw CtlError(message: "cannot write \(temporary)")
            }
            var written = 0
            var errorBody: [UInt8] = []
            var request = connection.request("/admin/v1/backup", timeoutMilliseconds: 3_600_000)
            var response: ClientResponse
            var hops = 0
            repeat {  // a node without every shard names one that holds them all (307)
                response = try HTTPClient().perform(request) { chunk in
                    if errorBody.count < 4096 && written == 0 && chunk.starts(with: Array("{".utf8)) { errorBody.append(contentsOf: chunk) }
                    handle.write(Data(chunk))
                    written += chunk.count
                    return true
                }
                hops += 1
                guard response.status == 307, let location = response.header("location"), hops < 3 else { break }
                request.url = location
            } while true
            try handle.close()
            guard (200..<300).contains(response.status) else {
                try? FileManager.default.removeItem(atPath: temporary)
                let detail = (try? JSON.parse(errorBody))?["detail"]?.stringValue ?? "backup failed"
                throw CtlError(message: "HTTP \(response.status): \(detail)")
            }
            if FileManager.default.fileExists(atPath: file) { try FileManager.default.removeItem(atPath: file) }
            try FileManager.default.moveItem(atPath: temporary, toPath: file)
            print("backup written: \(file) (\(written) bytes, index \(response.header("x-machdb-index") ?? "?"))")
        }
    }
}

extension Ctl {
    struct TransferLeader: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "transfer-leader", abstract: "Hand a shard's leadership to another caught-up voter.")
        @OptionGroup var connection: Connection
        @Option(help: "Shard id.") var shard = 1
        @Option(help: "Node id of the new leader.") var to: String

        func run() throws {
            let body = JSON.object([("to", .string(to))]).encoded()
            let response = try HTTPClient().perform(
                connection.request("/admin/v1/shards/\(shard)/transfer-leader", method: "POST", body: body, timeoutMilliseconds: 30_000))
            try Ctl.check(response)
            print("shard \(shard) leader: \((try? JSON.parse(response.body))?["leader"]?.stringValue ?? to)")
        }
    }
}

extension Ctl {
    struct Split: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Split a shard online: the new shard takes the buckets from --at on (default: where the load balances).")
        @OptionGroup var connection: Connection
        @Option(help: "Shard id.") var shard = 1
        @Option(help: "First bucket of the new shard (also its id).") var at: Int?

        func run() throws {
            let body = at.map { JSON.object([("at", .int($0))]).encoded() } ?? []
            let response = try HTTPClient().perform(
                connection.request("/admin/v1/shards/\(shard)/split", method: "POST", body: body, timeoutMilliseconds: 30_000))
            try Ctl.check(response)
            let answer = try JSON.parse(response.body)
            func range(_ key: String) -> String { (answer[key]?.elements ?? []).map(\.text).joined(separator: "-") }
            print("shard \(shard) keeps buckets \(range("buckets")); new shard \(answer["new_shard"].map(\.text) ?? "?") "
                + "holds \(range("new_buckets")) (version \(answer["version"].map(\.text) ?? "?")); watch `machdb ctl cluster`")
        }
    }
}

extension Ctl {
    struct Move: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a shard (not shard 1) to other nodes, one membership step at a time; nodes it leaves drop it.")
        @OptionGroup var connection: Connection
        @Option(help: "Shard id.") var shard: Int
        @Option(help: "Node ids the shard should live on, comma-separated (e.g. n4,n5,n6).") var to: String

        func run() throws {
            let nodes = to.split(separator: ",").map { JSON.string(String($0)) }
            let response = try HTTPClient().perform(connection.request(
                "/admin/v1/shards/\(shard)/move", method: "POST", body: JSON.object([("to", .array(nodes))]).encoded()))
            try Ctl.check(response)
            print("shard \(shard) is moving to \(to); watch `machdb ctl cluster` (MOVING)")
        }
    }

    struct Leave: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a node leave the cluster: its roles move, leadership is handed off, then it is removed.")
        @OptionGroup var connection: Connection
        @Option(help: "Node id of the node that leaves.") var node: String

        func run() throws {
            let response = try HTTPClient().perform(connection.request("/admin/v1/nodes/\(node)/leave", method: "POST", body: []))
            try Ctl.check(response)
            print("\(node) is leaving; watch `machdb ctl cluster`")
        }
    }
}

struct CtlError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The cluster map as text tables.
enum ClusterTable {
    static func render(_ map: JSON) -> String {
        var lines: [String] = []
        lines.append("cluster map v\(map["version"]?.intValue ?? 0) · stage \(map["stage"]?.stringValue ?? "?")")
        lines.append("")
        var rows: [[String]] = [["NODE", "URL", "LEVEL", "ROLES", "STATE", "RAFT", "APPLIED", "LAG", "CATCH-UP"]]
        for node in map["nodes"]?.elements ?? [] {
            var roles = (node["roles"]?.elements ?? []).compactMap(\.stringValue).joined(separator: ",")
            if node["primary_load_manager"]?.boolValue == true { roles += " (entry point)" }
            rows.append([
                node["id"]?.stringValue ?? "?", node["url"]?.stringValue ?? "",
                node["level"].map { $0.text } ?? "", roles.isEmpty ? "-" : roles,
                node["state"]?.stringValue ?? "", node["raft_state"]?.stringValue ?? "",
                node["applied_index"].map { $0.text } ?? "", node["lag"].map { $0.text } ?? "",
                node["catch_up_bytes_per_second"]?.intValue.map { "silent, \(bytes(Double($0)))/s" } ?? "full speed",
            ])
        }
        lines.append(contentsOf: table(rows))
        lines.append("")
        var shards: [[String]] = [["SHARD", "BUCKETS", "VERSION", "LEADER", "VOTERS", "LEARNERS", "PLACEMENT"]]
        for shard in map["shards"]?.elements ?? [] {
            let buckets = (shard["buckets"]?.elements ?? []).map(\.text).joined(separator: "-")
            func list(_ key: String) -> String {
                let names = (shard[key]?.elements ?? []).compactMap(\.stringValue)
                return names.isEmpty ? "-" : names.joined(separator: ",")
            }
            var placement = (shard["placement"]?["nodes"]?.elements ?? []).compactMap(\.stringValue).joined(separator: ",")
            if placement.isEmpty { placement = "every node" }
            if shard["moving"]?.boolValue == true { placement += " (MOVING)" }
            shards.append([shard["id"].map { $0.text } ?? "?", buckets, shard["version"].map { $0.text } ?? "1",
                           shard["leader"]?.stringValue ?? "-", list("voters"), list("learners"), placement])
        }
        lines.append(contentsOf: table(shards))
        for shard in map["shards"]?.elements ?? [] {
            guard let transfer = shard["snapshot_transfer"], transfer.kind == .object else { continue }
            let eta = transfer["eta_seconds"]?.doubleValue.map { ", ETA \(Int($0.rounded(.up))) s" } ?? ""
            lines.append("shard \(shard["id"].map { $0.text } ?? "?") snapshot \(transfer["direction"]?.stringValue ?? "?"): "
                + "\(transfer["percent"].map { $0.text } ?? "?") % of \(bytes(Double(transfer["total"]?.intValue ?? 0)))\(eta)")
        }
        let recommendations = (map["recommendations"]?.elements ?? []).suffix(5)
        if !recommendations.isEmpty {
            lines.append("")
            lines.append("recent recommendations:")
            for r in recommendations {
                lines.append("  #\(r["seq"].map { $0.text } ?? "?") \(r["kind"]?.stringValue ?? "?")"
                    + "\(r["target"]?.stringValue.map { " " + $0 } ?? ""): \(r["reason"]?.stringValue ?? "")")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Bytes in B, KB, MB or GB (powers of 1,000), one decimal.
    static func bytes(_ value: Double) -> String {
        let units = ["B", "KB", "MB", "GB"]
        var amount = value, unit = 0
        while amount >= 1000 && unit < units.count - 1 { amount /= 1000; unit += 1 }
        return unit == 0 ? "\(Int(amount)) B" : String(format: "%.1f %@", amount, units[unit])
    }

    private static func table(_ rows: [[String]]) -> [String] {
        guard let first = rows.first else { return [] }
        let widths = (0..<first.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
    }
}
