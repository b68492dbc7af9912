/// A seeded, deterministic generator (SplitMix64) so that randomized tests reproduce exactly.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func bytes(count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) }
    }

    /// Text of `count` scalars drawn from ASCII, Latin-1, BMP and astral ranges, keeping those `allowed` accepts.
    public mutating func text(count: Int, allowed: (Unicode.Scalar) -> Bool = { _ in true }) -> String {
        var scalars = String.UnicodeScalarView()
        while scalars.count < count {
            let value: UInt32
            switch UInt8.random(in: 0..<4, using: &self) {
            case 0, 1: value = UInt32.random(in: 0x00...0x7F, using: &self)
            case 2: value = UInt32.random(in: 0x80...0xFFFF, using: &self)
            default: value = UInt32.random(in: 0x10000...0x10FFFF, using: &self)
            }
            guard let scalar = Unicode.Scalar(value), allowed(scalar) else { continue }
            scalars.append(scalar)
        }
        return String(scalars)
    }
}
