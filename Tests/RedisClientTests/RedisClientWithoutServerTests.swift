import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import RedisClient

/// The client's tests that need no redis-server: they run everywhere, whatever the machine has.
@Suite("Redis client without a server")
struct RedisClientWithoutServerTests {
    @Test func cancelledWhileRedisIsAwayItEndsInsteadOfSpinning() async throws {
        // Nothing listens on this port: every connect is refused, so the client is in its
        // reconnect loop when the task is cancelled.
        let port = try RedisServerProcess.freePort()
        let client = RedisClient(url: try RedisURL("redis://127.0.0.1:\(port)"), logger: Logger(label: "test"))
        let ended = NIOLockedValueBox(false)
        let running = Task {
            try? await client.run()
            ended.withLockedValue { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(!client.isHealthy)
        let cpuBefore = ProcessCPU.seconds()
        running.cancel()
        #expect(await eventually(5) { ended.withLockedValue { $0 } }, "run() did not return after cancellation")
        // A spinning reconnect loop would burn a core for the whole wait above.
        #expect(ProcessCPU.seconds() - cpuBefore < 1.0)
    }

    @Test func urlsAreParsed() throws {
        let url = try RedisURL("redis://127.0.0.1:6380/2")
        #expect(url.host == "127.0.0.1")
        #expect(url.port == 6380)
        #expect(url.database == 2)
        #expect(try RedisURL("redis://localhost").port == 6379)
        #expect(throws: RedisError.self) { try RedisURL("http://x") }
        #expect(throws: RedisError.self) { try RedisURL("redis://h/abc") }
    }

    @Test func credentialsAndTLSComeFromTheURL() throws {
        let plain = try RedisURL("redis://h:1")
        #expect(plain.username == nil && plain.password == nil && !plain.usesTLS)
        let password = try RedisURL("redis://:p%40ss%3Aword%20x@h:1/3")
        #expect(password.username == nil && password.password == "p@ss:word x" && password.database == 3)
        let acl = try RedisURL("rediss://auction:secret@redis.example:6380")
        #expect(acl.username == "auction" && acl.password == "secret" && acl.usesTLS && acl.port == 6380)
        #expect(try RedisURL("redis://[::1]:7000").host == "::1")
        #expect(try RedisURL("redis://[::1]:7000").address == "[::1]:7000")
        // A user needs a password; messages never carry the password.
        #expect(throws: RedisError.self) { try RedisURL("redis://auction@h") }
        do {
            _ = try RedisURL("rediss//user:topsecret@h")
            Issue.record("a URL without a scheme was accepted")
        } catch {
            #expect(!"\(error)".contains("topsecret"))
        }
    }

    @Test func tlsFilesThatCannotBeReadAreNamed() {
        do {
            _ = try RedisTLS(caFile: "/nonexistent/ca.pem").makeContext()
            Issue.record("a missing CA file was accepted")
        } catch {
            #expect("\(error)".contains("/nonexistent/ca.pem"))
        }
        #expect(throws: RedisError.self) { try RedisTLS(certificateFile: "/x/cert.pem").makeContext() }
    }

    @Test func replyParsingHandlesEveryRESP2Type() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "+OK\r\n-ERR bad\r\n:42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n:1\r\n*-1\r\n$5\r\nhel"))
        #expect(try reader.next() == .simpleString("OK"))
        #expect(try reader.next() == .error("ERR bad"))
        #expect(try reader.next() == .integer(42))
        #expect(try reader.next() == .bulk(ByteBuffer(bytes: [0x61, 0, 0x62])))
        #expect(try reader.next() == .bulk(nil))
        #expect(try reader.next() == .array([.integer(1), .bulk(nil)]))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBuffer(string: "lo\r\n"))
        #expect(try reader.next() == .bulk(ByteBuffer(string: "hello")))
        try reader.feed(ByteBuffer(string: "?garbage\r\n"))
        #expect(throws: RedisError.self) { try reader.next() }
    }

    @Test func commandsAreFormattedAsRESP() {
        var buffer = ByteBuffer()
        RESPCommand.format([Array("SET".utf8), Array("k".utf8), [0, 0x0D, 0x0A]], into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\0\r\n\r\n")
    }}
