#if canImport(Glibc)
import Glibc
#endif

/// An open file descriptor, closed in `deinit`: positioned reads and writes, size, fsync.
/// Errors carry the path and operation; `.write` mode errors are `.snapshotWrite`, read mode
/// errors `.snapshotIO`.
final class PosixFile {
    enum Mode { case read, write }

    let path: String
    let mode: Mode
    private let fd: Int32

    private init(path: String, mode: Mode, fd: Int32) {
        self.path = path
        self.mode = mode
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Opens for reading, or for writing (created with 0644 when absent, never truncated).
    static func open(_ path: String, mode: Mode) throws(TransportError) -> PosixFile {
        let fd = mode == .read ? Glibc.open(path, O_RDONLY | O_CLOEXEC)
                               : Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, mode, "open", errno) }
        return PosixFile(path: path, mode: mode, fd: fd)
    }

    /// Reads up to `buffer.count` bytes at `offset` (fewer only at the end of the file).
    func read(into buffer: inout [UInt8], at offset: Int64) throws(TransportError) -> Int {
        var total = 0
        while total < buffer.count {
            let count = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + total, raw.count - total, off_t(offset) + off_t(total))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw Self.failure(path, mode, "pread", errno)
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int64) throws(TransportError) {
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                pwrite(fd, raw.baseAddress! + total, raw.count - total, off_t(offset) + off_t(total))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw Self.failure(path, mode, "pwrite", errno)
            }
            total += count
        }
    }

    func size() throws(TransportError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Self.failure(path, mode, "fstat", errno) }
        return Int64(info.st_size)
    }

    func truncate(to size: Int64) throws(TransportError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw Self.failure(path, mode, "ftruncate", errno) }
    }

    func sync() throws(TransportError) {
        guard fsync(fd) == 0 else { throw Self.failure(path, mode, "fsync", errno) }
    }

    private static func failure(_ path: String, _ mode: Mode, _ operation: String, _ code: Int32) -> TransportError {
        mode == .read ? .snapshotIO(path: path, operation: operation, errno: code)
                      : .snapshotWrite(path: path, operation: operation, errno: code)
    }
}

/// Small file-system helpers for the fetcher.
enum FileSystem {
    /// The size of the file at `path`, or nil when it does not exist.
    static func size(_ path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }

    static func remove(_ path: String) { unlink(path) }

    static func rename(_ from: String, _ to: String) throws(TransportError) {
        guard Glibc.rename(from, to) == 0 else { throw .snapshotWrite(path: to, operation: "rename", errno: errno) }
    }

    /// Makes a rename in the directory of `path` durable.
    static func syncDirectory(of path: String) throws(TransportError) {
        let directory = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .snapshotWrite(path: directory, operation: "open directory", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .snapshotWrite(path: directory, operation: "fsync directory", errno: errno) }
    }

    static func readAll(_ path: String) throws(TransportError) -> String? {
        guard let size = size(path), size <= 1 << 16 else { return nil }
        let file = try PosixFile.open(path, mode: .read)
        var buffer = [UInt8](repeating: 0, count: Int(size))
        let count = try file.read(into: &buffer, at: 0)
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Writes `text` to `path` (replacing it) and fsyncs.
    static func writeAll(_ path: String, _ text: String) throws(TransportError) {
        remove(path)
        let file = try PosixFile.open(path, mode: .write)
        try file.write(Array(text.utf8), at: 0)
        try file.sync()
    }
}

func errnoText(_ code: Int32) -> String { "\(String(cString: strerror(code))) (errno \(code))" }
