/// Standard base64 (RFC 4648, with padding), as the polling transport uses for binary packets.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var output = [UInt8]()
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            output.append(alphabet[Int(b0 >> 2)])
            output.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            output.append(b1.map { alphabet[Int(($0 & 0x0F) << 2 | (b2 ?? 0) >> 6)] } ?? UInt8(ascii: "="))
            output.append(b2.map { alphabet[Int($0 & 0x3F)] } ?? UInt8(ascii: "="))
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Returns nil for anything that is not well-formed padded base64.
    static func decode(_ string: String) -> [UInt8]? {
        let input = Array(string.utf8)
        guard input.count % 4 == 0 else { return nil }
        var output = [UInt8]()
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let c0 = reverse[Int(input[index])], c1 = reverse[Int(input[index + 1])]
            let p2 = input[index + 2] == UInt8(ascii: "="), p3 = input[index + 3] == UInt8(ascii: "=")
            guard c0 != 0xFF, c1 != 0xFF else { return nil }
            guard !(p2 || p3) || isLast, !(p2 && !p3) else { return nil }
            let c2 = p2 ? 0 : reverse[Int(input[index + 2])]
            let c3 = p3 ? 0 : reverse[Int(input[index + 3])]
            guard c2 != 0xFF, c3 != 0xFF else { return nil }
            output.append(c0 << 2 | c1 >> 4)
            if !p2 { output.append((c1 & 0x0F) << 4 | c2 >> 2) }
            if !p3 { output.append((c2 & 0x03) << 6 | c3) }
            index += 4
        }
        return output
    }
}
