import CHiredis
import NIOCore

/// RESP parsing by hiredis's reader: bytes in, complete replies out. One per connection;
/// used only on that connection's event loop.
final class RESPReader {
    /// hiredis 0.14 allocates a pointer for every element an array reply declares, before any
    /// element arrives: `*444444441` alone would cost 3.5 GB. Larger counts are a protocol error.
    static let maximumArrayLength: Int32 = 1 << 20

    private let reader: UnsafeMutablePointer<redisReader>
    /// hiredis's reply functions, but for arrays declaring more than ``maximumArrayLength``.
    private let functions: UnsafeMutablePointer<redisReplyObjectFunctions>
    /// The count of the array refused, for the error text (hiredis only says "Out of memory").
    private let refusedLength: UnsafeMutablePointer<Int32>

    init() {
        reader = redisReaderCreate()
        // 0 keeps the read buffer however large it grew, instead of freeing it when idle.
        reader.pointee.maxbuf = 0
        functions = .allocate(capacity: 1)
        functions.initialize(to: reader.pointee.fn.pointee)
        functions.pointee.createArray = { task, elements in
            guard elements <= RESPReader.maximumArrayLength else {
                task?.pointee.privdata?.assumingMemoryBound(to: Int32.self).pointee = elements
                return nil
            }
            return RESPReader.hiredisCreateArray(task, elements)
        }
        reader.pointee.fn = functions
        refusedLength = .allocate(capacity: 1)
        refusedLength.initialize(to: 0)
        reader.pointee.privdata = UnsafeMutableRawPointer(refusedLength)
    }

    deinit {
        redisReaderFree(reader)
        functions.deallocate()
        refusedLength.deallocate()
    }

    private static let hiredisCreateArray: @convention(c) (UnsafePointer<redisReadTask>?, Int32) -> UnsafeMutableRawPointer? = {
        let reader = redisReaderCreate()!
        defer { redisReaderFree(reader) }
        return reader.pointee.fn.pointee.createArray!
    }()

    func feed(_ buffer: ByteBuffer) throws(RedisError) {
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard status == REDIS_OK else { throw .protocolError(errorText()) }
    }

    /// The next complete reply, or nil when more bytes are needed.
    func next() throws(RedisError) -> RESPValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw .protocolError(errorText()) }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.convert(reply.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(value))
        case REDIS_REPLY_STATUS:
            return .simpleString(String(buffer: bytes(value)))
        case REDIS_REPLY_ERROR:
            return .error(String(buffer: bytes(value)))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(value.integer))
        case REDIS_REPLY_NIL:
            return .bulk(nil)
        case REDIS_REPLY_ARRAY:
            var items: [RESPValue] = []
            items.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                if let element = value.element[index] { items.append(convert(element)) }
            }
            return .array(items)
        default:
            return .error("unknown reply type \(value.type)")
        }
    }

    /// Copies `len` bytes from `str`: binary-safe, never `String(cString:)`.
    private static func bytes(_ value: redisReply) -> ByteBuffer {
        guard let pointer = value.str, value.len > 0 else { return ByteBuffer() }
        return ByteBuffer(bytes: UnsafeRawBufferPointer(start: pointer, count: value.len))
    }

    private func errorText() -> String {
        if refusedLength.pointee > 0 {
            return "array reply of \(refusedLength.pointee) elements, more than \(Self.maximumArrayLength)"
        }
        return withUnsafeBytes(of: reader.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// RESP command formatting by hiredis (`redisFormatCommandArgv`), binary-safe.
enum RESPCommand {
    static func format(_ arguments: [[UInt8]], into buffer: inout ByteBuffer) {
        var storage: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.count)
            storage.append(contentsOf: argument)
        }
        storage.append(0)
        storage.withUnsafeBufferPointer { base in
            var pointers: [UnsafePointer<CChar>?] = offsets.map {
                UnsafeRawPointer(base.baseAddress! + $0).assumingMemoryBound(to: CChar.self)
            }
            var target: UnsafeMutablePointer<CChar>?
            let length = redisFormatCommandArgv(&target, Int32(arguments.count), &pointers, lengths)
            defer { redisFreeCommand(target) }
            if let target, length > 0 {
                buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
            }
        }
    }
}
