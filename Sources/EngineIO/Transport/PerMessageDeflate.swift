import CZlib
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// Node's `perMessageDeflate` option (RFC 7692), off by default as in Node: offered by a client,
/// it is accepted without context takeover either way, so every message is compressed on its
/// own — a broadcast's frame is compressed once for every socket, and an idle connection keeps
/// no zlib state.
public struct PerMessageDeflateOptions: Sendable {
    /// Messages smaller than this go uncompressed (Node's default, 1 KiB).
    public var threshold: Int

    public init(threshold: Int = 1024) {
        self.threshold = threshold
    }
}

/// What a connection agreed to: compress outgoing messages from `threshold` bytes with a window
/// of `serverWindowBits`, inflate incoming compressed ones.
struct WebSocketDeflate: Sendable, Equatable {
    var threshold: Int
    var serverWindowBits: Int32

    /// The `Sec-WebSocket-Extensions` answer to a client's offers, and what it agrees to; nil when
    /// no offer is permessage-deflate with parameters we can honour (RFC 7692 §7.1).
    static func negotiate(_ offers: String?, threshold: Int) -> (header: String, agreed: WebSocketDeflate)? {
        guard let offers else { return nil }
        for offer in offers.split(separator: ",") {
            let parts = offer.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.first?.lowercased() == "permessage-deflate" else { continue }
            var seen: Set<String> = []
            var serverWindowBits: Int32?
            var acceptable = true
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                let name = pair[0].lowercased()
                let value = pair.count > 1 ? pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : nil
                guard seen.insert(name).inserted else {
                    acceptable = false
                    break
                }
                switch name {
                case "server_no_context_takeover", "client_no_context_takeover":
                    acceptable = value == nil
                case "client_max_window_bits":
                    // We inflate with any window; a value only limits the client's.
                    acceptable = value.map { Int32($0).map { (8...15).contains($0) } ?? false } ?? true
                case "server_max_window_bits":
                    // zlib's raw deflate cannot keep to a 256-byte window (8).
                    guard let bits = value.flatMap({ Int32($0) }), (9...15).contains(bits) else {
                        acceptable = false
                        break
                    }
                    serverWindowBits = bits
                default:
                    acceptable = false
                }
                if !acceptable { break }
            }
            guard acceptable else { continue }
            var header = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            if let serverWindowBits { header += "; server_max_window_bits=\(serverWindowBits)" }
            return (header, WebSocketDeflate(threshold: threshold, serverWindowBits: serverWindowBits ?? 15))
        }
        return nil
    }
}

/// Why a compressed message could not be inflated.
enum InflateError: Error {
    /// Not a valid deflate stream.
    case invalid
    /// It inflates past the limit (maxPayload).
    case tooLarge
}

/// Raw deflate and inflate of whole WebSocket messages (no context takeover), on zlib streams
/// kept in a pool and reset between messages: initialising a deflate stream allocates a quarter
/// of a megabyte.
enum MessageDeflate {
    /// The tail a sync flush ends with, left out of the frame (RFC 7692 §7.2.1).
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    private struct Pools {
        var deflaters: [Int32: [UnsafeMutablePointer<z_stream>]] = [:]
        var inflaters: [UnsafeMutablePointer<z_stream>] = []
    }

    nonisolated(unsafe) private static var pools = Pools()
    private static let lock = NIOLock()
    /// Streams kept for reuse beyond this are freed.
    private static let poolLimit = 8

