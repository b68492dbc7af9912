// Replacement for the compliance suites' node-imports.js, copied next to
// test-suite.js by scripts/run-compliance.sh. The original imports node-fetch,
// ws, chai and chai-string from npm; here we use Node's built-in fetch and
// Debian's packages (node-ws, chai) plus the one chai-string assertion the
// suites use (startsWith / startWith).
import dns from "node:dns";
import { createRequire } from "node:module";

// The suites use http://localhost:3000 and our server binds 127.0.0.1.
dns.setDefaultResultOrder("ipv4first");

const require = createRequire(import.meta.url);
const NODE_DIR = process.env.DEBIAN_NODE_DIR || "/usr/share/nodejs";
const WebSocket = require(`${NODE_DIR}/ws`);
const chai = require(`${NODE_DIR}/chai`);

if (typeof globalThis.fetch !== "function") {
  throw new Error("this Node.js has no built-in fetch (need Node 18 or later)");
}

function chaiStartsWith(chaiApi, utils) {
  function startsWith(prefix) {
    const actual = utils.flag(this, "object");
    this.assert(
      typeof actual === "string" && typeof prefix === "string" && actual.startsWith(prefix),
      "expected #{this} to start with #{exp}",
      "expected #{this} not to start with #{exp}",
      prefix,
    );
  }
  chaiApi.Assertion.addMethod("startsWith", startsWith);
  chaiApi.Assertion.addMethod("startWith", startsWith);
}

chai.use(chaiStartsWith);

globalThis.fetch = globalThis.fetch.bind(globalThis);
globalThis.WebSocket = WebSocket.WebSocket || WebSocket;
globalThis.chai = chai;
