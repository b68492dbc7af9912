// Debian's mocha 10 with this Node.js prints "undefined" instead of the
// reporter's check marks (log-symbols resolves to an ESM-only build): restore them.
"use strict";
const Base = require("mocha/lib/reporters/base");
const fallback = { ok: "✓", err: "✖", dot: "․", comma: ",", bang: "!" };
for (const [k, v] of Object.entries(fallback)) {
  if (typeof Base.symbols[k] !== "string") Base.symbols[k] = v;
}
