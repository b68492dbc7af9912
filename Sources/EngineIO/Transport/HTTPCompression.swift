import CZlib
import Foundation
import NIOCore

/// Node's `httpCompression` option: polling answers over `threshold` bytes are sent gzip- or
/// deflate-encoded when the request's `Accept-Encoding` allows it.
public struct HTTPCompressionOptions: Sendable {
    /// Bodies smaller than this go as they are (Node's default, 1 KiB).
    public var threshold: Int

    public init(threshold: Int = 1024) {
        self.threshold = threshold
    }
}

/// The content codings polling answers can be sent in.
enum ContentCoding: String {
    case gzip
    case deflate

    /// The coding to answer with for an `Accept-Encoding` value: the client's most preferred of
    /// gzip and deflate (gzip on a tie), none when it allows neither (`q=0` refuses one).
    static func preferred(by acceptEncoding: String) -> ContentCoding? {
        var best: (coding: ContentCoding, quality: Double)?
        for item in acceptEncoding.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let name = parts.first?.lowercased() else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.lowercased().hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)) ?? 0
            }
            let codings: [ContentCoding] =
                switch name {
                case "gzip", "x-gzip": [.gzip]
                case "deflate": [.deflate]
                case "*": [.gzip]
                default: []
                }
            for coding in codings where quality > 0 {
                if best == nil || quality > best!.quality || (quality == best!.quality && coding == .gzip && best!.coding != .gzip) {
                    best = (coding, quality)
                }
            }
        }
        return best?.coding
    }

    /// The whole body compressed in one go (zlib's default level, as Node's), or nil if zlib
    /// fails.
    func compress(_ body: ByteBuffer) -> ByteBuffer? {
        var stream = z_stream()
        // gzip: zlib's window with 16 added; deflate: the zlib format (RFC 1950), as Node's createDeflate.
        let windowBits: Int32 = self == .gzip ? MAX_WBITS + 16 : MAX_WBITS
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return nil
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(body.readableBytes))) + 32
        var output = ByteBuffer()
        output.reserveCapacity(bound)
        var finished = false
        body.withUnsafeReadableBytes { input in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                finished = CZlib.deflate(&stream, Z_FINISH) == Z_STREAM_END
                return finished ? out.count - Int(stream.avail_out) : 0
            }
        }
        return finished ? output : nil
    }
}
