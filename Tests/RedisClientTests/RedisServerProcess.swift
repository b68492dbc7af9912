import Foundation
import Testing

/// A throwaway redis-server on a free loopback port, for tests. Real Redis, never a mock.
final class RedisServerProcess: @unchecked Sendable {
    let port: Int
    private let directory: URL

    init() throws {
        guard Self.isAvailable else { throw Missing() }
        port = try Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: binary) }
    static let binary = "/usr/bin/redis-server"

    /// Thrown by a test that needs redis-server where there is none.
    struct Missing: Error, CustomStringConvertible {
        var description: String { "redis-server not found at \(RedisServerProcess.binary); install Debian's redis-server (scripts/install-deps.sh)" }
    }

    /// `make test` sets `REQUIRE_TEST_SERVERS=1`: there a missing redis-server fails the tests
    /// that need it, so a green run always includes them.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["REQUIRE_TEST_SERVERS"] == "1" }

    /// The trait of a suite that needs redis-server: it runs where the server is installed or
    /// required (and then fails in `init` with ``Missing``), and skips, with the reason, otherwise.
    static var requirement: ConditionTrait {
        .enabled(if: isAvailable || isRequired, Comment(rawValue: "\(Missing()); set REQUIRE_TEST_SERVERS=1 to fail instead of skipping"))
    }

    private var pid: pid_t = 0

    func start() throws {
        // posix_spawn rather than Foundation's Process, whose waitUntilExit spins on Linux.
        let arguments = [Self.binary, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path, "--logfile", ""]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var child: pid_t = 0
        guard posix_spawn(&child, Self.binary, &actions, nil, &argv, environ) == 0 else { throw CocoaError(.executableLoad) }
        pid = child
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if Self.canConnect(port) { return }
            usleep(20_000)
        }
        throw CocoaError(.executableLoad)
    }

    func stop() {
        guard pid != 0 else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
