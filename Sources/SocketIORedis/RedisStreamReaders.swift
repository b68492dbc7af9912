import EngineIO
import Logging
import NIOConcurrencyHelpers
import RedisClient

/// The `XREAD` loops of one streams adapter factory: one per stream, on a Redis connection of its
/// own, dispatching entries to the namespace adapter their `nsp` names (Node's `createAdapter`).
///
/// A loop starts from the stream's last entry id (or `0-0`; never `$`, which would skip an entry
/// added between two reads) and keeps the id of the last entry it handled across every failure:
/// after a lost connection or a Redis restart it reads on from there, so nothing still in the
/// stream is skipped. It ends when the last adapter of its stream closes or the client stops.
final class RedisStreamReaders: Sendable {
    private struct State {
        var adapters: [String: StreamsRedisAdapter] = [:]
        var loops: [String: Task<Void, Never>] = [:]
    }

    let redis: RedisClient
    let configuration: StreamsAdapterConfiguration
    let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(redis: RedisClient, configuration: StreamsAdapterConfiguration, logger: Logger) {
        self.redis = redis
        self.configuration = configuration
        self.logger = logger
    }

    func register(_ adapter: StreamsRedisAdapter) {
        state.withLockedValue { state in
            state.adapters[adapter.namespace.name] = adapter
            if state.loops[adapter.streamKey] == nil {
                let key = adapter.streamKey
                state.loops[key] = Task { await self.read(key) }
            }
        }
    }

    func unregister(_ adapter: StreamsRedisAdapter) {
        let loop = state.withLockedValue { state -> Task<Void, Never>? in
            if state.adapters[adapter.namespace.name] === adapter { state.adapters[adapter.namespace.name] = nil }
            guard !state.adapters.values.contains(where: { $0.streamKey == adapter.streamKey }) else { return nil }
            return state.loops.removeValue(forKey: adapter.streamKey)
        }
        loop?.cancel()
    }

    private func adapter(for namespace: String) -> StreamsRedisAdapter? {
        state.withLockedValue { $0.adapters[namespace] }
    }

    private var isWanted: Bool { !Task.isCancelled && !redis.isStopped }

    private func read(_ stream: String) async {
        var lastID: String?
        var connection: RedisBlockingConnection?
        var backoff: Duration = .milliseconds(50)
        var failing = false
        let block = configuration.blockTime
        let blockMilliseconds = String(block.milliseconds)
        while isWanted {
            do {
                if connection?.isActive != true {
                    connection?.close()
                    connection = try await redis.blockingConnection(forKey: stream)
                }
                guard let reader = connection else { continue }
                if lastID == nil { lastID = try await Self.lastEntryID(of: stream, over: reader) }
                let reply = try await reader.send(
                    ["XREAD", "COUNT", String(configuration.readCount), "BLOCK", blockMilliseconds, "STREAMS", stream, lastID ?? "0-0"].map { Array($0.utf8) },
                    timeout: block + .seconds(2)
                )
                if failing {
                    failing = false
                    logger.info("stream read again", metadata: ["stream": "\(stream)", "after": "\(lastID ?? "-")"])
                }
                backoff = .milliseconds(50)
                for entry in StreamEntry.entries(ofRead: reply) {
                    lastID = entry.id
                    guard let nsp = entry.field("nsp") else {
                        logger.warning("dropped a stream entry without nsp", metadata: ["entry": "\(entry.id)"])
                        continue
                    }
                    adapter(for: String(decoding: nsp, as: UTF8.self))?.receive(entry)
                }
            } catch {
                connection?.close()
                connection = nil
                guard isWanted else { break }
                if !failing {
                    failing = true
                    logger.warning("stream not readable; retrying from the last entry", metadata: ["stream": "\(stream)", "after": "\(lastID ?? "-")", "error": "\(error)"])
                }
                await redis.refreshSlotMap()
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .milliseconds(500))
            }
        }
        connection?.close()
    }

    /// `XREVRANGE <stream> + - COUNT 1`: where to start reading (`0-0` for an empty stream).
    static func lastEntryID(of stream: String, over connection: RedisBlockingConnection) async throws -> String {
        let reply = try await connection.send(["XREVRANGE", stream, "+", "-", "COUNT", "1"].map { Array($0.utf8) }, timeout: .seconds(2))
        return StreamEntry.entries(of: reply).first?.id ?? "0-0"
    }
}
