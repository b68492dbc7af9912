import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import RedisClient

/// Waits until `condition` holds, polling, for at most `seconds`.
func eventually(_ seconds: Double = 5, _ condition: @Sendable () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

@Suite(.serialized, .enabled(if: RedisServerProcess.isAvailable, "needs redis-server (Debian package redis-server)"))
struct RedisClientTests {
    @Test func commandsAreBinarySafeAndPipelined() async throws {
        let server = try RedisServerProcess()
        try server.start()
        let client = RedisClient(url: try RedisURL("redis://127.0.0.1:\(server.port)"), logger: Logger(label: "test"))
        let running = Task { try await client.run() }
        defer {
            client.stop()
            running.cancel()
        }
        #expect(await eventually { client.isHealthy })
        let bytes: [UInt8] = [0, 1, 2, 0xFF, 0x0D, 0x0A, 0x24]
        _ = try await client.send([Array("SET".utf8), Array("k".utf8), bytes])
        let reply = try await client.send("GET", "k")
        #expect(reply == .bulk(ByteBuffer(bytes: bytes)))
        // Many commands in flight at once come back matched to their requests.
        try await withThrowingTaskGroup(of: (Int, Int64?).self) { group in
            for index in 0..<200 {
                group.addTask { (index, try await client.send("INCRBY", "counter", "\(index)").integer) }
            }
            var seen = 0
            for try await (_, value) in group {
                #expect(value != nil)
                seen += 1
            }
            #expect(seen == 200)
        }
        #expect(try await client.send("GET", "counter").integer == Int64((0..<200).reduce(0, +)))
        await #expect(throws: RedisError.self) { try await client.send("NOSUCHCOMMAND") }
        #expect(await client.ping())
    }

    @Test func subscriptionsSurviveARedisRestart() async throws {
        let server = try RedisServerProcess()
        try server.start()
        let client = RedisClient(url: try RedisURL("redis://127.0.0.1:\(server.port)"), logger: Logger(label: "test"))
        let received = NIOLockedValueBox<[String]>([])
        let resubscribed = NIOLockedValueBox(0)
        client.onMessage { message in
            received.withLockedValue { $0.append("\(message.pattern ?? "-") \(message.channel) \(String(buffer: message.payload))") }
        }
        client.onResubscribed { resubscribed.withLockedValue { $0 += 1 } }
        let running = Task { try await client.run() }
        defer {
            client.stop()
            running.cancel()
        }
        #expect(await eventually { client.isHealthy })
        try await client.subscribe("plain")
        try await client.psubscribe("room#*")
        #expect(try await client.subscriberCount("plain") == 1)
        try await client.publish(Array("one".utf8), to: "plain")
        try await client.publish(Array("two".utf8), to: "room#a")
        #expect(await eventually { received.withLockedValue { $0.count } == 2 })
        #expect(received.withLockedValue { $0 } == ["- plain one", "room#* room#a two"])

        server.stop()
        #expect(await eventually { !client.isHealthy })
        await #expect(throws: RedisError.self) { try await client.publish(Array("lost".utf8), to: "plain") }
        #expect(!(await client.ping()))

        let before = resubscribed.withLockedValue { $0 }
        try server.start()
        let back = ContinuousClock.now
        #expect(await eventually(2) { resubscribed.withLockedValue { $0 } > before && client.isHealthy })
        #expect(ContinuousClock.now - back < .seconds(2), "re-subscribed within 2 s of Redis being back")
        #expect(try await client.subscriberCount("plain") == 1)
        try await client.publish(Array("three".utf8), to: "plain")
        try await client.publish(Array("four".utf8), to: "room#b")
        #expect(await eventually { received.withLockedValue { $0.count } == 4 })
        #expect(received.withLockedValue { Array($0.suffix(2)) } == ["- plain three", "room#* room#b four"])
    }

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
    }
}

/// CPU time this process has used (user + system), from getrusage.
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
