import Curl
import Foundation
import Synchronization

/// Sends requests to other nodes (the leader, a Read Replica) without blocking HTTP I/O
/// threads: a few libcurl multi handles, each on its own I/O thread (one per core by
/// default: a single one was the Load Manager's bottleneck), many transfers in flight, a
/// keep-alive connection pool per peer, and bounded queues of requests not yet started.
/// Requests are spread round robin. Completions run on an I/O thread and must stay short.
public final class Forwarder: Sendable {
    public typealias Completion = @Sendable (Result<ClientResponse, CurlError>) -> Void
    private let clients: [MultiClient]
    private let turn = Atomic<UInt>(0)

    init(maxInFlight: Int, capacity: Int, connectionsPerPeer: Int, threads: Int) throws(CurlError) {
        let threads = max(1, threads)
        var configuration = MultiClient.Configuration()
        configuration.maxConcurrentTransfers = max(1, maxInFlight / threads)
        configuration.queueCapacity = max(1, capacity / threads)
        configuration.maxConnectionsPerHost = max(1, connectionsPerPeer / threads)
        configuration.maxTotalConnections = max(configuration.maxConnectionsPerHost * 8, 128)
        var clients: [MultiClient] = []
        for index in 0..<threads { clients.append(try MultiClient(configuration: configuration, name: "forward-\(index)")) }
        self.clients = clients
    }

    /// Queues `request`; false when the queue is full.
    public func send(_ request: ClientRequest, completion: @escaping Completion) -> Bool {
        let index = Int(turn.wrappingAdd(1, ordering: .relaxed).newValue % UInt(clients.count))
        return clients[index].submit(request, completion: completion)
    }

    /// Requests queued and not yet started.
    public var depth: Int { clients.reduce(0) { $0 + $1.queued } }
    /// Requests in flight.
    public var inFlight: Int { clients.reduce(0) { $0 + $1.inFlight } }

    public func close() { for client in clients { client.shutdown() } }
}
