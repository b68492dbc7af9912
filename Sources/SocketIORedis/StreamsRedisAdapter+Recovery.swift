import EngineIO
import Foundation
import NIOCore
import RedisClient
import SocketIO

/// Connection state recovery across servers (Node's `persistSession`/`restoreSession` of the
/// streams adapter): sessions in Redis, missed packets read back from the stream.
extension StreamsRedisAdapter {
    /// At most this many `XRANGE` calls per restore (Node's bound: a stream growing faster than
    /// it is read would otherwise keep a restore going for ever).
    static let restoreScanLimit = 100
    /// A pid or offset longer than this is not one we made (pids are 20 characters, offsets
    /// `<ms>-<seq>`): refused before any Redis command.
    static let longestKeyPart = 64

    public var recoversConnections: Bool { namespace.server.configuration.connectionStateRecovery != nil }

    /// `SET <prefix><pid> <base64 msgpack {sid, pid, rooms, data}> PX <maxDisconnectionDuration>`.
    public func persistSession(_ session: RecoverableSession) {
        guard let recovery = namespace.server.configuration.connectionStateRecovery else { return }
        let value = JSONValue.object([
            JSONMember(key: "sid", value: .string(session.id)),
            JSONMember(key: "pid", value: .string(session.pid)),
            JSONMember(key: "rooms", value: .array(session.rooms.sorted().map { .string($0) })),
            JSONMember(key: "data", value: session.data),
        ])
        let encoded = Data(MessagePack.encode(value)).base64EncodedString()
        let milliseconds = recovery.maxDisconnectionDuration.milliseconds
        let key = configuration.sessionKeyPrefix + session.pid
        let redis = self.redis
        let logger = self.logger
        Task {
            do {
                _ = try await redis.send("SET", key, encoded, "PX", String(max(milliseconds, 1)))
            } catch {
                logger.warning("session not kept for recovery", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The session of `pid` (taken: a second restore finds nothing) and the broadcasts of its
    /// rooms after `offset`, each with its entry id; nil when the session or the offset entry is
    /// gone, the offset is not an entry id, or anything is malformed.
    public func restoreSession(pid: String, offset: String) async -> RestoredSession? {
        guard pid.utf8.count <= Self.longestKeyPart, !pid.isEmpty, let start = StreamEntryID(offset) else {
            logger.info("recovery refused: not a pid and an entry id", metadata: ["pid": "\(pid.prefix(24))", "offset": "\(offset.prefix(24))"])
            return nil
        }
        do {
            async let taken = redis.send("GETDEL", configuration.sessionKeyPrefix + pid)
            async let present = redis.send("XRANGE", streamKey, offset, offset)
            let (raw, entry) = try await (taken, present)
            guard case .bulk(let value?) = raw, case .array(let entries?) = entry, !entries.isEmpty else { return nil }
            guard let session = Self.decodeSession(value) else {
                logger.warning("recovery refused: a malformed session", metadata: ["pid": "\(pid)"])
                return nil
            }
            let missed = try await scan(after: start, rooms: session.rooms)
            return RestoredSession(session: session, missedPackets: missed)
        } catch {
            logger.warning("recovery failed: Redis did not answer", metadata: ["error": "\(error)"])
            return nil
        }
    }

    public func missedPackets(after offset: String, rooms: Set<String>) async -> [[JSONValue]] {
        guard let start = StreamEntryID(offset) else { return [] }
        do {
            return try await scan(after: start, rooms: rooms)
        } catch {
            logger.warning("recovery incomplete: Redis did not answer", metadata: ["error": "\(error)"])
            return []
        }
    }

    /// `XRANGE <stream> <next id> +` until a call returns nothing (at most ``restoreScanLimit``
    /// calls): the broadcasts for `rooms`, each with its entry id.
    private func scan(after start: StreamEntryID, rooms: Set<String>) async throws -> [[JSONValue]] {
        var missed: [[JSONValue]] = []
        var cursor = start
        for _ in 0..<Self.restoreScanLimit {
            let reply = try await redis.send("XRANGE", streamKey, cursor.next.description, "+")
            let entries = StreamEntry.entries(of: reply)
            guard let last = entries.last, let lastID = StreamEntryID(last.id) else { break }
            for entry in entries {
                if let data = replayed(entry, rooms: rooms) { missed.append(data) }
            }
            cursor = lastID
        }
        return missed
    }

    /// A broadcast entry of this namespace that reaches `rooms`: its event data with the entry id.
    private func replayed(_ entry: StreamEntry, rooms: Set<String>) -> [JSONValue]? {
        guard let nsp = entry.field("nsp"), String(decoding: nsp, as: UTF8.self) == namespace.name,
            entry.field("type") == Array("3".utf8), let field = entry.field("data"),
            let data = try? Self.decodeEntryData(field), data["requestId"] == nil,
            let events = data["packet"]?["data"]?.arrayValue
        else { return nil }
        let options = WireFormat.broadcastOptions(data["opts"])
        guard options.reaches(rooms: rooms) else { return nil }
        return events + [.string(entry.id)]
    }

    static func decodeSession(_ value: ByteBuffer) -> RecoverableSession? {
        guard let bytes = Data(base64Encoded: Data(value.readableBytesView)),
            let decoded = try? MessagePack.decode(ByteBuffer(bytes: bytes)),
            let sid = decoded["sid"]?.stringValue, let pid = decoded["pid"]?.stringValue
        else { return nil }
        return RecoverableSession(id: sid, pid: pid, rooms: WireFormat.roomNames(decoded["rooms"]), data: decoded["data"] ?? .null)
    }
}

/// A stream entry id `<ms>-<seq>`.
struct StreamEntryID: CustomStringConvertible, Equatable {
    var milliseconds: UInt64
    var sequence: UInt64

    init?(_ text: String) {
        guard text.utf8.count <= StreamsRedisAdapter.longestKeyPart else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let milliseconds = UInt64(parts[0]), let sequence = UInt64(parts[1])
        else { return nil }
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// The id right after this one, an exclusive start for `XRANGE` on any Redis version.
    var next: StreamEntryID {
        var next = self
        if sequence == .max {
            next.milliseconds += 1
            next.sequence = 0
        } else {
            next.sequence += 1
        }
        return next
    }

    var description: String { "\(milliseconds)-\(sequence)" }
}

/// One entry of an `XRANGE`/`XREAD` reply: its id and its fields in order.
struct StreamEntry: Sendable {
    var id: String
    var fields: [(name: [UInt8], value: [UInt8])]

    func field(_ name: String) -> [UInt8]? {
        let wanted = Array(name.utf8)
        return fields.first { $0.name == wanted }?.value
    }

    /// The entries of an `XRANGE` reply (`[[id, [f, v, …]], …]`); malformed ones are skipped.
    static func entries(of reply: RESPValue) -> [StreamEntry] {
        guard case .array(let items?) = reply else { return [] }
        return items.compactMap { item in
            guard case .array(let parts?) = item, parts.count == 2, let id = parts[0].string,
                case .array(let flat?) = parts[1]
            else { return nil }
            var fields: [(name: [UInt8], value: [UInt8])] = []
            var index = 0
            while index + 1 < flat.count {
                if case .bulk(let name?) = flat[index], case .bulk(let value?) = flat[index + 1] {
                    fields.append((Array(name.readableBytesView), Array(value.readableBytesView)))
                }
                index += 2
            }
            return StreamEntry(id: id, fields: fields)
        }
    }

    /// The entries of an `XREAD` reply for one stream (`[[key, [entries…]]]`, or nil on timeout).
    static func entries(ofRead reply: RESPValue) -> [StreamEntry] {
        guard case .array(let streams?) = reply, let first = streams.first, case .array(let parts?) = first, parts.count == 2 else {
            return []
        }
        return entries(of: parts[1])
    }
}
