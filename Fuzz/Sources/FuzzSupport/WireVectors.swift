/// The MessagePack byte vectors of the Redis adapter wire-format spec (§4.5–4.7, §5.4), as
/// MessagePackSpecVectorTests has them: broadcasts A, B and C, a BROADCAST request, a
/// BROADCAST_ACK response.
public enum WireVectors {
    public static let broadcastA = hexBytes(
        "93a641623378595f83a47479706502a46461746193a463686174a268692aa36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380"
    )
    public static let broadcastB = hexBytes(
        """
        93 a6 41 62 33 78 59 5f 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a4 66 69 6c 65 c4 03 01 02 03 a3 6e 73 70 a1 2f \
        83 a5 72 6f 6f 6d 73 90 a6 65 78 63 65 70 74 91 b4 56 58 4e 30 62 54 5a 35 6f 56 4e 71 62 6d 56 76 41 41 41 42 \
        a5 66 6c 61 67 73 80
        """
    )
    public static let broadcastC = hexBytes(
        "93a7656d697474657283a47479706502a46461746192a46e65777383a161cb3ff8000000000000a26f6bc3a16ec0a36e7370a62f61646d696e83a5726f6f6d7392a27231a27232a5666c61677381a8766f6c6174696c65c3a665786365707490"
    )
    public static let broadcastRequest = hexBytes(
        """
        85 a3 75 69 64 a6 41 62 33 78 59 5f a9 72 65 71 75 65 73 74 49 64 a6 71 39 5a 6b 32 4c a4 74 79 70 65 07 a6 70 \
        61 63 6b 65 74 83 a4 74 79 70 65 02 a4 64 61 74 61 91 a4 70 69 6e 67 a3 6e 73 70 a1 2f a4 6f 70 74 73 83 a5 72 \
        6f 6f 6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 81 a7 74 69 6d 65 6f 75 74 cd 03 e8
        """
    )
    public static let broadcastAck = hexBytes(
        "83 a4 74 79 70 65 09 a9 72 65 71 75 65 73 74 49 64 a6 71 39 5a 6b 32 4c a6 70 61 63 6b 65 74 a4 70 6f 6e 67"
    )

    public static let all = [broadcastA, broadcastB, broadcastC, broadcastRequest, broadcastAck]
}
