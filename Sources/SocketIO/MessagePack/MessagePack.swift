import NIOCore

/// MessagePack as the Node.js Redis adapter's default codec (notepack.io 3.0.1) writes and reads it,
/// over ``JSONValue``.
///
/// Broadcasts, BROADCAST requests and BROADCAST_ACK responses travel in this form between Socket.IO
/// instances, so both directions must agree with notepack byte for byte:
///
/// - Writing always picks the smallest format. Whole numbers become integers, other numbers float64,
///   ``JSONValue/binary(_:)`` becomes `bin`, object members keep their order.
/// - Reading accepts every format notepack reads, including its extension types. A timestamp becomes
///   the ISO-8601 string a Node receiver would hand its clients, and `undefined` becomes `null`.
///
/// Decoding is defensive, because anyone who can publish to Redis chooses the bytes. Lengths are
/// checked against the input before anything is allocated, nesting is limited, and every failure is
/// a ``MessagePackError``.
public enum MessagePack {
    /// How many arrays and maps may enclose one another. Well above any Socket.IO packet, and low
    /// enough that hostile input cannot exhaust the stack of the recursive decoder.
    public static let maximumDepth = 256
}
