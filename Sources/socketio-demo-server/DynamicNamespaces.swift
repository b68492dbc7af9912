import Foundation
import SocketIO

/// Namespaces made on demand: `/dynamic-<digits>` by a pattern (its parent refuses the auth
/// token "bad"), `/tenant-<name>` by a predicate on the name and the auth's `tenant`. The main
/// namespace lists the namespaces (`namespaces`) and emits through the pattern's parent
/// (`emit-children`, optionally to a room).
enum DynamicNamespaces {
    static func mount(_ io: SocketIOServer) throws {
        let numbered = io.of(matching: try NSRegularExpression(pattern: #"^/dynamic-\d+$"#))
        numbered.use { socket in
            if socket.handshake.auth["token"] == "bad" {
                throw ConnectionRefusal("refused by the parent", data: ["nsp": .string(socket.namespace.name)])
            }
        }
        numbered.onConnection { socket in welcome(socket) }

        let tenants = io.of(matching: { name, auth in
            name.hasPrefix("/tenant-") && auth["tenant"]?.stringValue == String(name.dropFirst("/tenant-".count))
        })
        tenants.onConnection { socket in welcome(socket) }

        let main = io.of("/")
        main.onConnection { socket in
            socket.on("namespaces") { event in
                event.ack?(.array(io.allNamespaces.map(\.name).sorted().map { .string($0) }))
            }
            socket.on("emit-children") { event in
                let request = event.args.first ?? .null
                let data = request["data"] ?? .null
                if let room = request["room"]?.stringValue {
                    numbered.to(room).emit("from-parent", data)
                } else {
                    numbered.emit("from-parent", data)
                }
                event.ack?("ok")
            }
        }
    }

    private static func welcome(_ socket: Socket) {
        socket.emit("welcome", ["nsp": .string(socket.namespace.name), "sid": .string(socket.id)])
        socket.on("echo") { event in event.ack?(args: event.args) }
        socket.on("join") { event in
            if let room = event.args.first?.stringValue { socket.join(room) }
            event.ack?(DemoServer.sortedRooms(socket))
        }
    }
}
