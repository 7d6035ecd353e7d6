// The edge proxy's floor: a minimal JavaScript worker that does what any
// protected route must, and nothing more. It writes one row to the user's
// SQLite Durable Object (the storage floor's, bench/do-write.js; the
// cookies name the user), then forwards the request to the origin and
// returns its response. No identity check, no rules, no signature: nothing
// in ActionGate's protected route can be faster than this on the same
// runtime.
export { Row } from "./do-write.js";

export default {
  async fetch(request, env) {
    const body = await request.arrayBuffer();
    const user = request.headers.get("cookie") ?? "anonymous";
    const recorded = await env.ROWS.get(env.ROWS.idFromName(user)).fetch("https://row/", { method: "POST", body });
    if (!recorded.ok) return new Response("not recorded", { status: 503 });
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search, { method: request.method, headers: request.headers, body });
  },
};
