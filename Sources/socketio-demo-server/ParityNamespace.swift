import Foundation
import NIOConcurrencyHelpers
import SocketIO

/// `/parity`: the parts of Node's server API a client can observe — listeners added and
/// removed, packet middleware, `disconnecting`, acks with deadlines and their failures, joins
/// and emits from namespace middleware. Sockets that join `observers` hear what happens to
/// the others.
enum ParityNamespace {
    struct Unexpected: Error, CustomStringConvertible {
        var description: String { "the handler failed" }
    }

    static func mount(_ namespace: Namespace) {
        let roomEvents = NIOLockedValueBox<[JSONValue]>([])
        namespace.adapter.onRoomEvent { event in
            let entry: JSONValue
            switch event {
            case .created(let room): entry = ["event": "create-room", "room": .string(room)]
            case .deleted(let room): entry = ["event": "delete-room", "room": .string(room)]
            case .joined(let room, let id): entry = ["event": "join-room", "room": .string(room), "id": .string(id)]
            case .left(let room, let id): entry = ["event": "leave-room", "room": .string(room), "id": .string(id)]
            }
            roomEvents.withLockedValue { $0.append(entry) }
        }
        namespace.use { socket in
            // Joins and emits of middleware take effect as the socket is accepted.
            if let room = socket.handshake.auth["room"]?.stringValue { socket.join(room) }
            socket.emit("from-middleware", ["rooms": DemoServer.sortedRooms(socket)])
        }
        namespace.onConnection { socket in
            let log = NIOLockedValueBox<[JSONValue]>([])
            let outgoing = NIOLockedValueBox<[JSONValue]>([])
            let record: @Sendable (String) -> Void = { tag in log.withLockedValue { $0.append(.string(tag)) } }

            socket.emit("welcome", ["sid": .string(socket.id)])
            let anyA = socket.onAny { event in record("any-a:\(event.name)") }
            socket.prependAny { event in record("any-b:\(event.name)") }
            socket.onAnyOutgoing { name, _ in outgoing.withLockedValue { $0.append(.string(name)) } }

            socket.use { event in
                switch event.name {
                case "forbidden": throw PacketRefusal("forbidden event", data: ["event": .string(event.name)])
                case "explode": throw Unexpected()
                default: return
                }
            }
            if socket.handshake.auth["handleErrors"] == true {
                socket.onError { error in socket.emit("handled-error", ["message": .string("\(error)")]) }
            }

            socket.on("log") { event in event.ack?(.array(log.withLockedValue { $0 })) }
            // The adapter's room events naming any of the given strings (socket ids, rooms).
            socket.on("room-events") { event in
                let names = Set(event.args.compactMap(\.stringValue))
                let matching = roomEvents.withLockedValue { $0 }.filter { entry in
                    names.contains(entry["room"]?.stringValue ?? "") || names.contains(entry["id"]?.stringValue ?? "")
                }
                event.ack?(.array(matching))
            }
            socket.on("outgoing-log") { event in event.ack?(.array(outgoing.withLockedValue { $0 })) }
            socket.on("forbidden") { event in event.ack?("handler ran") }
            socket.on("explode") { event in event.ack?("handler ran") }
            socket.once("first") { event in socket.emit("first-seen", args: event.args) }
            let tick = socket.on("tick") { _ in socket.emit("tock") }
            socket.on("off-tick") { event in
                socket.off("tick", tick)
                event.ack?(.number(Double(socket.listenerCount("tick"))))
            }
            socket.on("remove-all-ticks") { event in
                socket.removeAllListeners("tick")
                event.ack?(.number(Double(socket.listenerCount("tick"))))
            }
            socket.on("off-any-a") { event in
                socket.offAny(anyA)
                event.ack?("ok")
            }
            socket.on("off-any") { event in
                socket.offAny()
                event.ack?("ok")
            }
            socket.on("off-any-outgoing") { event in
                socket.offAnyOutgoing()
                event.ack?("ok")
            }
            socket.on("join") { event in
                if let room = event.args.first?.stringValue { socket.join(room) }
                event.ack?(DemoServer.sortedRooms(socket))
            }
            socket.on("leave") { event in
                if let room = event.args.first?.stringValue { socket.leave(room) }
                event.ack?(DemoServer.sortedRooms(socket))
            }
            socket.on("rooms") { event in event.ack?(DemoServer.sortedRooms(socket)) }
            socket.on("to-room") { event in
                guard let room = event.args.first?.stringValue, let name = event.args.dropFirst().first?.stringValue else { return }
                namespace.to(room).emit(name, event.args.dropFirst(2).first ?? .null)
                event.ack?("ok")
            }

            // Acks with deadlines: {timeoutMs, form: "await" | "callback"}.
            socket.on("ask") { event in
                let request = event.args.first ?? .null
                let timeout = Duration.milliseconds(Int64(request["timeoutMs"]?.numberValue ?? 2000))
                let reply: @Sendable (Socket.AckResult) -> Void = { result in
                    switch result {
                    case .success(let answer): event.ack?(["answer": .array(answer)])
                    case .failure(let error): event.ack?(["error": .string("\(error)")])
                    }
                }
                if request["form"] == "callback" {
                    socket.timeout(timeout).emit("question", args: [request["question"] ?? .null], ack: reply)
                } else {
                    do throws(SocketIOError) {
                        reply(.success(try await socket.timeout(timeout).emitWithAck("question", args: [request["question"] ?? .null])))
                    } catch {
                        reply(.failure(error))
                    }
                }
            }
            // Waits up to a minute for an answer; what ended the wait goes to the observers.
            socket.on("ask-and-wait") { event in
                let started = ContinuousClock.now
                event.ack?("asked")
                socket.emit("question", args: ["will you answer?"], timeout: .seconds(60)) { result in
                    let outcome: JSONValue
                    switch result {
                    case .success(let answer): outcome = ["answer": .array(answer)]
                    case .failure(let error): outcome = ["error": .string("\(error)")]
                    }
                    let waited = (ContinuousClock.now - started).milliseconds
                    namespace.to("observers").emit("ack-ended", ["id": .string(socket.id), "outcome": outcome, "waitedMs": .number(Double(waited))])
                }
            }
            // A broadcast with acks to a room: the answers, or the timeout with those that came.
            socket.on("broadcast-ask") { event in
                let request = event.args.first ?? .null
                guard let room = request["room"]?.stringValue else { return }
                let timeout = Duration.milliseconds(Int64(request["timeoutMs"]?.numberValue ?? 1000))
                do throws(AckTimeout) {
                    let responses = try await namespace.to(room).timeout(timeout).emitWithAck("question", args: [request["question"] ?? .null])
                    event.ack?(["responses": .array(responses)])
                } catch {
                    event.ack?(["error": "timeout", "responses": .array(error.responses)])
                }
            }
            // For the handler-concurrency tests: a handler that waits, and one that does not.
            socket.on("slow") { event in
                try? await Task.sleep(for: .milliseconds(Int64(event.args.first?.numberValue ?? 500)))
                event.ack?("slow")
            }
            socket.on("fast") { event in event.ack?("fast") }

            socket.onDisconnecting { reason in
                namespace.to("observers").emit("disconnecting", ["id": .string(socket.id), "rooms": DemoServer.sortedRooms(socket), "reason": .string(reason.rawValue)])
            }
            socket.onDisconnect { reason in
                namespace.to("observers").emit("disconnected", ["id": .string(socket.id), "rooms": DemoServer.sortedRooms(socket), "reason": .string(reason.rawValue)])
            }
        }
    }
}
