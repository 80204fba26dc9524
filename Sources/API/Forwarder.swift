import Curl
import Foundation

/// Sends requests to other nodes (the leader, a Read Replica) without blocking HTTP I/O
/// threads: one libcurl multi handle on its own I/O thread, many transfers in flight, a
/// keep-alive connection pool per peer, and a bounded queue of requests not yet started.
/// Completions run on that I/O thread and must stay short.
final class Forwarder: Sendable {
    typealias Completion = @Sendable (Result<ClientResponse, CurlError>) -> Void
    private let client: MultiClient

    init(maxInFlight: Int, capacity: Int, connectionsPerPeer: Int) throws(CurlError) {
        var configuration = MultiClient.Configuration()
        configuration.maxConcurrentTransfers = maxInFlight
        configuration.queueCapacity = capacity
        configuration.maxConnectionsPerHost = connectionsPerPeer
        configuration.maxTotalConnections = max(connectionsPerPeer * 8, 256)
        client = try MultiClient(configuration: configuration, name: "forward")
    }

    /// Queues `request`; false when the queue is full.
    func send(_ request: ClientRequest, completion: @escaping Completion) -> Bool {
        client.submit(request, completion: completion)
    }

    /// Requests queued and not yet started.
    var depth: Int { client.queued }
    /// Requests in flight.
    var inFlight: Int { client.inFlight }

    func close() { client.shutdown() }
}
