import NIOCore
import Testing

@testable import RedisClient

/// Replies found by `make fuzz` (Fuzz/Sources/fuzz-resp).
@Suite("RESP replies found by fuzzing")
struct RESPReaderFuzzRegressionTests {
    /// `*1\r\n*444444441\r\n::+\n`: hiredis allocated 3.5 GB for the inner array's element
    /// pointers as soon as it read its header (libFuzzer: out-of-memory, malloc(3555555528)).
    @Test func anArrayDeclaringMoreElementsThanTheLimitIsRefused() throws {
        let input: [UInt8] = [
            0x2A, 0x31, 0x0D, 0x0A, 0x2A, 0x34, 0x34, 0x34, 0x34, 0x34, 0x34, 0x34, 0x34, 0x31, 0x0D, 0x0A,
            0x3A, 0x3A, 0x2B, 0x0A,
        ]
        let reader = RESPReader()
        try reader.feed(ByteBuffer(bytes: input))
        #expect(throws: RedisError.protocolError("array reply of 444444441 elements, more than \(RESPReader.maximumArrayLength)")) {
            try reader.next()
        }
    }

    /// The positive control: an array of exactly the limit is read as usual, element by element.
    @Test func anArrayOfTheLimitIsRead() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "*\(RESPReader.maximumArrayLength)\r\n"))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBuffer(string: String(repeating: ":1\r\n", count: Int(RESPReader.maximumArrayLength))))
        let reply = try reader.next()
        guard case .array(let items?) = reply else {
            Issue.record("expected an array, got \(String(describing: reply))")
            return
        }
        #expect(items.count == Int(RESPReader.maximumArrayLength))
    }
}
