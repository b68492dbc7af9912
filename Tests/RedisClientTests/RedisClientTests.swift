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

/// A client of a fresh redis-server, running and healthy, until `body` returns.
func withRunningClient(_ body: (RedisClient) async throws -> Void) async throws {
    let server = try RedisServerProcess()
    try server.start()
    let client = RedisClient(url: try RedisURL("redis://127.0.0.1:\(server.port)"), logger: Logger(label: "test"))
    let running = Task { try await client.run() }
    defer {
        client.stop()
        running.cancel()
    }
    #expect(await eventually { client.isHealthy })
    try await body(client)
}

/// Tests against a real redis-server. Without one they skip, unless `REQUIRE_TEST_SERVERS=1`
/// (set by `make test`), where each fails with the reason. The client's tests that need no
/// server are in `RedisClientWithoutServerTests`.
@Suite(.serialized, RedisServerProcess.requirement)
struct RedisClientTests {
    @Test func commandsAreBinarySafeAndPipelined() async throws {
        try await withRunningClient { client in
            let bytes: [UInt8] = [0, 1, 2, 0xFF, 0x0D, 0x0A, 0x24]
            _ = try await client.send([Array("SET".utf8), Array("k".utf8), bytes])
            let reply = try await client.send("GET", "k")
            #expect(reply == .bulk(ByteBuffer(bytes: bytes)))
            // Many commands in flight at once come back matched to their requests: every reply is
            // a function of its own request, in value and in type, so one swapped reply shows.
            for index in 0..<200 {
                _ = try await client.send("SET", "k\(index)", "v\(index)")
            }
            let connection = try #require(client.currentCommandConnection)
            // Written one after the other before any reply is awaited: all 200 are pipelined.
            let replies = (0..<200).map { index in
                let command = index.isMultiple(of: 2) ? RedisClient.arguments("GET", "k\(index)") : RedisClient.arguments("INCRBY", "n\(index)", "\(index)")
                return connection.write(command)
            }
            for (index, reply) in replies.enumerated() {
                let expected: RESPValue = index.isMultiple(of: 2) ? .bulk(ByteBuffer(string: "v\(index)")) : .integer(Int64(index))
                #expect(try await reply.get() == expected, "reply to request \(index)")
            }
            // The same through concurrent callers of `send`.
            try await withThrowingTaskGroup(of: (Int, RESPValue).self) { group in
                for index in 0..<200 {
                    group.addTask { (index, try await client.send("GET", "k\(index)")) }
                }
                var answered = Set<Int>()
                for try await (index, reply) in group {
                    #expect(reply == .bulk(ByteBuffer(string: "v\(index)")), "reply to GET k\(index)")
                    answered.insert(index)
                }
                #expect(answered == Set(0..<200))
            }
            await #expect(throws: RedisError.self) { try await client.send("NOSUCHCOMMAND") }
            #expect(await client.ping())
        }
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

/// The result of `operation`, or nil when it has not finished within `seconds` (it is then
/// left running): a test of "never hangs" must not hang itself.
func finishing<T: Sendable>(within seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
    let outcome = NIOLockedValueBox<Result<T, any Error>?>(nil)
    Task { 
        do { let value = try await operation(); outcome.withLockedValue { $0 = .success(value) } }
        catch { outcome.withLockedValue { $0 = .failure(error) } }
    }
    _ = await eventually(seconds) { outcome.withLockedValue { $0 != nil } }
    return outcome.withLockedValue { $0 }
}

@Suite("Redis commands on a closing connection", .serialized, RedisServerProcess.requirement)
struct RedisClosingConnectionTests {
    /// A command can reach a connection just after it closed (Redis went away between the
    /// caller's check and the write): it must fail at once, not wait forever for a reply that
    /// will never be asked for.
    @Test func aCommandWrittenAfterTheCloseFails() async throws {
        try await withRunningClient { client in
            let connection = try #require(client.currentCommandConnection)
            connection.close()
            try await connection.closeFuture.get()
            let outcome = await finishing(within: 1) { try await connection.write(RedisClient.arguments("PING")).get() }
            let result = try #require(outcome, "the command was still waiting after 1 s")
            #expect(throws: RedisError.connectionClosed) { try result.get() }
        }
    }

    /// Redis that accepts a command and never answers: the caller hears `timeout` when the
    /// command timeout is over, and the connection is dropped to be rebuilt.
    @Test func aCommandRedisNeverAnswersTimesOut() async throws {
        try await withRunningClient { client in
            let connection = try #require(client.currentCommandConnection)
            // A paused Redis holds every reply (its clock keeps running, it answers nothing).
            _ = try await client.send("CLIENT", "PAUSE", "4000", "ALL")
            let started = ContinuousClock.now
            let outcome = await finishing(within: 4) { try await connection.write(RedisClient.arguments("GET", "k")).get() }
            let result = try #require(outcome, "the command was still waiting after 4 s")
            #expect(throws: RedisError.timeout) { try result.get() }
            #expect(ContinuousClock.now - started >= .seconds(1.5))
            #expect(await eventually(2) { !connection.channel.isActive })
        }
    }
}
