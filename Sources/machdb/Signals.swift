import Foundation

/// SIGTERM/SIGINT handling without async signal handlers: block them in every thread (call
/// `block()` before any thread starts), then wait for one synchronously on the main thread.
enum Signals {
    private static var set: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }

    static func block() {
        var signals = set
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Blocks until SIGTERM or SIGINT arrives; returns its name.
    static func wait() -> String {
        var signals = set
        var received: Int32 = 0
        while sigwait(&signals, &received) != 0 {}
        return received == SIGTERM ? "SIGTERM" : "SIGINT"
    }
}

/// An exclusive lock on a data directory, so two processes never open the same database.
final class DataDirectoryLock {
    private let fd: Int32

    init(directory: String) throws {
        let path = directory + "/LOCK"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LockError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw LockError(message: "data directory \(directory) is in use by another machdb process")
        }
    }

    deinit { close(fd) }
}

struct LockError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
