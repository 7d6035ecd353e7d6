// A stand-in app reached through a service binding (ORIGIN_SERVICE) in the
// end-to-end tests: it answers with what it received, including the
// X-ActionGate-* headers the worker added.
export default {
  async fetch(req) {
    const u = new URL(req.url);
    const headers = Object.fromEntries([...req.headers].filter(([k]) => k.startsWith("x-actiongate-")));
    return Response.json({ via: "service-binding", method: req.method, host: u.host, path: u.pathname + u.search, headers, body: await req.text() });
  },
};
