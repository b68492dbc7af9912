import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import EngineIO

/// `EngineConfiguration.generateID` over real sockets: the ids it makes are the ones handed out by
/// both handshakes, and the later requests carrying them find their session.
@Suite("Session ids from generateID")
struct GeneratedSessionIDTests {
    /// A prefix of the kind a load balancer routes on, in front of the default random id.
    private static func tagged(_ requests: NIOLockedValueBox<[String]>) -> @Sendable (EngineRequest) -> String {
        { request in
            requests.withLockedValue { $0.append(request.transport ?? "-") }
            return "node7." + SessionID.make()
        }
    }

    @Test func aPollingHandshakeHandsOutTheHooksIDAndItsRequestsFindTheSession() async throws {
        let asked = NIOLockedValueBox<[String]>([])
        try await withEchoServer(generateID: Self.tagged(asked)) { port, engine in
            let open = try await HTTPExchange.send(port: port, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(open.status == 200)
            let sid = try #require(Self.sid(inOpenPacket: open.body))
            Self.expectTagged(sid)
            #expect(asked.withLockedValue { $0 } == ["polling"])
            #expect(engine.session(id: sid) != nil)

            let post = try await HTTPExchange.send(
                port: port,
                "POST /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\n4hello"
            )
            #expect(post.status == 200 && post.body == "ok", "\(post)")
            let poll = try await HTTPExchange.send(port: port, "GET /engine.io/?EIO=4&transport=polling&sid=\(sid) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(poll.status == 200 && poll.body == "4hello", "\(poll)")

            // The polling -> WebSocket upgrade names the session by the same id.
            let upgrade = try await HTTPExchange.send(
                port: port, Self.upgradeRequest("/engine.io/?EIO=4&transport=websocket&sid=\(sid)"), until: HTTPExchange.headersComplete
            )
            #expect(upgrade.status == 101, "\(upgrade)")

            // The prefix is part of the id: the random part alone names no session.
            let bare = String(sid.dropFirst("node7.".count))
            let unknown = try await HTTPExchange.send(port: port, "GET /engine.io/?EIO=4&transport=polling&sid=\(bare) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(unknown.status == 400 && unknown.body == #"{"code":1,"message":"Session ID unknown"}"#, "\(unknown)")
            #expect(asked.withLockedValue { $0 } == ["polling"], "only handshakes make ids")
        }
    }

    @Test func aWebSocketFirstHandshakeHandsOutTheHooksID() async throws {
        let asked = NIOLockedValueBox<[String]>([])
        let opened = NIOLockedValueBox<[String]>([])
        try await withEchoServer(generateID: Self.tagged(asked), opened: opened) { port, _ in
            let answer = try await HTTPExchange.send(
                port: port, Self.upgradeRequest("/engine.io/?EIO=4&transport=websocket"), until: { HTTPExchange.firstWebSocketText(in: $0) != nil }
            )
            #expect(answer.status == 101, "\(answer)")
            let packet = try #require(HTTPExchange.firstWebSocketText(in: answer.raw))
            let sid = try #require(Self.sid(inOpenPacket: packet))
            Self.expectTagged(sid)
            #expect(asked.withLockedValue { $0 } == ["websocket"])
            // The session was made under that id (the exchange has closed its connection since,
            // which ends a WebSocket session at once).
            #expect(opened.withLockedValue { $0 } == [sid])
        }
    }

    @Test func withoutTheHookIDsAreTwentyRandomURLSafeCharacters() async throws {
        try await withEchoServer(generateID: nil) { port, engine in
            let open = try await HTTPExchange.send(port: port, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let sid = try #require(Self.sid(inOpenPacket: open.body))
            #expect(sid.count == 20 && sid.allSatisfy(Self.isBase64URL), "\(sid)")
            #expect(engine.session(id: sid) != nil)
        }
    }

    // MARK: Helpers

    private static func isBase64URL(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_")
    }

    private static func expectTagged(_ sid: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let parts = sid.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 2 && parts[0] == "node7", "\(sid)", sourceLocation: sourceLocation)
        // The random part is the default id, whole.
        #expect(parts.last.map { $0.count == 20 && $0.allSatisfy(isBase64URL) } == true, "\(sid)", sourceLocation: sourceLocation)
    }

    private static func upgradeRequest(_ target: String) -> String {
        "GET \(target) HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    }

    /// The `sid` of an open packet (`0{"sid":…}`), as a client reads it.
    private static func sid(inOpenPacket packet: String) -> String? {
        guard packet.first == "0", let data = packet.dropFirst().data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["sid"] as? String
    }

    /// An Engine.IO server on a free loopback port that echoes every message, for the body's span.
    /// `opened` gets the id of every session the engine makes.
    private func withEchoServer(
        generateID: (@Sendable (EngineRequest) -> String)?,
        opened: NIOLockedValueBox<[String]> = NIOLockedValueBox([]),
        _ body: (Int, EngineServer) async throws -> Void
    ) async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        var configuration = EngineConfiguration()
        configuration.generateID = generateID
        let engine = EngineServer(configuration: configuration, logger: logger)
        engine.onConnection { session in
            opened.withLockedValue { $0.append(session.id) }
            session.setHandlers(onMessage: { session.send([$0]) }, onClose: { _ in })
        }
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: Router(),
            server: .engineIO(engine),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            defer {
                engine.shutdown()
                group.cancelAll()
            }
            try await body(port, engine)
        }
    }
}

/// One raw HTTP/1.1 exchange on a fresh connection: bytes as written, the answer as it came.
private enum HTTPExchange {
    struct Answer: CustomStringConvertible {
        var raw: [UInt8]
        var status: Int {
            let line = String(decoding: raw.prefix(while: { $0 != 13 }), as: UTF8.self).split(separator: " ")
            return line.count > 1 ? Int(line[1]) ?? 0 : 0
        }
        var body: String {
            guard let end = HTTPExchange.headerEnd(raw) else { return "" }
            return String(decoding: raw[end...], as: UTF8.self)
        }
        var description: String { String(decoding: raw, as: UTF8.self) }
    }

    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index..<index + 4].elementsEqual([13, 10, 13, 10]) {
            return index + 4
        }
        return nil
    }

    static func headersComplete(_ bytes: [UInt8]) -> Bool { headerEnd(bytes) != nil }

    /// The payload of the first (unmasked, server-sent) text frame after the headers, once whole.
    static func firstWebSocketText(in bytes: [UInt8]) -> String? {
        guard let start = headerEnd(bytes), bytes.count >= start + 2, bytes[start] == 0x81 else { return nil }
        var length = Int(bytes[start + 1] & 0x7F)
        var offset = start + 2
        if length == 126 {
            guard bytes.count >= start + 4 else { return nil }
            length = Int(bytes[start + 2]) << 8 | Int(bytes[start + 3])
            offset = start + 4
        }
        guard bytes.count >= offset + length else { return nil }
        return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
    }

    /// Writes `request`, then reads until `until` says the answer is enough, or the peer closes;
    /// bounded by 10 s.
    static func send(port: Int, _ request: String, until: @escaping @Sendable ([UInt8]) -> Bool = { _ in false }) async throws -> Answer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await withThrowingTaskGroup(of: Answer.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: request))
                    var received: [UInt8] = []
                    for try await chunk in inbound {
                        received += chunk.readableBytesView
                        if until(received) { break }
                    }
                    return Answer(raw: received)
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                throw ExchangeTimedOut()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    struct ExchangeTimedOut: Error {}
}
