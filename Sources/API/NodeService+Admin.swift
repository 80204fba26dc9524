import JSON
import MicroHTTPD
import Storage
#if canImport(Glibc)
import Glibc
#endif

extension NodeService {
    // MARK: Health

    func health() -> Response {
        ResponseBody.json(.object([("status", .string("ok")), ("node", .string(configuration.nodeID))]))
    }

    func readiness() throws(Problem) -> Response {
        guard isAccepting else { throw Problem(.notReady, "node is shutting down") }
        return ResponseBody.json(.object([("status", .string("ready"))]))
    }

    // MARK: Admin

    /// Bearer-token check in constant time (over the longer of the two lengths).
    func authorizeAdmin(_ request: Request) throws(Problem) {
        guard let expected = configuration.adminToken else { return }
        let header = request.header("authorization") ?? ""
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let presented = header.prefix(7).lowercased() == "bearer " ? String(header.dropFirst(7)).trimmingSpaces : ""
        guard ConstantTime.equal(Array(presented.utf8), Array(expected.utf8)) else {
            throw Problem(.unauthorized, "admin routes need Authorization: Bearer <admin token>",
                          headers: [("WWW-Authenticate", #"Bearer realm="machdb-admin""#)])
        }
    }

    /// The cluster map as this node sees it. A single node is Mach I: one shard holding every
    /// bucket, this node in every role.
    func cluster() -> Response {
        let node = JSON.object([
            ("id", .string(configuration.nodeID)),
            ("url", .string(configuration.advertiseURL)),
            ("level", .int(configuration.level)),
            ("roles", .array(["writer", "replica", "load_manager"])),
            ("state", .string(isAccepting ? "up" : "stopping")),
            ("applied_index", .int(store.appliedIndex)),
            ("lag", .int(0)),
        ])
        let shard = JSON.object([
            ("id", 1),
            ("buckets", [1, 1000]),
            ("leader", .string(configuration.nodeID)),
            ("members", .array([.string(configuration.nodeID)])),
        ])
        return ResponseBody.json(.object([
            ("version", 1),
            ("stage", "Mach I"),
            ("nodes", .array([node])),
            ("shards", .array([shard])),
        ]))
    }

    /// Streams a consistent snapshot of the database (made on a worker, sent from disk).
    func backup(_ request: Request, _ responder: MeteredResponder) throws(Problem) {
        let path = request.path
        let file = "\(configuration.scratchDirectory)/.backup-\(DocumentID.generate()).sqlite"
        try offload {
            do throws(StorageError) {
                let index = try self.store.backup(to: file)
                responder.respond(Response(status: 200, headers: [
                    ("Content-Type", "application/vnd.sqlite3"),
                    ("Content-Disposition", #"attachment; filename="machdb-\#(self.configuration.nodeID)-\#(index).sqlite""#),
                    ("X-Machdb-Index", String(index)),
                ], body: .file(path: file, unlinkWhenOpened: true)))
            } catch {
                unlink(file)
                responder.respond(self.problem(for: error).response(instance: path))
            }
        }
    }

    // MARK: Metrics

    func metricsResponse() -> Response {
        var out = ""
        out.reserveCapacity(8 << 10)
        metrics.render(into: &out)
        let stats = store.statistics
        let (connections, inFlight) = serverCounts()
        func gauge(_ name: String, _ help: String, _ value: some Numeric) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
        }
        func counter(_ name: String, _ help: String, _ value: some Numeric) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        gauge("machdb_http_connections", "Open client connections.", connections)
        gauge("machdb_http_requests_in_flight", "Requests received and not yet answered.", inFlight)
        gauge("machdb_write_queue_depth", "Write commands waiting for the group commit.", stats.queueDepth)
        gauge("machdb_write_queue_capacity", "Bound of the write queue.", stats.queueCapacity)
        gauge("machdb_worker_queue_depth", "Queries and backups waiting for a worker.", workers.depth)
        gauge("machdb_worker_queue_capacity", "Bound of the worker queue.", workers.capacity)
        gauge("machdb_index_waiters", "Reads parked until an index is applied.", waiters.count)
        gauge("machdb_index_waiters_capacity", "Bound of parked reads.", waiters.capacity)
        gauge("machdb_applied_index", "Highest write index applied and durable.", store.appliedIndex)
        gauge("machdb_storage_bytes", "Size of the database files (main + WAL).", stats.databaseBytes)
        gauge("machdb_documents", "Live documents.", stats.documentCount)
        counter("machdb_group_commits_total", "Transactions committed by the group commit.", stats.batchesCommitted)
        counter("machdb_write_commands_total", "Write commands committed.", stats.commandsCommitted)
        out += "# HELP machdb_group_commit_batch_size Commands per group-commit transaction.\n"
        out += "# TYPE machdb_group_commit_batch_size histogram\n"
        var cumulative = ""
        for (bound, count) in zip(BatchSizeHistogram.upperBounds, stats.batchSizes.cumulativeCounts) {
            cumulative += "machdb_group_commit_batch_size_bucket{le=\"\(bound)\"} \(count)\n"
        }
        out += cumulative
        out += "machdb_group_commit_batch_size_bucket{le=\"+Inf\"} \(stats.batchSizes.count)\n"
        out += "machdb_group_commit_batch_size_sum \(stats.batchSizes.sum)\n"
        out += "machdb_group_commit_batch_size_count \(stats.batchSizes.count)\n"
        return Response(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(out.utf8))
    }
}

/// Comparison whose time does not depend on where the inputs differ.
enum ConstantTime {
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let length = max(a.count, b.count)
        for i in 0..<length {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