    /// The compressed form of `payload` (the frame's payload, RSV1 to be set), or nil if zlib fails.
    static func compress(_ payload: ByteBuffer, windowBits: Int32) -> ByteBuffer? {
        guard let stream = takeDeflater(windowBits: windowBits) else { return nil }
        var output = ByteBuffer()
        var succeeded = false
        payload.withUnsafeReadableBytes { input in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(input.count)
            // A sync flush of incompressible data can exceed the input a little: 5 bytes per 16 KiB block.
            let bound = Int(deflateBound(stream, uLong(input.count))) + 16
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
                stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.pointee.avail_out = uInt(out.count)
                succeeded = CZlib.deflate(stream, Z_SYNC_FLUSH) == Z_OK && stream.pointee.avail_in == 0
                return succeeded ? out.count - Int(stream.pointee.avail_out) : 0
            }
        }
        giveBack(deflater: stream, windowBits: windowBits)
        guard succeeded, output.readableBytes >= tail.count else { return nil }
        output.moveWriterIndex(to: output.writerIndex - tail.count)
        return output
    }

    /// The message a compressed payload holds, at most `limit` bytes.
    static func inflate(_ payload: ByteBuffer, limit: Int) throws(InflateError) -> ByteBuffer {
        guard let stream = takeInflater() else { throw .invalid }
        var input = Array(payload.readableBytesView)
        input.append(contentsOf: tail)
        var output = ByteBuffer()
        var failure: InflateError?
        input.withUnsafeMutableBytes { bytes in
            stream.pointee.next_in = bytes.bindMemory(to: Bytef.self).baseAddress
            stream.pointee.avail_in = uInt(bytes.count)
            while failure == nil {
                var status: Int32 = Z_OK
                let chunk = min(64 * 1024, limit + 1)
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { out in
                    stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(chunk)
                    status = CZlib.inflate(stream, Z_SYNC_FLUSH)
                    return chunk - Int(stream.pointee.avail_out)
                }
                if output.readableBytes > limit {
                    failure = .tooLarge
                } else if status == Z_STREAM_END || (status == Z_BUF_ERROR && stream.pointee.avail_in == 0) {
                    break
                } else if status != Z_OK {
                    failure = .invalid
                } else if stream.pointee.avail_in == 0, stream.pointee.avail_out > 0 {
                    break
                }
            }
        }
        giveBack(inflater: stream)
        if let failure { throw failure }
        return output
    }

    private static func takeDeflater(windowBits: Int32) -> UnsafeMutablePointer<z_stream>? {
        if let stream = lock.withLock({ pools.deflaters[windowBits]?.popLast() }) { return stream }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // Negative window bits: raw deflate, no zlib header (RFC 7692 §7.2.1).
        guard deflateInit2_(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
        return stream
    }

    private static func takeInflater() -> UnsafeMutablePointer<z_stream>? {
        if let stream = lock.withLock({ pools.inflaters.popLast() }) { return stream }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit2_(stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
        return stream
    }

    private static func giveBack(deflater stream: UnsafeMutablePointer<z_stream>, windowBits: Int32) {
        let kept = deflateReset(stream) == Z_OK && lock.withLock { () -> Bool in
            guard pools.deflaters[windowBits, default: []].count < poolLimit else { return false }
            pools.deflaters[windowBits, default: []].append(stream)
            return true
        }
        if !kept {
            deflateEnd(stream)
            stream.deallocate()
        }
    }

    private static func giveBack(inflater stream: UnsafeMutablePointer<z_stream>) {
        let kept = inflateReset(stream) == Z_OK && lock.withLock { () -> Bool in
            guard pools.inflaters.count < poolLimit else { return false }
            pools.inflaters.append(stream)
            return true
        }
        if !kept {
            inflateEnd(stream)
            stream.deallocate()
        }
    }
}

/// Joins fragmented messages as NIO's aggregator does, keeping the first frame's RSV1 (which
/// marks the whole message compressed, RFC 7692 §6); NIO's drops it. Used on connections that
/// agreed to permessage-deflate.
final class CompressedMessageAggregator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let maxSize: Int
    private let maxFragments: Int
    private var message: (opcode: WebSocketOpcode, compressed: Bool, data: ByteBuffer, fragments: Int)?

    init(maxSize: Int, maxFragments: Int = 1 << 16) {
        self.maxSize = maxSize
        self.maxFragments = maxFragments
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            guard message == nil else { return context.fireErrorCaught(NIOWebSocketFrameAggregator.Error.receivedNewFrameWithoutFinishingPrevious) }
            if frame.fin { return context.fireChannelRead(data) }
            let part = frame.unmaskedData
            guard part.readableBytes <= maxSize else { return context.fireErrorCaught(NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge) }
            message = (frame.opcode, frame.rsv1, part, 1)
        case .continuation:
            guard var current = message else { return context.fireErrorCaught(NIOWebSocketFrameAggregator.Error.didReceiveFragmentBeforeReceivingTextOrBinaryFrame) }
            var part = frame.unmaskedData
            current.fragments += 1
            guard current.data.readableBytes + part.readableBytes <= maxSize else {
                message = nil
                return context.fireErrorCaught(NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge)
            }
            guard current.fragments <= maxFragments else {
                message = nil
                return context.fireErrorCaught(NIOWebSocketFrameAggregator.Error.tooManyFragments)
            }
            current.data.writeBuffer(&part)
            if frame.fin {
                message = nil
                context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, rsv1: current.compressed, opcode: current.opcode, data: current.data)))
            } else {
                message = current
            }
        default:
            // Control frames may come between fragments.
            context.fireChannelRead(data)
        }
    }
}

/// The client side of permessage-deflate, for tools that talk to a server from outside (the
/// benchmark's load generator): the offer a client sends, and the inflation of a message the
/// server sent compressed (RSV1 set). Clients using this send their own messages uncompressed.
public enum PerMessageDeflateClient {
    /// A `Sec-WebSocket-Extensions` offer the server accepts: no context takeover either way.
    public static let offer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

    /// The message a compressed payload holds, or nil when it does not inflate to at most `limit` bytes.
    public static func inflate(_ payload: ByteBuffer, limit: Int) -> ByteBuffer? {
        try? MessageDeflate.inflate(payload, limit: limit)
    }
}
