import RaftCore
import Synchronization

/// The snapshot images a ``RaftStore`` has materialized (`<data-dir>/snapshots/<token>.sqlite`),
/// for the transport that serves them to other nodes. Thread-safe: the transport looks
/// images up from its own threads while the replica thread adds and retires them.
public final class SnapshotFiles: Sendable {
    /// One materialized image.
    public struct Image: Sendable, Hashable {
        /// The snapshot's `data`: UTF-8 of `snap-<index>-<term>`.
        public let token: String
        public let path: String
        public let size: Int64
        /// FNV-1a 64 of the file's bytes.
        public let checksum: UInt64
        /// The snapshot it holds: the state at `metadata.index`.
        public let metadata: SnapshotMetadata
    }

    /// `<data-dir>/snapshots`.
    public let directory: String
    private let images = Mutex<[Image]>([])

    init(directory: String) { self.directory = directory }

    /// The image named `token`, if it is still kept.
    public func file(token: String) -> (path: String, size: Int64, checksum: UInt64)? {
        images.withLock { images in
            images.first { $0.token == token }.map { ($0.path, $0.size, $0.checksum) }
        }
    }

    /// Where the runtime puts the image named `token` downloaded from the leader, before it
    /// hands the `Ready` carrying that snapshot to ``RaftStore/save(_:)``. Characters other than
    /// `A-Z a-z 0-9 - _ .` are %-escaped, so a token from the network cannot leave the directory.
    public func incomingPath(token: String) -> String {
        directory + "/incoming-" + Self.fileName(token) + ".sqlite"
    }

    /// The newest image.
    var newest: Image? { images.withLock { $0.last } }

    /// Adds `image` as the newest and retires (returns, for deletion) all but the newest `keep`.
    func add(_ image: Image, keep: Int) -> [Image] {
        images.withLock { images in
            images.removeAll { $0.token == image.token }
            images.append(image)
            guard images.count > keep else { return [] }
            let retired = Array(images.prefix(images.count - keep))
            images.removeFirst(images.count - keep)
            return retired
        }
    }

    static func token(index: UInt64, term: UInt64) -> String { "snap-\(index)-\(term)" }

    static func fileName(_ token: String) -> String {
        var name = ""
        for byte in token.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                name.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                name += "%"
                name.unicodeScalars.append(digits[Int(byte >> 4)])
                name.unicodeScalars.append(digits[Int(byte & 15)])
            }
        }
        return name
    }
}
