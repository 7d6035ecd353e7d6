// The storage floor: a minimal JavaScript worker whose every request writes
// one row to a SQLite Durable Object (one per user, as ActionGate does).
// Nothing in ActionGate can be faster than this on the same runtime.
import { DurableObject } from "cloudflare:workers";

export class Row extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data TEXT NOT NULL)");
  }
  async fetch(request) {
    this.ctx.storage.sql.exec("INSERT INTO t (data) VALUES (?)", await request.text());
    return new Response('{"ok":true}', { headers: { "Content-Type": "application/json" } });
  }
}

export default {
  async fetch(request, env) {
    const user = new URL(request.url).pathname.split("/")[3] ?? "anonymous";
    const stub = env.ROWS.get(env.ROWS.idFromName(user));
    return stub.fetch("https://row/", { method: "POST", body: await request.text() });
  },
};
